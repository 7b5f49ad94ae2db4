import Foundation
import OrreryCore
import Testing

/// Random daily schedules across real daylight-saving changes in twelve zones (issue 17),
/// checked against SPEC §3's rules rather than a fixed list: every local day fires exactly
/// once; a fire is at the scheduled local time, or — when that time did not exist — at the
/// first instant after the gap; times only increase; the repeated hour of a fall-back never
/// fires twice.
@Suite("Daylight saving: random schedules in twelve zones", .timeLimit(.minutes(5)))
struct CronDSTPropertyTests {
    static let zones = [
        "America/New_York", "America/Chicago", "America/Los_Angeles", "America/Santiago", "America/Havana",
        "Europe/London", "Europe/Berlin", "Europe/Athens", "Australia/Sydney", "Australia/Lord_Howe",
        "Pacific/Auckland", "Pacific/Chatham",
    ]

    /// The zone's daylight-saving changes in 2025 and 2026.
    static func transitions(_ zone: TimeZone) -> [Date] {
        var out: [Date] = []
        var from = Date(timeIntervalSince1970: 1_735_689_600)  // 2025-01-01
        while let next = zone.nextDaylightSavingTimeTransition(after: from), next < Date(timeIntervalSince1970: 1_798_761_600) {
            out.append(next)
            from = next
        }
        return out
    }

    @Test("every local day fires once, at its local time or the first instant after a gap; none twice in a repeated hour")
    func properties() throws {
        var rng = SystemRandomNumberGenerator()
        var checked = 0
        for name in Self.zones {
            let zone = try #require(TimeZone(identifier: name))
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = zone
            let changes = Self.transitions(zone)
            #expect(changes.count >= 2, "\(name) changes twice a year")
            for change in changes {
                for _ in 0..<6 {
                    // Hours around the usual change times, so gaps and repeats are hit often.
                    let hour = [0, 1, 2, 3, 23, Int.random(in: 0...23, using: &rng)].randomElement(using: &rng)!
                    let minute = [0, 15, 30, 45, Int.random(in: 0...59, using: &rng)].randomElement(using: &rng)!
                    let expression = "\(minute) \(hour) * * *"
                    let start = change.addingTimeInterval(-3 * 86_400)
                    let now = Timestamp(secondsSinceEpoch: start.timeIntervalSince1970)
                    let schedule = try Schedule.parse(
                        .object(["type": .string("cron"), "expression": .string(expression), "timezone": .string(name)]), now: now)
                    let fires = schedule.upcoming(after: now, count: 7, createdAt: now).map { Date(timeIntervalSince1970: Double($0.at.microseconds) / 1e6) }
                    let context = "\(expression) in \(name) from \(start)"
                    #expect(fires.count == 7, "\(context)")
                    for (a, b) in zip(fires, fires.dropFirst()) { #expect(a < b, "\(context): \(a) then \(b)") }
                    let days = fires.map { calendar.dateComponents([.year, .month, .day], from: $0) }
                    #expect(Set(days.map { "\($0.year!)-\($0.month!)-\($0.day!)" }).count == 7, "\(context): one fire per local day \(fires)")
                    for fire in fires {
                        let local = calendar.dateComponents([.hour, .minute, .second], from: fire)
                        if local.hour == hour && local.minute == minute && local.second == 0 { continue }
                        // Not at its local time: only allowed when that time did not exist that day,
                        // and then exactly at the end of the gap (the offset changes at this instant).
                        let before = zone.secondsFromGMT(for: fire.addingTimeInterval(-1))
                        #expect(zone.secondsFromGMT(for: fire) > before, "\(context): \(fire) is neither \(hour):\(minute) local nor the end of a gap")
                    }
                    checked += 1
                }
            }
        }
        #expect(checked >= 12 * 2 * 6)
    }
}
