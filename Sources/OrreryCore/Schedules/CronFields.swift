/// The sets a cron expression or a calendar schedule matches, as bitmasks, plus the special
/// day rules (`L`, `W`, `#`). Shared by `CronExpression` and `CalendarSpec`.
struct CronFields: Sendable, Hashable {
    var seconds: UInt64 = 1          // bits 0-59
    var minutes: UInt64 = 0          // bits 0-59
    var hours: UInt32 = 0            // bits 0-23
    var daysOfMonth: UInt32 = 0      // bits 1-31
    var months: UInt16 = 0           // bits 1-12
    var weekdays: UInt8 = 0          // bits 0-6, 0 = Sunday
    /// `L` (0) and `L-n` (n): days before the last day of the month.
    var lastDayOffsets: [Int] = []
    /// `nW`: the weekday nearest day n, within the month.
    var nearestWeekdays: [Int] = []
    /// `LW`: the last weekday of the month.
    var lastWeekdayOfMonth = false
    /// `d#n`: the nth weekday d of the month.
    var nthWeekdays: [(weekday: Int, n: Int)] = []
    /// `dL`: the last weekday d of the month.
    var lastWeekdays: [Int] = []
    /// Neither day field restricted, or only one: see `dayMatchesEither`.
    var daysOfMonthRestricted = false
    var weekdaysRestricted = false
    /// Both day fields restricted: cron matches either (Vixie); calendar schedules need both.
    var dayMatchesEither = true
    /// The hour field is unrestricted: the schedule fires more than once an hour and follows
    /// real elapsed time (wall-clock readings) through DST changes.
    var everyHour: Bool { hours == 0xFF_FFFF }

    static func == (a: CronFields, b: CronFields) -> Bool {
        a.seconds == b.seconds && a.minutes == b.minutes && a.hours == b.hours && a.daysOfMonth == b.daysOfMonth
            && a.months == b.months && a.weekdays == b.weekdays && a.lastDayOffsets == b.lastDayOffsets
            && a.nearestWeekdays == b.nearestWeekdays && a.lastWeekdayOfMonth == b.lastWeekdayOfMonth
            && a.nthWeekdays.map { [$0.weekday, $0.n] } == b.nthWeekdays.map { [$0.weekday, $0.n] }
            && a.lastWeekdays == b.lastWeekdays && a.daysOfMonthRestricted == b.daysOfMonthRestricted
            && a.weekdaysRestricted == b.weekdaysRestricted && a.dayMatchesEither == b.dayMatchesEither
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(seconds); hasher.combine(minutes); hasher.combine(hours); hasher.combine(daysOfMonth)
        hasher.combine(months); hasher.combine(weekdays)
    }

    /// The days of month `month` of `year` that match, as bits 1-31.
    func dayMask(year: Int64, month: Int) -> UInt32 {
        let dim = Int(CivilDate.daysInMonth(year: year, month: month))
        let valid: UInt32 = (UInt32.max >> (31 - dim)) & ~1  // bits 1...dim
        let firstWeekday = Int((CivilDate.days(year: year, month: month, day: 1) + 4).floorDivided(by: 7).remainder)  // 1970-01-01 was a Thursday
        var byDay = daysOfMonth
        for k in lastDayOffsets where dim - k >= 1 { byDay |= 1 << UInt32(dim - k) }
        for n in nearestWeekdays where n <= dim {
            let w = (firstWeekday + n - 1) % 7
            var d = n
            if w == 6 { d = n == 1 ? 3 : n - 1 } else if w == 0 { d = n == dim ? n - 2 : n + 1 }
            byDay |= 1 << UInt32(d)
        }
        if lastWeekdayOfMonth {
            let w = (firstWeekday + dim - 1) % 7
            byDay |= 1 << UInt32(w == 6 ? dim - 1 : w == 0 ? dim - 2 : dim)
        }
        var byWeekday: UInt32 = 0
        if weekdays != 0 {
            for d in 1...dim where weekdays & (1 << UInt8((firstWeekday + d - 1) % 7)) != 0 { byWeekday |= 1 << UInt32(d) }
        }
        for (weekday, n) in nthWeekdays {
            let first = 1 + (weekday - firstWeekday + 7) % 7
            let d = first + 7 * (n - 1)
            if d <= dim { byWeekday |= 1 << UInt32(d) }
        }
        for weekday in lastWeekdays {
            let lastW = (firstWeekday + dim - 1) % 7
            byWeekday |= 1 << UInt32(dim - (lastW - weekday + 7) % 7)
        }
        let mask: UInt32
        switch (daysOfMonthRestricted, weekdaysRestricted) {
        case (false, false): mask = valid
        case (true, false): mask = byDay
        case (false, true): mask = byWeekday
        case (true, true): mask = dayMatchesEither ? byDay | byWeekday : byDay & byWeekday
        }
        return mask & valid
    }

    /// The first local date-time (seconds since the epoch, as a wall-clock reading) at or
    /// after `start` that matches, looking at most `years` ahead.
    func nextMatch(atOrAfter start: Int64, years: Int64 = 400) -> Int64? {
        var (days, secondOfDay) = start.floorDivided(by: 86_400)
        var (year, month, day) = CivilDate.fromDays(days)
        var hour = Int(secondOfDay / 3600), minute = Int(secondOfDay / 60 % 60), second = Int(secondOfDay % 60)
        // Never past 9999: RFC 3339 has four-digit years, and instants stay far from overflow.
        let lastYear = min(year + years, 9999)
        while year <= lastYear {
            // Month.
            if months & (1 << UInt16(month)) == 0 {
                let later = months & ~((UInt16(1) << UInt16(month + 1)) - 1)
                if later == 0 {
                    year += 1
                    month = months.trailingZeroBitCount
                } else {
                    month = later.trailingZeroBitCount
                }
                day = 1; hour = 0; minute = 0; second = 0
                continue
            }
            // Day.
            let daysLeft = dayMask(year: year, month: month) & ~((UInt32(1) << UInt32(day)) - 1)
            if daysLeft == 0 {
                month += 1
                if month > 12 { month = 1; year += 1 }
                day = 1; hour = 0; minute = 0; second = 0
                continue
            }
            let nextDay = daysLeft.trailingZeroBitCount
            if nextDay != day { day = nextDay; hour = 0; minute = 0; second = 0 }
            // Hour.
            let hoursLeft = hour > 23 ? 0 : hours & ~((UInt32(1) << UInt32(hour)) - 1)
            if hoursLeft == 0 {
                day += 1; hour = 0; minute = 0; second = 0
                if day > CivilDate.daysInMonth(year: year, month: month) { day = 1; month += 1; if month > 12 { month = 1; year += 1 } }
                continue
            }
            let nextHour = hoursLeft.trailingZeroBitCount
            if nextHour != hour { hour = nextHour; minute = 0; second = 0 }
            // Minute.
            let minutesLeft = minute > 59 ? 0 : minutes & ~((UInt64(1) << UInt64(minute)) - 1)
            if minutesLeft == 0 { hour += 1; minute = 0; second = 0; continue }
            let nextMinute = minutesLeft.trailingZeroBitCount
            if nextMinute != minute { minute = nextMinute; second = 0 }
            // Second.
            let secondsLeft = second > 59 ? 0 : seconds & ~((UInt64(1) << UInt64(second)) - 1)
            if secondsLeft == 0 { minute += 1; second = 0; continue }
            second = secondsLeft.trailingZeroBitCount
            days = CivilDate.days(year: year, month: month, day: day)
            return days * 86_400 + Int64(hour * 3600 + minute * 60 + second)
        }
        return nil
    }
}
