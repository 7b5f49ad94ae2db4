/// What a cron or calendar schedule restricts, for views that classify schedules by period
/// (Huawei Workspace's DAY / WEEK / MONTH) or show them in 001's structured calendar form.
extension Recurrence {
    /// True when the schedule fires only on some days of the month or in some months.
    public var restrictsDaysOfMonth: Bool { fields.daysOfMonthRestricted || fields.months & 0x1FFE != 0x1FFE }

    /// True when the schedule fires only on some days of the week.
    public var restrictsWeekdays: Bool { fields.weekdaysRestricted }

    /// The schedule as calendar lists (empty: every value; weekdays 0 = Sunday), or nil when
    /// lists cannot say it: a seconds field other than 0, `L`, `W` or `#`, or cron's rule that
    /// a day matching either restricted day field fires (calendar lists need both).
    public var calendarFields: CalendarFields? {
        let f = fields
        guard f.seconds == 1, f.lastDayOffsets.isEmpty, f.nearestWeekdays.isEmpty, !f.lastWeekdayOfMonth,
              f.nthWeekdays.isEmpty, f.lastWeekdays.isEmpty,
              !(f.daysOfMonthRestricted && f.weekdaysRestricted && f.dayMatchesEither)
        else { return nil }
        func list(_ bits: UInt64, _ range: ClosedRange<Int>, restricted: Bool = true) -> [Int] {
            let values = range.filter { bits & (1 << UInt64($0)) != 0 }
            return !restricted || values.count == range.count ? [] : values
        }
        return CalendarFields(
            minutes: list(f.minutes, 0...59), hours: list(UInt64(f.hours), 0...23),
            daysOfMonth: list(UInt64(f.daysOfMonth), 1...31, restricted: f.daysOfMonthRestricted),
            months: list(UInt64(f.months), 1...12),
            weekdays: list(UInt64(f.weekdays), 0...6, restricted: f.weekdaysRestricted))
    }
}
