import OrreryCore
import Testing

@Suite("What a schedule restricts (for profiles that show periods and calendar lists)", .timeLimit(.minutes(5)))
struct RecurrenceShapeTests {
    static func recurrence(_ cron: String) throws -> Recurrence {
        try Recurrence(cron: CronExpression.parse(cron), zone: try #require(ZoneRules.named("UTC")))
    }

    @Test("cron expressions as calendar lists: every value is an empty list; L, W, #, seconds and either-day rules have none")
    func calendarFields() throws {
        let weekdays = try #require(try Self.recurrence("0 9 * * MON-FRI").calendarFields)
        #expect(weekdays == CalendarFields(minutes: [0], hours: [9], weekdays: [1, 2, 3, 4, 5]))
        #expect(try Self.recurrence("*/15 * * * *").calendarFields == CalendarFields(minutes: [0, 15, 30, 45]))
        #expect(try Self.recurrence("30 2 1 1,7 *").calendarFields == CalendarFields(minutes: [30], hours: [2], daysOfMonth: [1], months: [1, 7]))
        for cron in ["0 0 L * *", "0 0 15W * *", "0 0 * * 1#2", "30 0 0 * * *", "0 0 1 * MON"] {
            #expect(try Self.recurrence(cron).calendarFields == nil, "\(cron)")
        }
    }

    @Test("day-of-month or month restrictions and weekday restrictions are told apart")
    func restrictions() throws {
        #expect(try Self.recurrence("0 3 * * *").restrictsDaysOfMonth == false)
        #expect(try Self.recurrence("0 3 * * *").restrictsWeekdays == false)
        #expect(try Self.recurrence("0 9 * * MON").restrictsWeekdays == true)
        #expect(try Self.recurrence("0 9 * * MON").restrictsDaysOfMonth == false)
        #expect(try Self.recurrence("0 0 1 * *").restrictsDaysOfMonth == true)
        #expect(try Self.recurrence("0 0 * 6 *").restrictsDaysOfMonth == true, "a month restriction counts")
        #expect(try Self.recurrence("0 0 L * *").restrictsDaysOfMonth == true)
    }
}
