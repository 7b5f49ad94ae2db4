#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The engine's sense of time, injected so tests can drive it by hand.
///
/// `now()` is the wall clock (schedules, `scheduled_at`, leases stored in the database);
/// `sleep(for:)` waits on a monotonic clock (lease renewal, timeouts), so that a wall-clock
/// step never stretches or shortens a timeout.
public protocol EngineClock: Sendable {
    /// The current wall-clock instant.
    func now() -> Timestamp
    /// Suspends until the wall clock reaches `deadline` (or returns at once if it has).
    func sleep(until deadline: Timestamp) async throws
    /// Suspends for `duration` of monotonic time.
    func sleep(for duration: Duration) async throws
}

/// The real clocks: `CLOCK_REALTIME` for the wall, `ContinuousClock` for waiting.
public struct SystemClock: EngineClock {
    public init() {}

    public func now() -> Timestamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Timestamp(microseconds: Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1_000)
    }

    public func sleep(until deadline: Timestamp) async throws {
        let remaining = deadline.microseconds - now().microseconds
        guard remaining > 0 else { return }
        try await ContinuousClock().sleep(for: .microseconds(remaining), tolerance: .zero)
    }

    public func sleep(for duration: Duration) async throws {
        try await ContinuousClock().sleep(for: duration, tolerance: .zero)
    }
}
