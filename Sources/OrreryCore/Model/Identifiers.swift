/// Makes ids: 26 characters of Crockford base32, a millisecond timestamp then 80 random
/// bits (ULID layout), so ids are URL-safe, unguessable and sort by creation time.
public struct IDGenerator: Sendable {
    private static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)

    public init() {}

    public func make(at now: Timestamp) -> String {
        var rng = SystemRandomNumberGenerator()
        let millis = UInt64(max(now.microseconds / 1_000, 0))
        let high = rng.next() & 0xFFFF  // 16 random bits
        let low = rng.next()  // 64 random bits
        var out = [UInt8](repeating: 0, count: 26)
        var t = millis
        for i in stride(from: 9, through: 0, by: -1) {
            out[i] = Self.alphabet[Int(t & 31)]
            t >>= 5
        }
        // 80 random bits as 16 base32 characters.
        var r = low
        for i in stride(from: 25, through: 13, by: -1) {
            out[i] = Self.alphabet[Int(r & 31)]
            r >>= 5
        }
        // 13 characters took 65 bits: 1 low bit left, combined with the 16 high bits.
        var rest = (high << 1) | r
        for i in stride(from: 12, through: 10, by: -1) {
            out[i] = Self.alphabet[Int(rest & 31)]
            rest >>= 5
        }
        return String(decoding: out, as: UTF8.self)
    }
}
