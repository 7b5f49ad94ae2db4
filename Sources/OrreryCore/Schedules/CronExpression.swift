import Foundation

/// A parsed cron expression (SPEC §3): five fields, or six with a leading seconds field;
/// names, lists, ranges, steps, macros, `L`, `W`, `#`, `7` as Sunday. When both the
/// day-of-month and day-of-week fields are restricted, a day matching either fires (Vixie).
public struct CronExpression: Sendable, Hashable {
    public let source: String
    let fields: CronFields

    static let macros: [String: String] = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]
    static let monthNames = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    static let dayNames = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]

    enum Field: Int {
        case second, minute, hour, dayOfMonth, month, dayOfWeek
        var name: String { ["second", "minute", "hour", "day-of-month", "month", "day-of-week"][rawValue] }
        var range: ClosedRange<Int> { [0...59, 0...59, 0...23, 1...31, 1...12, 0...7][rawValue] }
    }

    /// Parses `text`; errors are `OrreryError(.invalidSchedule, …)` such as
    /// `cron field 2 (hour): 24 is out of range 0-23`.
    public static func parse(_ text: String) throws -> CronExpression {
        let trimmed = text.trimmingWhitespace
        let expanded = macros[trimmed.lowercased()] ?? trimmed
        if expanded.hasPrefix("@") {
            throw OrreryError(.invalidSchedule, "unknown macro \"\(trimmed)\" (expected @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)")
        }
        let parts = expanded.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard parts.count == 5 || parts.count == 6 else {
            throw OrreryError(.invalidSchedule, "cron expression must have 5 or 6 fields, not \(parts.count)")
        }
        let kinds: [Field] = parts.count == 6
            ? [.second, .minute, .hour, .dayOfMonth, .month, .dayOfWeek] : [.minute, .hour, .dayOfMonth, .month, .dayOfWeek]
        var fields = CronFields()
        for (i, (part, kind)) in zip(parts, kinds).enumerated() {
            try parseField(part.uppercased(), kind, number: i + 1, into: &fields)
        }
        return CronExpression(source: trimmed, fields: fields)
    }

    private static func parseField(_ text: String, _ kind: Field, number: Int, into fields: inout CronFields) throws {
        func fail(_ reason: String) -> OrreryError {
            OrreryError(.invalidSchedule, "cron field \(number) (\(kind.name)): \(reason)")
        }
        func value(_ token: Substring) throws -> Int {
            if let n = Int(token) {
                guard kind.range.contains(n) else {
                    throw fail("\(n) is out of range \(kind.range.lowerBound)-\(kind.range.upperBound)")
                }
                return kind == .dayOfWeek ? n % 7 : n
            }
            if token.isEmpty { throw fail("empty value") }
            throw fail(token.allSatisfy(\.isLetter) ? "unknown name \"\(token)\"" : "\"\(token)\" is not a number")
        }
        var bits: UInt64 = 0
        let wildcard = text == "*" || text == "?"
        if text.contains("?") && !wildcard { throw fail("\"?\" must stand alone") }
        if text == "?" && kind != .dayOfMonth && kind != .dayOfWeek { throw fail("\"?\" is only allowed in day-of-month and day-of-week") }
        for rawItem in text.split(separator: ",", omittingEmptySubsequences: false) {
            if rawItem.isEmpty { throw fail("empty list item") }
            // Names first (JUL contains an L, WED a W), then the specials can be told apart.
            let item = Substring(substituteNames(rawItem, kind))
            // Specials: L, L-n, nW, LW in day-of-month; dL and d#n in day-of-week.
            let words = item.split(whereSeparator: { !$0.isLetter })
            let onlySpecialLetters = words.allSatisfy { ["L", "W", "LW"].contains($0) }
            if item.contains("#") || (!words.isEmpty && onlySpecialLetters) {
                guard kind == .dayOfMonth || kind == .dayOfWeek else {
                    let letter = item.contains("L") ? "L" : item.contains("W") ? "W" : "#"
                    throw OrreryError(.invalidSchedule, "\"\(letter)\" is only allowed in day-of-month and day-of-week")
                }
                if kind == .dayOfMonth, let special = try daySpecial(item, fail) {
                    switch special {
                    case .last(let offset): fields.lastDayOffsets.append(offset)
                    case .nearest(let day): fields.nearestWeekdays.append(day)
                    case .lastWeekday: fields.lastWeekdayOfMonth = true
                    }
                    continue
                }
                if kind == .dayOfWeek {
                    if item.hasSuffix("L"), item.count > 1, !item.contains("#") {
                        fields.lastWeekdays.append(try value(item.dropLast()))
                        continue
                    }
                    let pieces = item.split(separator: "#", omittingEmptySubsequences: false)
                    if pieces.count == 2 {
                        guard let n = Int(pieces[1]), (1...5).contains(n) else { throw fail("\"#\(pieces[1])\" must be #1 to #5") }
                        fields.nthWeekdays.append((try value(pieces[0]), n))
                        continue
                    }
                }
                throw fail("\"\(item)\" is not a valid \(kind.name) value")
            }
            let stepParts = item.split(separator: "/", omittingEmptySubsequences: false)
            guard stepParts.count <= 2 else { throw fail("\"\(item)\" has more than one step") }
            var step = 1
            if stepParts.count == 2 {
                guard let s = Int(stepParts[1]) else { throw fail("step \"\(stepParts[1])\" is not a number") }
                guard s > 0 else { throw fail("step 0 is not allowed") }
                step = s
            }
            let rangeText = stepParts[0]
            var low: Int, high: Int
            if rangeText == "*" || rangeText == "?" {
                low = kind.range.lowerBound
                high = kind == .dayOfWeek ? 6 : kind.range.upperBound
            } else {
                let ends = rangeText.split(separator: "-", omittingEmptySubsequences: false)
                guard ends.count <= 2 else { throw fail("\"\(rangeText)\" is not a range") }
                low = try value(ends[0])
                if ends.count == 2 {
                    high = try value(ends[1])
                    if kind == .dayOfWeek && high == 0 && low > 0 { high = 7 }  // MON-7, MON-SUN: through Sunday
                    guard low <= high else { throw fail("range \(rangeText) is backwards") }
                } else {
                    high = stepParts.count == 2 ? (kind == .dayOfWeek ? 6 : kind.range.upperBound) : low
                }
            }
            var v = low
            while v <= high {
                bits |= 1 << UInt64(kind == .dayOfWeek ? v % 7 : v)
                v += step
            }
        }
        switch kind {
        case .second: fields.seconds = bits
        case .minute: fields.minutes = bits
        case .hour: fields.hours = UInt32(bits)
        case .dayOfMonth:
            fields.daysOfMonth = UInt32(bits)
            fields.daysOfMonthRestricted = !wildcard
        case .month: fields.months = UInt16(bits)
        case .dayOfWeek:
            fields.weekdays = UInt8(bits)
            fields.weekdaysRestricted = !wildcard
        }
    }

    /// Replaces whole three-letter names (JUL, WED) by their numbers; other letter runs
    /// (`L`, `W`, `LW`, unknown words) stay, to be read as specials or reported by name.
    private static func substituteNames(_ item: Substring, _ kind: Field) -> String {
        let names = kind == .month ? monthNames : kind == .dayOfWeek ? dayNames : []
        guard !names.isEmpty else { return String(item) }
        var out = "", word = ""
        func flush() {
            if let i = names.firstIndex(of: word) { out += String(kind == .month ? i + 1 : i) } else { out += word }
            word = ""
        }
        for ch in item {
            if ch.isLetter { word.append(ch) } else { flush(); out.append(ch) }
        }
        flush()
        return out
    }

    private enum DaySpecial { case last(Int), nearest(Int), lastWeekday }

    private static func daySpecial(_ item: Substring, _ fail: (String) -> OrreryError) throws -> DaySpecial? {
        if item == "L" { return .last(0) }
        if item == "LW" { return .lastWeekday }
        if item.hasPrefix("L-") {
            guard let n = Int(item.dropFirst(2)), (0...30).contains(n) else { throw fail("\"\(item)\" must be L-0 to L-30") }
            return .last(n)
        }
        if item.hasSuffix("W") {
            guard let n = Int(item.dropLast()), (1...31).contains(n) else { throw fail("\"\(item)\" must be 1W to 31W") }
            return .nearest(n)
        }
        if item.contains("#") { throw fail("\"#\" is only allowed in day-of-week") }
        return nil
    }

    /// True when the hour field is `*`: the schedule fires more than once an hour.
    public var firesMoreThanOnceAnHour: Bool { fields.everyHour }
}

