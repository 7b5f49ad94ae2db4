import OrreryCore
import Testing

/// `JSONValue.fromStored` reads with Orrery's own reader; `JSONValue.parse` still reads
/// request bodies with Foundation's `JSONDecoder`. Both must read the same text the same way.
@Suite("Stored JSON", .timeLimit(.minutes(5)))
struct JSONReaderTests {
    @Test("stored JSON reads as JSONDecoder reads it, numbers included", arguments: [
        "2.0", "1e3", "1E2", "1.5", "-0", "-0.0", "-1.0", "0.1", "1e-2", "100.0e-2", "1e+20", "3.0000000000000001",
        "9223372036854775807", "9223372036854775808", "-9223372036854775808", "12345678901234567890.0",
        "5e-324", "1.7976931348623157e+308", "true", "false", "null", "\"\"", "[]", "{}", " [ 1 , 2.0 , \"x\" ] ",
        #"{"a":1,"a":2}"#, #""\u00e9\ud83d\ude00 \"q\" \\ \/ \b\f\n\r\t""#, #""é😀 plain""#,
        #"{"type":"cron","expr":"*/5 * * * *","tz":"Europe/Paris","jitter_sec":0}"#,
        #"{"max_attempts":3,"backoff":{"kind":"exponential","base_sec":1.5,"max_sec":60},"on":["timeout","error"]}"#,
        #"{"nested":[[{"deep":[null,true,{"x":-12.25e1}]}]],"empty":{},"list":[]}"#,
    ])
    func readsLikeJSONDecoder(text: String) throws {
        #expect(try JSONValue.fromStored(text) == JSONValue.parse(Array(text.utf8)))
    }

    @Test("malformed stored JSON is an internal error", arguments: [
        "", "{", "{\"a\"}", "01", "1.", ".5", "-", "1e", "tru", "nul", "\"open", "\"\\x\"", "\"\\ud83d\"",
        "[1] 2", "1e400", "{'a':1}", "\"tab\there\"",
    ])
    func refusesMalformed(text: String) {
        #expect(throws: OrreryError.self) { try JSONValue.fromStored(text) }
        #expect(throws: OrreryError.self) { try JSONValue.parse(Array(text.utf8)) }
    }

    @Test("what Orrery writes, it reads back unchanged")
    func roundTrips() throws {
        let value = JSONValue.object([
            "s": .string("line\nbreak \"quoted\" \u{01} é 😀"), "i": .int(-42), "d": .double(0.25), "b": .bool(true),
            "n": .null, "a": .array([.int(1), .object([:]), .array([])]),
        ])
        #expect(try JSONValue.fromStored(value.jsonText) == value)
    }
}
