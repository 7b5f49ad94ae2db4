import OrreryCore
import Testing

/// Next fire times of cron expressions in UTC, one form per row.
@Suite("Cron syntax", .timeLimit(.minutes(5)))
struct CronSyntaxTests {
    /// The next `count` fire times after `from`, as RFC 3339 strings.
    static func fires(_ expression: String, from: String, count: Int = 3, tz: String = "UTC", dst: DSTPolicy = DSTPolicy()) throws -> [String] {
        let recurrence = try Recurrence(cron: try CronExpression.parse(expression), zone: try #require(ZoneRules.named(tz)), dst: dst)
        var t = try #require(Timestamp(rfc3339: from))
        var out: [String] = []
        for _ in 0..<count {
            guard let next = recurrence.nextFire(after: t) else { break }
            out.append(next.rfc3339)
            t = next
        }
        return out
    }

    @Test("every form fires when a reader of the expression expects", arguments: [
        ("*/15 * * * *", "2026-01-01T00:07:00Z", ["2026-01-01T00:15:00.000Z", "2026-01-01T00:30:00.000Z", "2026-01-01T00:45:00.000Z"]),
        ("10-50/20 * * * *", "2026-01-01T00:00:00Z", ["2026-01-01T00:10:00.000Z", "2026-01-01T00:30:00.000Z", "2026-01-01T00:50:00.000Z"]),
        ("5/20 * * * *", "2026-01-01T00:00:00Z", ["2026-01-01T00:05:00.000Z", "2026-01-01T00:25:00.000Z", "2026-01-01T00:45:00.000Z"]),
        ("0 9,17 * * *", "2026-01-01T10:00:00Z", ["2026-01-01T17:00:00.000Z", "2026-01-02T09:00:00.000Z", "2026-01-02T17:00:00.000Z"]),
        ("0 9 * * MON-FRI", "2026-01-02T10:00:00Z", ["2026-01-05T09:00:00.000Z", "2026-01-06T09:00:00.000Z", "2026-01-07T09:00:00.000Z"]),
        ("0 9 * * mon,wed", "2026-01-01T00:00:00Z", ["2026-01-05T09:00:00.000Z", "2026-01-07T09:00:00.000Z", "2026-01-12T09:00:00.000Z"]),
        ("0 0 * * 7", "2026-01-01T00:00:00Z", ["2026-01-04T00:00:00.000Z", "2026-01-11T00:00:00.000Z", "2026-01-18T00:00:00.000Z"]),
        ("0 0 * * 5-7", "2026-01-01T00:00:00Z", ["2026-01-02T00:00:00.000Z", "2026-01-03T00:00:00.000Z", "2026-01-04T00:00:00.000Z"]),
        ("0 0 * * FRI-SUN", "2026-01-01T00:00:00Z", ["2026-01-02T00:00:00.000Z", "2026-01-03T00:00:00.000Z", "2026-01-04T00:00:00.000Z"]),
        ("0 0 * * MON-SUN", "2026-01-01T00:00:00Z", ["2026-01-02T00:00:00.000Z", "2026-01-03T00:00:00.000Z", "2026-01-04T00:00:00.000Z"]),
        ("0 0 1 JAN,jul *", "2026-01-01T00:00:00Z", ["2026-07-01T00:00:00.000Z", "2027-01-01T00:00:00.000Z", "2027-07-01T00:00:00.000Z"]),
        ("@hourly", "2026-01-01T00:30:00Z", ["2026-01-01T01:00:00.000Z", "2026-01-01T02:00:00.000Z", "2026-01-01T03:00:00.000Z"]),
        ("@daily", "2026-01-01T00:00:00Z", ["2026-01-02T00:00:00.000Z", "2026-01-03T00:00:00.000Z", "2026-01-04T00:00:00.000Z"]),
        ("@midnight", "2026-01-01T12:00:00Z", ["2026-01-02T00:00:00.000Z", "2026-01-03T00:00:00.000Z", "2026-01-04T00:00:00.000Z"]),
        ("@weekly", "2026-01-01T00:00:00Z", ["2026-01-04T00:00:00.000Z", "2026-01-11T00:00:00.000Z", "2026-01-18T00:00:00.000Z"]),
        ("@monthly", "2026-01-15T00:00:00Z", ["2026-02-01T00:00:00.000Z", "2026-03-01T00:00:00.000Z", "2026-04-01T00:00:00.000Z"]),
        ("@yearly", "2026-01-15T00:00:00Z", ["2027-01-01T00:00:00.000Z", "2028-01-01T00:00:00.000Z", "2029-01-01T00:00:00.000Z"]),
        ("@annually", "2026-01-15T00:00:00Z", ["2027-01-01T00:00:00.000Z", "2028-01-01T00:00:00.000Z", "2029-01-01T00:00:00.000Z"]),
        ("0 0 L * *", "2024-01-15T00:00:00Z", ["2024-01-31T00:00:00.000Z", "2024-02-29T00:00:00.000Z", "2024-03-31T00:00:00.000Z"]),
        ("0 0 L-3 * *", "2025-02-01T00:00:00Z", ["2025-02-25T00:00:00.000Z", "2025-03-28T00:00:00.000Z", "2025-04-27T00:00:00.000Z"]),
        ("0 0 15W * *", "2026-02-01T00:00:00Z", ["2026-02-16T00:00:00.000Z", "2026-03-16T00:00:00.000Z", "2026-04-15T00:00:00.000Z"]),
        ("0 0 1W * *", "2026-02-01T00:00:00Z", ["2026-02-02T00:00:00.000Z", "2026-03-02T00:00:00.000Z", "2026-04-01T00:00:00.000Z"]),
        ("0 0 LW * *", "2026-01-01T00:00:00Z", ["2026-01-30T00:00:00.000Z", "2026-02-27T00:00:00.000Z", "2026-03-31T00:00:00.000Z"]),
        ("0 10 * * 5#2", "2026-01-01T00:00:00Z", ["2026-01-09T10:00:00.000Z", "2026-02-13T10:00:00.000Z", "2026-03-13T10:00:00.000Z"]),
        ("0 10 ? * MON#1", "2026-01-01T00:00:00Z", ["2026-01-05T10:00:00.000Z", "2026-02-02T10:00:00.000Z", "2026-03-02T10:00:00.000Z"]),
        ("0 10 * * 5L", "2026-01-01T00:00:00Z", ["2026-01-30T10:00:00.000Z", "2026-02-27T10:00:00.000Z", "2026-03-27T10:00:00.000Z"]),
        // Day-of-month and day-of-week both restricted: either matches (Vixie cron).
        ("0 0 13 * FRI", "2026-02-01T00:00:00Z", ["2026-02-06T00:00:00.000Z", "2026-02-13T00:00:00.000Z", "2026-02-20T00:00:00.000Z"]),
        ("0 0 29 2 *", "2026-01-01T00:00:00Z", ["2028-02-29T00:00:00.000Z", "2032-02-29T00:00:00.000Z", "2036-02-29T00:00:00.000Z"]),
        ("30 */10 * * * *", "2026-01-01T00:00:00Z", ["2026-01-01T00:00:30.000Z", "2026-01-01T00:10:30.000Z", "2026-01-01T00:20:30.000Z"]),
        ("* * * * * *", "2026-01-01T00:00:00.500Z", ["2026-01-01T00:00:01.000Z", "2026-01-01T00:00:02.000Z", "2026-01-01T00:00:03.000Z"]),
    ])
    func fires(expression: String, from: String, expected: [String]) throws {
        #expect(try Self.fires(expression, from: from) == expected)
    }

    @Test("invalid expressions say which field and why", arguments: [
        ("0 24 * * *", "cron field 2 (hour): 24 is out of range 0-23"),
        ("60 * * * *", "cron field 1 (minute): 60 is out of range 0-59"),
        ("0 0 0 * *", "cron field 3 (day-of-month): 0 is out of range 1-31"),
        ("0 0 * 13 *", "cron field 4 (month): 13 is out of range 1-12"),
        ("0 0 * * 8", "cron field 5 (day-of-week): 8 is out of range 0-7"),
        ("0 0 * * SUNDAY", "cron field 5 (day-of-week): unknown name \"SUNDAY\""),
        ("0 0 1 JULY *", "cron field 4 (month): unknown name \"JULY\""),
        ("61 0 0 * * *", "cron field 1 (second): 61 is out of range 0-59"),
        ("0 L * * *", "\"L\" is only allowed in day-of-month and day-of-week"),
        ("0 0 * * *  *  *", "cron expression must have 5 or 6 fields, not 7"),
        ("0 0 * *", "cron expression must have 5 or 6 fields, not 4"),
        ("*/0 * * * *", "cron field 1 (minute): step 0 is not allowed"),
        ("0 5-3 * * *", "cron field 2 (hour): range 5-3 is backwards"),
        ("0 0 * * FUNDAY", "cron field 5 (day-of-week): unknown name \"FUNDAY\""),
        ("0 0 * * 5#6", "cron field 5 (day-of-week): \"#6\" must be #1 to #5"),
        ("0 0 1#2 * *", "cron field 3 (day-of-month): \"#\" is only allowed in day-of-week"),
        ("@fortnightly", "unknown macro \"@fortnightly\" (expected @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)"),
        ("0 0 ,1 * *", "cron field 3 (day-of-month): empty list item"),
        ("x * * * *", "cron field 1 (minute): unknown name \"X\""),
    ])
    func invalid(expression: String, message: String) {
        do {
            _ = try CronExpression.parse(expression)
            Issue.record("\(expression) should be refused")
        } catch let error as OrreryError {
            #expect(error.message == message)
            #expect(error.code == .invalidSchedule)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test("a schedule that can never fire is refused", arguments: ["0 0 30 2 *", "0 0 31 4,6,9,11 *", "0 0 31 2 *"])
    func neverFires(expression: String) throws {
        let cron = try CronExpression.parse(expression)
        #expect(throws: OrreryError(.invalidSchedule, "schedule can never fire")) {
            try Recurrence(cron: cron, zone: ZoneRules.named("UTC")!)
        }
    }

    @Test("descriptions read as English", arguments: [
        ("0 9 * * MON-FRI", "Asia/Shanghai", "At 09:00, Monday through Friday (Asia/Shanghai)"),
        ("*/15 * * * *", "UTC", "Every 15 minutes (UTC)"),
        ("0 3 1 * *", "Europe/Berlin", "At 03:00 on day 1 of the month (Europe/Berlin)"),
        ("0 0 L * *", "UTC", "At 00:00 on the last day of the month (UTC)"),
        ("30 10 * * 5#2", "UTC", "At 10:30 on the second Friday of the month (UTC)"),
        ("0 * * * *", "UTC", "At minute 0 past every hour (UTC)"),
        ("* * * * *", "UTC", "Every minute (UTC)"),
        ("0 8 * * SAT,SUN", "UTC", "At 08:00, Saturday and Sunday (UTC)"),
        ("0 0 1 1 *", "UTC", "At 00:00 on day 1 of the month, in January (UTC)"),
        ("15 14 * * 1,3,5", "UTC", "At 14:15, Monday, Wednesday and Friday (UTC)"),
    ])
    func description(expression: String, zone: String, text: String) throws {
        let recurrence = try Recurrence(cron: try CronExpression.parse(expression), zone: try #require(ZoneRules.named(zone)))
        #expect(recurrence.description == text)
    }
}

@Suite("Cron far future", .timeLimit(.minutes(5)))
struct CronFarFutureTests {
    @Test("fire times end at year 9999 instead of overflowing")
    func endsAt9999() throws {
        let r = try Recurrence(cron: try CronExpression.parse("0 0 29 2 *"), zone: try #require(ZoneRules.named("UTC")))
        let late = try #require(Timestamp(rfc3339: "9996-03-01T00:00:00Z"))
        #expect(r.nextFire(after: late) == nil)
        #expect(r.nextFire(after: try #require(Timestamp(rfc3339: "9995-03-01T00:00:00Z")))?.rfc3339 == "9996-02-29T00:00:00.000Z")
    }
}
