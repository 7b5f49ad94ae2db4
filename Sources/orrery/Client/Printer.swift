import Foundation
import OrreryCore
#if canImport(Glibc)
import Glibc
#endif

/// How a client command prints: tables sized to the terminal for people, the API's JSON
/// unchanged (`-o json`) or one item per line (`-o jsonl`) for scripts. Colour only when
/// standard output is a terminal and `NO_COLOR` is not set (no-color.org).
struct Printer {
    let format: OutputFormat
    let timeFormat: TimeFormat
    let color: Bool
    /// Columns a table may take; nil when output is not a terminal (nothing is cut).
    let width: Int?

    init(format: OutputFormat, timeFormat: TimeFormat, environment: [String: String]) {
        let terminal = isatty(STDOUT_FILENO) == 1
        self.format = format
        self.timeFormat = timeFormat
        self.color = terminal && (environment["NO_COLOR"] ?? "").isEmpty && environment["TERM"] != "dumb"
        self.width = terminal ? Self.terminalWidth(environment) : nil
    }

    static func terminalWidth(_ environment: [String: String]) -> Int {
        var size = winsize()
        if ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
        return environment["COLUMNS"].flatMap(Int.init) ?? 100
    }

    var isTable: Bool { format == .table }

    /// Prints an answer for scripts: `json` as the server sent it, `jsonl` one item (of a
    /// listing's `items`) or the object per line.
    func printJSON(_ reply: OrreryAPI.Reply) {
        switch format {
        case .json: say(reply.text.hasSuffix("\n") ? String(reply.text.dropLast()) : reply.text)
        case .jsonl, .table: printJSONLines(reply.json)
        }
    }

    func printJSONLines(_ json: JSONValue) {
        if let items = json["items"]?.arrayValue {
            for item in items { say(item.jsonText) }
        } else {
            say(json.jsonText)
        }
    }

    // MARK: Cells

    /// A time as the user chose: `3m ago` / `in 5s`, or RFC 3339; `-` when absent.
    func time(_ value: JSONValue?) -> String {
        guard let text = value?.stringValue else { return "-" }
        guard timeFormat == .relative, let t = Timestamp(rfc3339: text) else { return text }
        let seconds = t.secondsSinceEpoch - Date().timeIntervalSince1970
        let span = Self.span(abs(seconds))
        return abs(seconds) < 1 ? "now" : seconds < 0 ? "\(span) ago" : "in \(span)"
    }

    /// `42s`, `5m`, `3h`, `2d`.
    static func span(_ seconds: Double) -> String {
        switch seconds {
        case ..<60: "\(Int(seconds))s"
        case ..<3_600: "\(Int(seconds / 60))m"
        case ..<86_400: "\(Int(seconds / 3_600))h"
        default: "\(Int(seconds / 86_400))d"
        }
    }

    /// A run's status, coloured on a terminal.
    func status(_ status: String?) -> Cell {
        guard let status else { return Cell("-") }
        let code = switch status {
        case "complete": "32"
        case "failed": "31"
        case "canceled": "33"
        case "active": "36"
        case "skipped": "90"
        default: ""
        }
        return Cell(status, color: color && !code.isEmpty ? code : nil)
    }

    func bold(_ text: String) -> Cell { Cell(text, color: color ? "1" : nil) }

    // MARK: Tables

    /// Prints rows under a header, each column as wide as its widest cell; when the terminal
    /// is narrower, the `flexible` columns are cut (with …) to fit.
    func table(_ headers: [String], _ rows: [[Cell]], flexible: Set<Int> = []) {
        var widths = headers.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.text.count) } }
        if let width {
            var excess = widths.reduce(0, +) + 2 * (widths.count - 1) - width
            for i in flexible.sorted(by: { widths[$0] > widths[$1] }) where excess > 0 {
                let cut = min(excess, max(0, widths[i] - max(8, headers[i].count)))
                widths[i] -= cut
                excess -= cut
            }
        }
        let header = headers.enumerated().map { Cell($0.element, color: color ? "1" : nil).padded(widths[$0.offset], last: $0.offset == headers.count - 1) }
        say(header.joined(separator: "  "))
        for row in rows {
            say(row.enumerated().map { $0.element.padded(widths[$0.offset], last: $0.offset == row.count - 1) }.joined(separator: "  "))
        }
    }

    /// `key: value` lines for one object.
    func fields(_ pairs: [(String, Cell)]) {
        let width = pairs.map(\.0.count).max() ?? 0
        for (key, value) in pairs { say((key + ":").padding(toLength: width + 2, withPad: " ", startingAt: 0) + value.rendered) }
    }
}

/// One table cell: its text, and an ANSI colour applied after padding (so widths hold).
struct Cell: ExpressibleByStringLiteral {
    var text: String
    var color: String?

    init(_ text: String, color: String? = nil) {
        self.text = text.replacingOccurrences(of: "\n", with: " ")
        self.color = color
    }

    init(stringLiteral value: String) { self.init(value) }

    var rendered: String { color.map { "\u{1B}[\($0)m\(text)\u{1B}[0m" } ?? text }

    func padded(_ width: Int, last: Bool) -> String {
        var shown = text
        if shown.count > width { shown = String(shown.prefix(max(0, width - 1))) + "…" }
        if !last { shown = shown.padding(toLength: width, withPad: " ", startingAt: 0) }
        return Cell(shown, color: color).rendered
    }
}
