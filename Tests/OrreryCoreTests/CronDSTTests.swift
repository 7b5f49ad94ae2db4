import OrreryCore
import Testing

/// Daylight saving and odd offsets on real zones (SPEC §3). Expected instants were checked
/// against Python's zoneinfo.
@Suite("Time zones and daylight saving", .timeLimit(.minutes(5)))
struct CronDSTTests {
    func fires(_ expression: String, _ tz: String, from: String, count: Int = 3, dst: DSTPolicy = DSTPolicy()) throws -> [String] {
        try CronSyntaxTests.fires(expression, from: from, count: count, tz: tz, dst: dst)
    }

    @Test("New York spring forward: 02:30 does not exist, it fires once at 03:00 EDT (07:00Z), not 03:30")
    func newYorkGap() throws {
        #expect(try fires("30 2 * * *", "America/New_York", from: "2025-03-08T12:00:00Z")
            == ["2025-03-09T07:00:00.000Z", "2025-03-10T06:30:00.000Z", "2025-03-11T06:30:00.000Z"])
        #expect(try fires("30 2 * * *", "America/New_York", from: "2025-03-08T12:00:00Z", count: 1, dst: DSTPolicy(gap: .skip))
            == ["2025-03-10T06:30:00.000Z"], "dst.gap skip")
    }

    @Test("New York fall back: 01:30 happens twice; it fires at the first unless the schedule says otherwise")
    func newYorkOverlap() throws {
        #expect(try fires("30 1 * * *", "America/New_York", from: "2025-11-01T12:00:00Z", count: 2)
            == ["2025-11-02T05:30:00.000Z", "2025-11-03T06:30:00.000Z"])
        #expect(try fires("30 1 * * *", "America/New_York", from: "2025-11-01T12:00:00Z", count: 1, dst: DSTPolicy(overlap: .last))
            == ["2025-11-02T06:30:00.000Z"])
        #expect(try fires("30 1 * * *", "America/New_York", from: "2025-11-01T12:00:00Z", count: 3, dst: DSTPolicy(overlap: .both))
            == ["2025-11-02T05:30:00.000Z", "2025-11-02T06:30:00.000Z", "2025-11-03T06:30:00.000Z"])
    }

    @Test("a schedule firing more than once an hour follows real elapsed time through both changes")
    func frequentFollowsElapsedTime() throws {
        #expect(try fires("*/30 * * * *", "America/New_York", from: "2025-11-02T04:45:00Z", count: 5)
            == ["2025-11-02T05:00:00.000Z", "2025-11-02T05:30:00.000Z", "2025-11-02T06:00:00.000Z",
                "2025-11-02T06:30:00.000Z", "2025-11-02T07:00:00.000Z"], "both 01:00 and 01:30, twice")
        #expect(try fires("*/30 * * * *", "America/New_York", from: "2025-03-09T06:00:00Z", count: 3)
            == ["2025-03-09T06:30:00.000Z", "2025-03-09T07:00:00.000Z", "2025-03-09T07:30:00.000Z"], "no 02:xx readings, no gap")
    }

    @Test("Berlin: the gap shifts to 03:00 CEST; the repeated 02:30 fires at its first occurrence")
    func berlin() throws {
        #expect(try fires("30 2 * * *", "Europe/Berlin", from: "2025-03-29T12:00:00Z", count: 2)
            == ["2025-03-30T01:00:00.000Z", "2025-03-31T00:30:00.000Z"])
        #expect(try fires("30 2 * * *", "Europe/Berlin", from: "2025-10-25T12:00:00Z", count: 2)
            == ["2025-10-26T00:30:00.000Z", "2025-10-27T01:30:00.000Z"])
    }

    @Test("Lord Howe's 30-minute shift: 02:15 is skipped to 02:30 (+11); 01:45 happens twice")
    func lordHowe() throws {
        #expect(try fires("15 2 * * *", "Australia/Lord_Howe", from: "2025-10-04T00:00:00Z", count: 1) == ["2025-10-04T15:30:00.000Z"])
        #expect(try fires("45 1 * * *", "Australia/Lord_Howe", from: "2026-04-04T00:00:00Z", count: 1) == ["2026-04-04T14:45:00.000Z"])
        #expect(try fires("45 1 * * *", "Australia/Lord_Howe", from: "2026-04-04T00:00:00Z", count: 1, dst: DSTPolicy(overlap: .last))
            == ["2026-04-04T15:15:00.000Z"])
    }

    @Test("Kathmandu's +05:45 offset")
    func kathmandu() throws {
        #expect(try fires("0 9 * * *", "Asia/Kathmandu", from: "2026-01-01T00:00:00Z", count: 2)
            == ["2026-01-01T03:15:00.000Z", "2026-01-02T03:15:00.000Z"])
        #expect(ZoneRules.named("Asia/Kathmandu")?.offset(at: Timestamp(rfc3339: "2026-01-01T00:00:00Z")!) == 20_700)
    }

    @Test("Apia skipped 2011-12-30: a daily schedule fires on the 29th and then the 31st")
    func apia() throws {
        #expect(try fires("0 0 * * *", "Pacific/Apia", from: "2011-12-28T12:00:00Z", count: 3)
            == ["2011-12-29T10:00:00.000Z", "2011-12-30T10:00:00.000Z", "2011-12-31T10:00:00.000Z"])
        let apia = try #require(ZoneRules.named("Pacific/Apia"))
        #expect(apia.offset(at: Timestamp(rfc3339: "2011-12-30T10:00:00Z")!) == 14 * 3600)
        #expect(apia.offset(at: Timestamp(rfc3339: "2011-12-29T10:00:00Z")!) == -10 * 3600)
    }

    @Test("unknown zones are refused")
    func unknownZone() {
        #expect(ZoneRules.named("Mars/Base") == nil)
        #expect(ZoneRules.named("") == nil)
    }

    @Test("calendar schedules: lists in a zone; days of month and weekdays must both match")
    func calendar() throws {
        let spec = try CalendarSpec(minutes: [0], hours: [9], daysOfMonth: [], months: [], weekdays: [1, 5])
        let r = try Recurrence(calendar: spec, zone: try #require(ZoneRules.named("Asia/Shanghai")))
        var t = Timestamp(rfc3339: "2026-01-01T00:00:00Z")!
        var out: [String] = []
        for _ in 0..<3 { t = try #require(r.nextFire(after: t)); out.append(t.rfc3339) }
        #expect(out == ["2026-01-02T01:00:00.000Z", "2026-01-05T01:00:00.000Z", "2026-01-09T01:00:00.000Z"])
        #expect(r.description == "At 09:00, Monday and Friday (Asia/Shanghai)")
        let both = try Recurrence(calendar: try CalendarSpec(minutes: [0], hours: [0], daysOfMonth: [13], months: [], weekdays: [5]),
                                  zone: try #require(ZoneRules.named("UTC")))
        #expect(both.nextFire(after: Timestamp(rfc3339: "2026-01-01T00:00:00Z")!)?.rfc3339 == "2026-02-13T00:00:00.000Z", "Friday the 13th")
        #expect(throws: OrreryError(.invalidSchedule, "hours: 24 is out of range 0-23")) {
            try CalendarSpec(minutes: [], hours: [24], daysOfMonth: [], months: [], weekdays: [])
        }
        #expect(CalendarSpec.weekday(named: "Monday") == 1 && CalendarSpec.weekday(named: "sun") == 0 && CalendarSpec.weekday(named: "fun") == nil)
    }
}
