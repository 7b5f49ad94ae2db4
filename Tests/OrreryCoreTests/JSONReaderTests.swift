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

    /// The text is what stores hold and responses carry: sorted keys, no spaces, only `"`,
    /// `\\` and control characters escaped (UTF-8 beyond ASCII as it is), integers exact.
    @Test("Orrery writes compact JSON with sorted keys and minimal escapes, byte for byte")
    func writesCompactSortedText() {
        let value = JSONValue.object([
            "b": .int(-42), "a": .string("q\"\\\n\r\t\u{01}\u{1f}/é😀"), "é": .null, "B": .bool(false),
            "c": .array([.null, .bool(true), .double(1.5), .int(Int64.min), .int(Int64.max), .int(0), .int(7), .double(.infinity)]),
            "d": .object([:]), "e": .array([]), "f": .string(""), "g": .object(["z": .int(10), "y": .array([.string("x")])]),
        ])
        let expected = #"{"B":false,"a":"q\"\\\n\r\t\u0001\u001f/é😀","b":-42,"c":[null,true,1.5,-9223372036854775808,9223372036854775807,0,7,null],"d":{},"e":[],"f":"","g":{"y":["x"],"z":10},"é":null}"#
        #expect(value.jsonText == expected)
        #expect(value.jsonBytes == Array(expected.utf8))
    }
}
