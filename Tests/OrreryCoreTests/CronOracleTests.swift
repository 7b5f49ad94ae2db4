import Foundation
import OrreryCore
import OrreryTesting
import Testing

/// Our next fire times against Python's croniter, an independent implementation, for
/// thousands of random expressions and start instants (issue #3). `scripts/test` installs
/// croniter in a throwaway virtual environment and sets ORRERY_CRONITER_PYTHON.
///
/// Generated syntax is what both implement identically: numbers, names, ranges, steps and
/// lists, five or six fields. Deliberately not generated:
/// - `L`, `W`, `#` and `?`: croniter's support differs (no `W`; `L` in day-of-week means
///   something else); they are covered by `CronSyntaxTests` with hand-checked answers.
/// - Ranges whose ends are equal (`16-16`, `4-THU`): croniter 7 expands them to far more
///   than the one value (it fired `11-11/3` in July); Orrery reads them as the one value.
/// - A day field that is a step over `*` (`*/2`) while the other day field is restricted:
///   Vixie cron counts such a field as `*` for the either-or rule, croniter and Orrery
///   count it as restricted; the rule is ambiguous in practice, so the oracle stays out.
/// Without CI a missing croniter skips this suite; with `CI=true` it runs and fails.
@Suite("Cron oracle (croniter)", .enabled(if: CronOracle.onCI || CronOracle.python != nil,
                                         "set ORRERY_CRONITER_PYTHON to a python with croniter (scripts/test does; CI=true fails without it)"))
struct CronOracleTests {
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static func field(_ range: ClosedRange<Int>, _ rng: inout SplitMix, names: [String] = [], restrictedOnly: Bool = false) -> String {
        func value(_ v: Int) -> String {
            if !names.isEmpty && Bool.random(using: &rng) { return names[v - range.lowerBound] }
            return String(v)
        }
        let kind = Int.random(in: restrictedOnly ? 1...5 : 0...5, using: &rng)
        switch kind {
        case 0: return "*"
        case 1: return value(Int.random(in: range, using: &rng))
        case 2:
            let a = Int.random(in: range.lowerBound...(range.upperBound - 1), using: &rng)
            let b = Int.random(in: (a + 1)...range.upperBound, using: &rng)
            return "\(value(a))-\(value(b))"
        case 3 where !restrictedOnly:
            return "*/\(Int.random(in: 2...max(2, range.count / 2), using: &rng))"
        case 4:
            let a = Int.random(in: range.lowerBound...(range.upperBound - 1), using: &rng)
            let b = Int.random(in: (a + 1)...range.upperBound, using: &rng)
            return "\(a)-\(b)/\(Int.random(in: 1...4, using: &rng))"
        default:
            let picks = Set((0..<Int.random(in: 2...4, using: &rng)).map { _ in Int.random(in: range, using: &rng) }).sorted()
            return picks.map(value).joined(separator: ",")
        }
    }

    static func expression(_ rng: inout SplitMix) -> String {
        let seconds = Int.random(in: 0..<5, using: &rng) == 0 ? [field(0...59, &rng)] : []
        let minute = field(0...59, &rng), hour = field(0...23, &rng)
        var dom = field(1...28, &rng)
        let month = field(1...12, &rng, names: ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"])
        var dow = field(0...6, &rng, names: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])
        if dom.hasPrefix("*/") && dow != "*" { dom = field(1...28, &rng, restrictedOnly: true) }
        if dow.hasPrefix("*/") && dom != "*" { dow = field(0...6, &rng, restrictedOnly: true) }
        return (seconds + [minute, hour, dom, month, dow]).joined(separator: " ")
    }

    @Test("thousands of random expressions fire exactly when croniter says", .timeLimit(.minutes(3)))
    func matchesCroniter() throws {
        var rng = SplitMix(state: 20_261_124)
        let zones = ["UTC", "UTC", "UTC", "Asia/Kathmandu", "Asia/Shanghai"]  // zones without DST today
        var cases: [(expr: String, tz: String, start: Int64)] = []
        for _ in 0..<3000 {
            let start = Int64.random(in: 946_684_800...1_893_456_000, using: &rng)  // 2000-2030
            cases.append((Self.expression(&rng), zones.randomElement(using: &rng)!, start))
        }
        let input = JSONValue.array(cases.map {
            .object(["expr": .string($0.expr), "tz": .string($0.tz), "start": .int($0.start), "count": .int(5)])
        }).jsonText
        let python = try #require(CronOracle.python, "ORRERY_CRONITER_PYTHON is not set: scripts/test installs croniter (CI=true fails without it)")
        try #require(FileManager.default.isExecutableFile(atPath: python), "ORRERY_CRONITER_PYTHON=\(python) is not executable")
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/cron_oracle.py").path
        let oracle = try ChildProcess.run(python, [script], input: Array(input.utf8), passErrors: true)
        #expect(oracle.status == 0)
        let expected = try JSONValue.parse(Array(oracle.output.utf8)).arrayValue ?? []
        try #require(expected.count == cases.count)
        var mismatches = 0
        for (c, oracle) in zip(cases, expected) {
            let recurrence = try Recurrence(cron: try CronExpression.parse(c.expr), zone: try #require(ZoneRules.named(c.tz)))
            var t = Timestamp(seconds: c.start)
            var ours: [JSONValue] = []
            for _ in 0..<5 {
                guard let next = recurrence.nextFire(after: t) else { break }
                ours.append(.int(next.microseconds / 1_000_000))
                t = next
            }
            if ours != oracle.arrayValue {
                mismatches += 1
                if mismatches <= 5 { Issue.record("\(c.expr) in \(c.tz) from \(c.start): ours \(ours), croniter \(oracle)") }
            }
        }
        #expect(mismatches == 0, "\(mismatches) of \(cases.count) expressions disagree")
    }
}

/// Where croniter is (OrreryCoreTests does not link OrreryTesting's `Prerequisite`).
enum CronOracle {
    static var python: String? { ProcessInfo.processInfo.environment["ORRERY_CRONITER_PYTHON"].flatMap { $0.isEmpty ? nil : $0 } }
    static var onCI: Bool { ["1", "true", "yes"].contains(ProcessInfo.processInfo.environment["CI"]?.lowercased() ?? "") }
}
