/// How a schedule treats local times that daylight saving skips or repeats (SPEC §3).
public struct DSTPolicy: Sendable, Hashable {
    public enum Gap: String, Sendable { case shift, skip }
    public enum Overlap: String, Sendable { case first, last, both }
    /// `shift` (default): a skipped local time fires once, at the first instant after the gap.
    public var gap: Gap
    /// `first` (default): a repeated local time fires once, at its first occurrence.
    public var overlap: Overlap
    public init(gap: Gap = .shift, overlap: Overlap = .first) {
        self.gap = gap
        self.overlap = overlap
    }
}

/// A cron or calendar schedule bound to a time zone and a DST policy: the thing that
/// answers "when next", exactly, through every daylight-saving change.
///
/// It searches local wall-clock readings that match, maps each to the instants that show
/// it (none in a spring-forward gap, two in a fall-back overlap), and keeps the earliest
/// instant after the given one. A schedule whose hour field is unrestricted fires on every
/// matching reading the wall clock actually shows (real elapsed time: both occurrences in
/// an overlap, nothing in a gap); others follow `DSTPolicy`.
public struct Recurrence: Sendable, Hashable {
    let fields: CronFields
    public let zone: ZoneRules
    public let dst: DSTPolicy
    let label: String

    public init(cron: CronExpression, zone: ZoneRules, dst: DSTPolicy = DSTPolicy()) throws {
        try self.init(fields: cron.fields, zone: zone, dst: dst, label: "cron \"\(cron.source)\"")
    }

    public init(calendar: CalendarSpec, zone: ZoneRules, dst: DSTPolicy = DSTPolicy()) throws {
        try self.init(fields: calendar.fields, zone: zone, dst: dst, label: "calendar")
    }

    init(fields: CronFields, zone: ZoneRules, dst: DSTPolicy, label: String) throws {
        self.fields = fields
        self.zone = zone
        self.dst = dst
        self.label = label
        // Any valid month/day combination recurs within 400 years (the Gregorian cycle).
        guard fields.nextMatch(atOrAfter: CivilDate.days(year: 2000, month: 1, day: 1) * 86_400) != nil else {
            throw OrreryError(.invalidSchedule, "schedule can never fire")
        }
    }

    /// The first fire instant strictly after `after`.
    public func nextFire(after: Timestamp) -> Timestamp? {
        let afterSecond = after.microseconds.floorDivided(by: 1_000_000).quotient  // instants are whole seconds
        let frequent = fields.everyHour
        var local = afterSecond + 1 + Int64(zone.minOffset(near: afterSecond))
        let maxOffset = Int64(zone.maxOffset(near: afterSecond))
        var best: Int64?
        for _ in 0..<100_000 {
            guard let candidate = fields.nextMatch(atOrAfter: local) else { break }
            if let best, candidate - maxOffset > best { break }
            let (instants, gapEnd) = zone.instants(ofLocal: candidate)
            var chosen: [Int64] = instants
            if instants.count == 2 && !frequent {
                switch dst.overlap {
                case .first: chosen = [instants[0]]
                case .last: chosen = [instants[1]]
                case .both: break
                }
            }
            if instants.isEmpty, !frequent, dst.gap == .shift, let gapEnd { chosen = [gapEnd] }
            for t in chosen where t > afterSecond && (best == nil || t < best!) { best = t }
            local = candidate + 1
        }
        return best.map { Timestamp(seconds: $0) }
    }

    public var description: String { ScheduleDescription.describe(fields, zone: zone.identifier) }
}

/// A calendar schedule (001's structured form; Huawei DAY/WEEK/MONTH map onto it): lists of
/// minutes, hours, days of month, months and weekdays, an empty list meaning every value.
/// When both days of month and weekdays are given, a day must match both (calendar
/// semantics, unlike cron's either-or).
public struct CalendarSpec: Sendable, Hashable {
    let fields: CronFields

    public init(minutes: [Int], hours: [Int], daysOfMonth: [Int], months: [Int], weekdays: [Int]) throws {
        func bits(_ list: [Int], _ name: String, _ range: ClosedRange<Int>) throws -> UInt64 {
            if list.isEmpty { return range.reduce(0) { $0 | (1 << UInt64($1)) } }
            var b: UInt64 = 0
            for v in list {
                guard range.contains(v) else {
                    throw OrreryError(.invalidSchedule, "\(name): \(v) is out of range \(range.lowerBound)-\(range.upperBound)")
                }
                b |= 1 << UInt64(v)
            }
            return b
        }
        var f = CronFields()
        f.seconds = 1
        f.minutes = try bits(minutes, "minutes", 0...59)
        f.hours = UInt32(try bits(hours, "hours", 0...23))
        f.daysOfMonth = UInt32(try bits(daysOfMonth, "days_of_month", 1...31))
        f.months = UInt16(try bits(months, "months", 1...12))
        f.weekdays = UInt8(try bits(weekdays.map { $0 % 7 }, "weekdays", 0...6))
        f.daysOfMonthRestricted = !daysOfMonth.isEmpty
        f.weekdaysRestricted = !weekdays.isEmpty
        f.dayMatchesEither = false
        fields = f
    }

    /// "monday", "Mon", "MONDAY" → 1; "sunday" → 0.
    public static func weekday(named name: String) -> Int? {
        let lower = name.lowercased()
        let names = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
        return names.firstIndex { $0 == lower || (lower.count == 3 && $0.hasPrefix(lower)) }
    }
}
