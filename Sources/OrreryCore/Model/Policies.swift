/// How failed runs are tried again (SPEC §4): each attempt is its own run row.
public struct RetryPolicy: Sendable, Hashable {
    public var maxAttempts: Int64
    public var backoffBaseSec: Int64
    public var backoffMaxSec: Int64

    public init(maxAttempts: Int64 = 1, backoffBaseSec: Int64 = 10, backoffMaxSec: Int64 = 3600) {
        self.maxAttempts = maxAttempts
        self.backoffBaseSec = backoffBaseSec
        self.backoffMaxSec = backoffMaxSec
    }

    public static let none = RetryPolicy()

    /// The delay before attempt `attempt + 1`, after attempt `attempt` failed:
    /// base·2^(attempt-1), capped, with up to 10% jitter taken from `jitterUnit` in [0, 1).
    public func backoff(afterAttempt attempt: Int64, jitterUnit: Double) -> Duration {
        let exponent = min(max(attempt - 1, 0), 30)
        let raw = min(Double(backoffBaseSec) * Double(Int64(1) << exponent), Double(backoffMaxSec))
        let jittered = raw * (1 + 0.1 * jitterUnit)
        return .microseconds(Int64(jittered * 1_000_000))
    }

    public static func parse(_ value: JSONValue, path: String) throws -> RetryPolicy {
        var r = try FieldReader(value, path: path)
        var p = RetryPolicy()
        p.maxAttempts = try r.int("max_attempts", in: 1...100) ?? p.maxAttempts
        p.backoffBaseSec = try r.int("backoff_base_sec", in: 0...86_400) ?? p.backoffBaseSec
        p.backoffMaxSec = try r.int("backoff_max_sec", in: 0...604_800) ?? p.backoffMaxSec
        try r.rejectUnknownFields()
        return p
    }

    public var json: JSONValue {
        .object(["max_attempts": .int(maxAttempts), "backoff_base_sec": .int(backoffBaseSec), "backoff_max_sec": .int(backoffMaxSec)])
    }
}

/// What happens when a slot comes while the task's previous run is still active (SPEC §3).
public enum OverlapPolicy: String, Sendable, Hashable, CaseIterable {
    case skip, allow, queue, replace
}

/// What happens to slots missed while the service was down (SPEC §3).
public struct MisfirePolicy: Sendable, Hashable {
    public enum Policy: String, Sendable, Hashable, CaseIterable {
        case runOnce = "run_once", skip, runAll = "run_all"
    }

    public var policy: Policy
    public var graceSec: Int64

    public init(policy: Policy = .runOnce, graceSec: Int64 = 60) {
        self.policy = policy
        self.graceSec = graceSec
    }

    public static func parse(_ value: JSONValue, path: String) throws -> MisfirePolicy {
        var r = try FieldReader(value, path: path)
        var p = MisfirePolicy()
        if let word = try r.string("policy", maxLength: 20) {
            guard let policy = Policy(rawValue: word) else {
                throw OrreryError(.invalidField, "must be one of run_once, skip, run_all, not \"\(word)\"", field: r.fieldPath("policy"))
            }
            p.policy = policy
        }
        p.graceSec = try r.int("grace_sec", in: 0...31_536_000) ?? p.graceSec
        try r.rejectUnknownFields()
        return p
    }

    public var json: JSONValue { .object(["policy": .string(policy.rawValue), "grace_sec": .int(graceSec)]) }

    /// A claim is never instantaneous: a run claimed less than this after its time plus
    /// `grace_sec` is on time. Without it `grace_sec: 0` ("no grace") judged every claim late
    /// by its own latency. Lateness is thus counted in whole seconds, as `grace_sec` is.
    public static let onTimeToleranceMicroseconds: Int64 = 1_000_000

    /// Slots before this instant were missed (a claim at `now` is later than the grace allows).
    public func missedBefore(now: Timestamp) -> Timestamp {
        now.adding(seconds: -graceSec).adding(microseconds: -Self.onTimeToleranceMicroseconds)
    }

    /// Whether a run meant for `intended` and claimed at `now` missed its time.
    public func isMissed(_ intended: Timestamp, now: Timestamp) -> Bool { intended < missedBefore(now: now) }
}
