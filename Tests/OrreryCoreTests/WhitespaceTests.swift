import Foundation
import OrreryCore
import Testing

@Suite("Trimming whitespace", .timeLimit(.minutes(1)))
struct WhitespaceTests {
    /// The fast path (nothing to trim) and Foundation's trim must agree on every input, the
    /// non-ASCII spaces Foundation knows included.
    @Test("trims exactly as Foundation's .whitespaces does", arguments: [
        "", " ", "\t", "abc", " abc", "abc ", "  a b  ", "\tabc\t", "\u{00A0}abc", "abc\u{3000}", "\u{2003} x \u{2003}",
        "\nabc", "abc\n", "é", " é ", "~x~", "\u{7F}x",
    ])
    func matchesFoundation(_ text: String) {
        #expect(text.trimmingWhitespace == text.trimmingCharacters(in: .whitespaces))
    }

    @Test("a cron expression with spaces around it, ASCII or not, is the expression")
    func cronWithSpaces() throws {
        let plain = try CronExpression.parse("0 9 * * MON-FRI")
        for text in ["  0 9 * * MON-FRI  ", "\t0 9 * * MON-FRI", "\u{3000}0 9 * * MON-FRI\u{00A0}"] {
            #expect(try CronExpression.parse(text) == plain, "\(text)")
        }
    }
}
