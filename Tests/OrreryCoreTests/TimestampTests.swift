import OrreryCore
import Testing

@Suite("Timestamps", .timeLimit(.minutes(5)))
struct TimestampTests {
    @Test("RFC 3339 with offsets and fractions parses to the right instant", arguments: [
        ("2026-12-01T09:00:00Z", "2026-12-01T09:00:00.000Z"),
        ("2026-12-01T09:00:00.5Z", "2026-12-01T09:00:00.500Z"),
        ("2026-12-01T09:00:00.123456+08:00", "2026-12-01T01:00:00.123Z"),
        ("2024-02-29T23:59:59-05:45", "2024-03-01T05:44:59.000Z"),
        ("1969-12-31T23:59:59.999Z", "1969-12-31T23:59:59.999Z"),
        ("2000-01-01t00:00:00z", "2000-01-01T00:00:00.000Z"),
    ])
    func parses(input: String, expected: String) {
        #expect(Timestamp(rfc3339: input)?.rfc3339 == expected)
    }

    @Test("RFC 3339 output at the edges of four-digit years, and past them", arguments: [
        (Int64(0), 1, 1, Int64(0), "0000-01-01T00:00:00.000Z"),
        (Int64(999), 6, 7, Int64(3_723_004_000), "0999-06-07T01:02:03.004Z"),
        (Int64(9999), 12, 31, Int64(86_399_999_999), "9999-12-31T23:59:59.999Z"),
        (Int64(10000), 1, 1, Int64(0), "10000-01-01T00:00:00.000Z"),
    ])
    func writesYears(year: Int64, month: Int, day: Int, microOfDay: Int64, expected: String) {
        let t = Timestamp(microseconds: CivilDate.days(year: year, month: month, day: day) * 86_400_000_000 + microOfDay)
        #expect(t.rfc3339 == expected)
        if year <= 9999 { #expect(Timestamp(rfc3339: expected) == t.truncatedToMilliseconds, "it reads back") }
    }

    @Test("malformed times are refused", arguments: [
        "", "2026-12-01", "2026-12-01T09:00:00", "2026-13-01T09:00:00Z", "2026-02-30T09:00:00Z",
        "2026-12-01T24:00:00Z", "2026-12-01T09:00:00.Z", "2026-12-01T09:00:00+0800", "2026-12-01T09:00:00Zjunk",
        "tomorrow",
    ])
    func refuses(input: String) {
        #expect(Timestamp(rfc3339: input) == nil)
    }

    @Test func civilDatesRoundTripAcrossCenturies() {
        for days in stride(from: Int64(-800_000), through: 800_000, by: 997) {
            let (y, m, d) = CivilDate.fromDays(days)
            #expect(CivilDate.days(year: y, month: m, day: d) == days)
        }
    }

    @Test func ids() {
        let ids = IDGenerator()
        let a = ids.make(at: Timestamp(seconds: 1_000))
        let b = ids.make(at: Timestamp(seconds: 2_000))
        #expect(a.count == 26 && b.count == 26)
        #expect(a < b, "ids sort by creation time")
        #expect(Set((0..<1000).map { _ in ids.make(at: Timestamp(seconds: 5)) }).count == 1000)
        #expect(a.allSatisfy { $0.isLetter || $0.isNumber })
    }
}
