/// An instant in UTC with microsecond precision, stored as microseconds since the Unix epoch.
///
/// Orrery keeps its own type rather than `Date` so that store columns are plain integers
/// (cheap to index and compare) and so that the API's RFC 3339 form is exact and fast.
public struct Timestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var microseconds: Int64

    public init(microseconds: Int64) { self.microseconds = microseconds }
    public init(seconds: Int64) { self.microseconds = seconds * 1_000_000 }
    public init(secondsSinceEpoch: Double) { self.microseconds = Int64((secondsSinceEpoch * 1_000_000).rounded()) }

    public static let epoch = Timestamp(microseconds: 0)

    public var secondsSinceEpoch: Double { Double(microseconds) / 1_000_000 }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.microseconds < rhs.microseconds }

    public func adding(seconds: Int64) -> Timestamp { Timestamp(microseconds: microseconds + seconds * 1_000_000) }
    public func adding(microseconds delta: Int64) -> Timestamp { Timestamp(microseconds: microseconds + delta) }
    public func adding(_ duration: Duration) -> Timestamp { adding(microseconds: duration.microseconds) }

    /// The time from `other` to `self` (positive when `self` is later).
    public func duration(since other: Timestamp) -> Duration { .microseconds(microseconds - other.microseconds) }

    public var description: String { rfc3339 }

    /// The API shows milliseconds; values that round-trip through it are kept at that precision.
    public var truncatedToMilliseconds: Timestamp {
        Timestamp(microseconds: microseconds.floorDivided(by: 1_000).quotient * 1_000)
    }
}

extension Duration {
    /// Whole microseconds in this duration (rounded toward zero).
    public var microseconds: Int64 {
        let parts = components
        return parts.seconds * 1_000_000 + parts.attoseconds / 1_000_000_000_000
    }
}

// MARK: - RFC 3339

extension Timestamp {
    /// `2026-12-01T09:00:00.000Z`: UTC, always with milliseconds, as the API's Appendix A says.
    public var rfc3339: String {
        let (days, microOfDay) = microseconds.floorDivided(by: 86_400_000_000)
        let (y, m, d) = CivilDate.fromDays(days)
        let secondsOfDay = microOfDay / 1_000_000
        let millis = (microOfDay % 1_000_000) / 1_000
        // Years outside 0...9999 (only arithmetic makes them) as `pad` writes them.
        let year = (0...9999).contains(y) ? nil : Array(pad(y, 4).utf8)
        let t = year?.count ?? 4
        // Written as bytes into the string's own storage: every record a response holds has
        // two to five of these (issue 16, GET by id).
        return String(unsafeUninitializedCapacity: t + 20) { b in
            func digits(_ value: Int64, _ width: Int, at start: Int) {
                var v = value
                for i in stride(from: start + width - 1, through: start, by: -1) {
                    b[i] = UInt8(ascii: "0") + UInt8(v % 10)
                    v /= 10
                }
            }
            if let year { _ = b.initialize(from: year) } else { digits(y, 4, at: 0) }
            b[t] = UInt8(ascii: "-"); digits(Int64(m), 2, at: t + 1); b[t + 3] = UInt8(ascii: "-")
            digits(Int64(d), 2, at: t + 4); b[t + 6] = UInt8(ascii: "T"); digits(secondsOfDay / 3600, 2, at: t + 7)
            b[t + 9] = UInt8(ascii: ":"); digits(secondsOfDay / 60 % 60, 2, at: t + 10); b[t + 12] = UInt8(ascii: ":")
            digits(secondsOfDay % 60, 2, at: t + 13); b[t + 15] = UInt8(ascii: "."); digits(millis, 3, at: t + 16)
            b[t + 19] = UInt8(ascii: "Z")
            return t + 20
        }
    }

    /// The local wall-clock reading at `offsetSeconds` from UTC, as RFC 3339 with that offset:
    /// `2026-12-01T09:00:00+08:00` (milliseconds only when not zero).
    public func rfc3339(offsetSeconds: Int) -> String {
        let local = microseconds + Int64(offsetSeconds) * 1_000_000
        let (days, microOfDay) = local.floorDivided(by: 86_400_000_000)
        let (y, m, d) = CivilDate.fromDays(days)
        let secondsOfDay = microOfDay / 1_000_000
        let millis = (microOfDay % 1_000_000) / 1_000
        var out = pad(y, 4) + "-" + pad(Int64(m), 2) + "-" + pad(Int64(d), 2) + "T" + pad(secondsOfDay / 3600, 2)
        out += ":" + pad(secondsOfDay / 60 % 60, 2) + ":" + pad(secondsOfDay % 60, 2)
        if millis != 0 { out += "." + pad(millis, 3) }
        if offsetSeconds == 0 { return out + "Z" }
        let sign = offsetSeconds < 0 ? "-" : "+"
        let magnitude = Int64(abs(offsetSeconds))
        return out + sign + pad(magnitude / 3600, 2) + ":" + pad(magnitude / 60 % 60, 2)
    }

    /// Parses RFC 3339 (`2026-12-01T09:00:00Z`, `…T09:00:00.123456+08:00`); `nil` if malformed.
    public init?(rfc3339 text: String) {
        var p = Scanner8(Array(text.utf8))
        guard let year = p.digits(4), p.take(UInt8(ascii: "-")),
              let month = p.digits(2), p.take(UInt8(ascii: "-")),
              let day = p.digits(2), p.takeAny([UInt8(ascii: "T"), UInt8(ascii: "t"), UInt8(ascii: " ")]),
              let hour = p.digits(2), p.take(UInt8(ascii: ":")),
              let minute = p.digits(2), p.take(UInt8(ascii: ":")),
              let second = p.digits(2)
        else { return nil }
        guard (1...12).contains(month), day >= 1, day <= CivilDate.daysInMonth(year: year, month: Int(month)),
              hour < 24, minute < 60, second < 61 else { return nil }
        var micros: Int64 = 0
        if p.take(UInt8(ascii: ".")) {
            var scale: Int64 = 100_000
            var count = 0
            while let digit = p.digit() {
                micros += Int64(digit) * scale
                scale /= 10
                count += 1
            }
            guard count > 0 else { return nil }
        }
        var offsetSeconds: Int64 = 0
        if p.takeAny([UInt8(ascii: "Z"), UInt8(ascii: "z")]) {
        } else if let sign = p.peek(), sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
            _ = p.next()
            guard let oh = p.digits(2), p.take(UInt8(ascii: ":")), let om = p.digits(2), oh < 24, om < 60 else { return nil }
            offsetSeconds = (oh * 3600 + om * 60) * (sign == UInt8(ascii: "-") ? -1 : 1)
        } else {
            return nil
        }
        guard p.atEnd else { return nil }
        let days = CivilDate.days(year: year, month: Int(month), day: Int(day))
        let secs = days * 86_400 + hour * 3600 + minute * 60 + min(second, 59) - offsetSeconds
        self.microseconds = secs * 1_000_000 + micros
    }
}

private func pad(_ value: Int64, _ width: Int) -> String {
    let s = String(value)
    return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
}

extension Int64 {
    /// Division rounding toward negative infinity, with a non-negative remainder.
    func floorDivided(by divisor: Int64) -> (quotient: Int64, remainder: Int64) {
        var q = self / divisor
        var r = self % divisor
        if r < 0 { q -= 1; r += divisor }
        return (q, r)
    }
}

/// Proleptic Gregorian calendar arithmetic on day numbers (days since 1970-01-01),
/// after Howard Hinnant's `days_from_civil` and `civil_from_days`.
public enum CivilDate {
    public static func days(year: Int64, month: Int, day: Int) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = Int64((month + 9) % 12)
        let doy = (153 * mp + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    public static func fromDays(_ days: Int64) -> (year: Int64, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = Int(doy - (153 * mp + 2) / 5 + 1)
        let m = Int(mp < 10 ? mp + 3 : mp - 9)
        return (m <= 2 ? y + 1 : y, m, d)
    }

    public static func isLeap(_ year: Int64) -> Bool { (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 }

    public static func daysInMonth(year: Int64, month: Int) -> Int64 {
        switch month {
        case 2: return isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }
}

/// A tiny byte scanner for the fixed-format parsers in this module.
struct Scanner8 {
    let bytes: [UInt8]
    var index = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    var atEnd: Bool { index == bytes.count }
    func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }
    mutating func next() -> UInt8? { defer { index += 1 }; return peek() }
    mutating func take(_ byte: UInt8) -> Bool {
        guard peek() == byte else { return false }
        index += 1
        return true
    }
    mutating func takeAny(_ options: [UInt8]) -> Bool {
        guard let b = peek(), options.contains(b) else { return false }
        index += 1
        return true
    }
    mutating func digit() -> Int? {
        guard let b = peek(), b >= 48, b <= 57 else { return nil }
        index += 1
        return Int(b - 48)
    }
    mutating func digits(_ count: Int) -> Int64? {
        var value: Int64 = 0
        for _ in 0..<count {
            guard let d = digit() else { return nil }
            value = value * 10 + Int64(d)
        }
        return value
    }
}
