import Synchronization

/// Makes ids: 26 characters of Crockford base32, a millisecond timestamp then 80 random
/// bits (ULID layout), so ids are URL-safe, unguessable and sort by creation time.
///
/// Ids made in the same millisecond are consecutive (ULID's monotonic mode): a burst of
/// new tasks or runs lands on neighbouring index pages instead of random ones, and ids
/// made by one process never go backwards.
public struct IDGenerator: Sendable {
    private static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)
    private static let last = Mutex<(millis: UInt64, high: UInt64, low: UInt64)>((0, 0, 0))

    public init() {}

    public func make(at now: Timestamp) -> String {
        let requested = UInt64(max(now.microseconds / 1_000, 0))
        let (millis, high, low) = Self.last.withLock { last -> (UInt64, UInt64, UInt64) in
            if requested <= last.millis {
                // Same (or an earlier) millisecond: the next 80-bit value after the last one.
                let (low, carry) = last.low.addingReportingOverflow(1)
                last.low = low
                if carry { last.high = (last.high + 1) & 0xFFFF }
            } else {
                var rng = SystemRandomNumberGenerator()
                last = (requested, rng.next() & 0x7FFF, rng.next())  // top bit clear: room to count up
            }
            return last
        }
        var out = [UInt8](repeating: 0, count: 26)
        var t = millis
        for i in stride(from: 9, through: 0, by: -1) {
            out[i] = Self.alphabet[Int(t & 31)]
            t >>= 5
        }
        // 80 bits as 16 characters: the low 64 bits fill 12 characters and 4 bits of the
        // 13th, which the high 16 bits complete.
        var r = low
        for i in stride(from: 25, through: 14, by: -1) {
            out[i] = Self.alphabet[Int(r & 31)]
            r >>= 5
        }
        var rest = (high << 4) | r
        for i in stride(from: 13, through: 10, by: -1) {
            out[i] = Self.alphabet[Int(rest & 31)]
            rest >>= 5
        }
        return String(decoding: out, as: UTF8.self)
    }
}
