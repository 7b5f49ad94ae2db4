import OrreryCore
import Testing

@Suite("Schedules: once and interval", .timeLimit(.minutes(5)))
struct ScheduleTests {
    let t0 = Timestamp(rfc3339: "2026-03-01T12:00:00Z")!

    func parse(_ json: String) throws -> Schedule {
        try Schedule.parse(try JSONValue.parse(Array(json.utf8)), now: t0)
    }

    @Test("an interval without start_at fires every_sec after creation, then every every_sec")
    func intervalFromCreation() throws {
        let s = Schedule(.interval(everySec: 30))
        let first = try #require(s.nextFire(after: nil, createdAt: t0))
        #expect(first == t0.adding(seconds: 30))
        #expect(s.nextFire(after: first, createdAt: t0) == t0.adding(seconds: 60))
        // Any instant between slots maps to the next slot: no drift.
        #expect(s.nextFire(after: t0.adding(seconds: 61), createdAt: t0) == t0.adding(seconds: 90))
        #expect(s.nextFire(after: t0.adding(microseconds: 89_999_999), createdAt: t0) == t0.adding(seconds: 90))
    }

    @Test("start_at anchors the slots; end_at closes the window")
    func intervalWindow() {
        let start = t0.adding(seconds: 7)
        let s = Schedule(.interval(everySec: 10), startAt: start, endAt: start.adding(seconds: 25))
        #expect(s.nextFire(after: nil, createdAt: t0) == start)
        #expect(s.nextFire(after: start, createdAt: t0) == start.adding(seconds: 10))
        #expect(s.nextFire(after: start.adding(seconds: 10), createdAt: t0) == start.adding(seconds: 20))
        #expect(s.nextFire(after: start.adding(seconds: 20), createdAt: t0) == nil, "the slot at +30 is past end_at")
    }

    @Test("once fires exactly once")
    func once() {
        let at = t0.adding(seconds: 100)
        let s = Schedule(.once(at: at))
        #expect(s.nextFire(after: nil, createdAt: t0) == at)
        #expect(s.nextFire(after: at, createdAt: t0) == nil)
        #expect(!s.isRecurring)
    }

    @Test("jitter is a stable per-task offset within jitter_sec")
    func jitter() {
        let s = Schedule(.interval(everySec: 3600), jitterSec: 60)
        let a = s.jitter(forTaskID: "A"), b = s.jitter(forTaskID: "B")
        #expect(a == s.jitter(forTaskID: "A"))
        #expect(a != b)
        #expect((0..<60_000_000).contains(a) && (0..<60_000_000).contains(b))
    }

    @Test("valid schedules parse and print back", arguments: [
        #"{"type":"once","at":"2026-12-01T09:00:00Z"}"#,
        #"{"type":"interval","every_sec":30}"#,
        #"{"type":"interval","every_sec":30,"start_at":"2026-03-01T00:00:00Z","end_at":"2026-04-01T00:00:00Z","jitter_sec":5}"#,
    ])
    func roundTrip(json: String) throws {
        let s = try parse(json)
        #expect(try Schedule.parse(s.json, now: t0) == s)
    }

    @Test("once without at means now")
    func onceDefaultsToNow() throws {
        #expect(try parse(#"{"type":"once"}"#).kind == .once(at: t0))
    }

    @Test("invalid schedules name the field and the reason", arguments: [
        (#"{"type":"interval","every_sec":0}"#, "schedule.every_sec", "must be a positive number of seconds, not 0"),
        (#"{"type":"interval","every_sec":-5}"#, "schedule.every_sec", "must be a positive number of seconds, not -5"),
        (#"{"type":"interval"}"#, "schedule.every_sec", "is required"),
        (#"{"type":"interval","every_sec":"ten"}"#, "schedule.every_sec", "must be an integer, not string"),
        (#"{"type":"interval","every_sec":1.5}"#, "schedule.every_sec", "must be an integer, not number"),
        (#"{"type":"interval","every_sec":10,"start_at":"2026-02-01T00:00:00Z","end_at":"2026-01-01T00:00:00Z"}"#, "schedule.end_at", "end_at must be after start_at"),
        (#"{"type":"once","at":"2026-02-01T00:00:00Z","end_at":"2026-01-01T00:00:00Z"}"#, "schedule.at", "schedule can never fire: at is after end_at"),
        (#"{"type":"once","at":"yesterday"}"#, "schedule.at", "\"yesterday\" is not an RFC 3339 time (e.g. 2026-12-01T09:00:00Z)"),
        (#"{"type":"weekly"}"#, "schedule.type", "unknown schedule type \"weekly\" (expected once, interval, cron, calendar or trigger)"),
        (#"{"every_sec":10}"#, "schedule.type", "is required"),
        (#"{"type":"interval","every_sec":10,"every":3}"#, "schedule.every", "is not a known field"),
        (#"{"type":"interval","every_sec":10,"jitter_sec":-1}"#, "schedule.jitter_sec", "-1 is out of range 0-86400"),
        (#"[1]"#, "schedule", "must be an object, not array"),
    ])
    func invalid(json: String, field: String, message: String) {
        do {
            _ = try parse(json)
            Issue.record("\(json) should be refused")
        } catch let error as OrreryError {
            #expect(error.field == field)
            #expect(error.message == message)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}

@Suite("Schedules: cron, calendar and trigger JSON", .timeLimit(.minutes(5)))
struct ScheduleJSONTests {
    let now = Timestamp(rfc3339: "2026-03-01T12:00:00Z")!

    func parse(_ json: String) throws -> Schedule {
        try Schedule.parse(try JSONValue.parse(Array(json.utf8)), now: now)
    }

    @Test("valid cron, calendar and trigger schedules parse and print back", arguments: [
        #"{"type":"cron","expression":"0 3 * * *","timezone":"Europe/Berlin"}"#,
        #"{"type":"cron","expression":"*/5 * * * *","timezone":"UTC","dst":{"gap":"skip","overlap":"both"}}"#,
        #"{"type":"calendar","minutes":[0],"hours":[9],"days_of_month":[],"months":[],"weekdays":["monday","friday"],"timezone":"Asia/Shanghai"}"#,
        #"{"type":"trigger","event":"desktop.created","delay_sec":30,"priority":2}"#,
    ])
    func roundTrip(json: String) throws {
        let s = try parse(json)
        #expect(try Schedule.parse(s.json, now: now) == s)
    }

    @Test("invalid schedules are refused with the field and the reason", arguments: [
        (#"{"type":"cron","expression":"0 24 * * *"}"#, "schedule.expression", "cron field 2 (hour): 24 is out of range 0-23"),
        (#"{"type":"cron","expression":"0 0 30 2 *"}"#, "schedule.expression", "schedule can never fire"),
        (#"{"type":"cron","expression":"0 L * * *"}"#, "schedule.expression", "\"L\" is only allowed in day-of-month and day-of-week"),
        (#"{"type":"cron","expression":"0 0 * * *","timezone":"Mars/Base"}"#, "schedule.timezone", "unknown time zone \"Mars/Base\""),
        (#"{"type":"cron"}"#, "schedule.expression", "is required"),
        (#"{"type":"cron","expression":"0 0 * * *","dst":{"gap":"later"}}"#, "schedule.dst.gap", "must be shift or skip, not \"later\""),
        (#"{"type":"calendar","hours":[25]}"#, "schedule", "hours: 25 is out of range 0-23"),
        (#"{"type":"calendar","weekdays":["funday"]}"#, "schedule.weekdays", "unknown weekday \"funday\" (expected monday … sunday)"),
        (#"{"type":"calendar","days_of_month":[31],"months":[2]}"#, "schedule", "schedule can never fire"),
        (#"{"type":"trigger"}"#, "schedule.event", "is required"),
        (#"{"type":"trigger","event":"x","delay_sec":-1}"#, "schedule.delay_sec", "-1 is out of range 0-31536000"),
        (#"{"type":"cron","expression":"0 0 1 1 *","start_at":"2026-02-01T00:00:00Z","end_at":"2026-12-01T00:00:00Z"}"#, "schedule.end_at", "schedule can never fire between start_at and end_at"),
    ])
    func invalid(json: String, field: String, message: String) {
        do {
            _ = try parse(json)
            Issue.record("\(json) should be refused")
        } catch let error as OrreryError {
            #expect(error.field == field, "\(error)")
            #expect(error.message == message, "\(error)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test("cron windows: nothing before start_at or after end_at; triggers never fire on time")
    func windows() throws {
        let s = try parse(#"{"type":"cron","expression":"0 0 * * *","start_at":"2026-03-10T12:00:00Z","end_at":"2026-03-12T12:00:00Z"}"#)
        let times = s.upcoming(after: now, count: 5, createdAt: now).map(\.at.rfc3339)
        #expect(times == ["2026-03-11T00:00:00.000Z", "2026-03-12T00:00:00.000Z"])
        let trigger = try parse(#"{"type":"trigger","event":"desktop.created"}"#)
        #expect(trigger.nextFire(after: nil, createdAt: now) == nil && !trigger.isRecurring)
        #expect(trigger.summary == "When event \"desktop.created\" arrives")
    }
}
