/// English sentences for cron and calendar schedules: "At 09:00, Monday through Friday
/// (Asia/Shanghai)". Common shapes read naturally; anything else lists its fields.
enum ScheduleDescription {
    static let dayNames = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
    static let monthNames = ["January", "February", "March", "April", "May", "June", "July", "August",
                             "September", "October", "November", "December"]
    static let ordinals = ["first", "second", "third", "fourth", "fifth"]

    static func values(_ bits: UInt64, _ range: ClosedRange<Int>) -> [Int] { range.filter { bits & (1 << UInt64($0)) != 0 } }

    static func pad(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }

    /// A set as a phrase: contiguous runs of three or more become "A through B".
    static func list(_ items: [Int], _ name: (Int) -> String) -> String {
        var runs: [[Int]] = []
        for i in items {
            if let last = runs.last?.last, last + 1 == i { runs[runs.count - 1].append(i) } else { runs.append([i]) }
        }
        let phrases = runs.flatMap { run -> [String] in
            run.count >= 3 ? ["\(name(run.first!)) through \(name(run.last!))"] : run.map(name)
        }
        if phrases.count <= 1 { return phrases.first ?? "" }
        return phrases.dropLast().joined(separator: ", ") + " and " + phrases.last!
    }

    /// The step of an arithmetic set starting at the range's start, if it is one.
    static func step(_ items: [Int], from start: Int, upTo end: Int) -> Int? {
        guard items.count >= 2, items[0] == start else { return nil }
        let s = items[1] - items[0]
        guard s > 1, items.enumerated().allSatisfy({ $0.element == start + $0.offset * s }), items.last! + s > end else { return nil }
        return s
    }

    static func describe(_ f: CronFields, zone: String) -> String {
        let seconds = values(f.seconds, 0...59), minutes = values(f.minutes, 0...59)
        let hours = values(UInt64(f.hours), 0...23)
        var time: String
        if seconds.count == 1, minutes.count == 1, hours.count == 1 {
            time = "At \(pad(hours[0])):\(pad(minutes[0]))" + (seconds[0] == 0 ? "" : ":\(pad(seconds[0]))")
        } else if seconds == [0], minutes.count == 1, hours.count > 1 {
            time = hours.count == 24 ? "At minute \(minutes[0]) past every hour"
                : "At minute \(minutes[0]) past hour \(list(hours) { "\($0)" })"
        } else if seconds == [0], minutes.count > 1, hours.count >= 1 {
            if minutes.count == 60 { time = "Every minute" }
            else if let s = step(minutes, from: 0, upTo: 59) { time = "Every \(s) minutes" }
            else { time = "At minutes \(list(minutes) { "\($0)" })" }
            if hours.count < 24 { time += " during hour \(list(hours) { "\($0)" })" }
        } else if seconds.count == 60, minutes.count == 60, hours.count == 24 {
            time = "Every second"
        } else if seconds.count > 1, minutes.count == 60, hours.count == 24, let s = step(seconds, from: 0, upTo: 59) {
            time = "Every \(s) seconds"
        } else {
            time = "At second \(list(seconds) { "\($0)" }), minute \(list(minutes) { "\($0)" }), hour \(list(hours) { "\($0)" })"
        }
        var days: [String] = []
        if f.daysOfMonthRestricted {
            var parts: [String] = []
            let dom = values(UInt64(f.daysOfMonth), 1...31)
            if !dom.isEmpty { parts.append("on day \(list(dom) { "\($0)" }) of the month") }
            for k in f.lastDayOffsets { parts.append(k == 0 ? "on the last day of the month" : "\(k) days before the last day of the month") }
            for n in f.nearestWeekdays { parts.append("on the weekday nearest day \(n) of the month") }
            if f.lastWeekdayOfMonth { parts.append("on the last weekday of the month") }
            days.append(parts.joined(separator: " and "))
        }
        if f.weekdaysRestricted {
            var parts: [String] = []
            let dow = values(UInt64(f.weekdays), 0...6)
            if !dow.isEmpty {
                // Read Monday first: a week from Monday to Sunday.
                let mondayFirst = dow.map { ($0 + 6) % 7 }.sorted()
                parts.append(list(mondayFirst) { dayNames[($0 + 1) % 7] })
            }
            for (d, n) in f.nthWeekdays { parts.append("on the \(ordinals[n - 1]) \(dayNames[d]) of the month") }
            for d in f.lastWeekdays { parts.append("on the last \(dayNames[d]) of the month") }
            days.append(parts.joined(separator: " and "))
        }
        var text = time
        if !days.isEmpty {
            let joiner = f.daysOfMonthRestricted && f.weekdaysRestricted ? (f.dayMatchesEither ? " or " : " and ") : ""
            let dayText = days.joined(separator: joiner)
            text += dayText.hasPrefix("on ") || dayText.contains("before the last") ? " " + dayText : ", " + dayText
        }
        let months = values(UInt64(f.months), 1...12)
        if months.count < 12 { text += ", in " + list(months) { monthNames[$0 - 1] } }
        return text + " (\(zone))"
    }
}
