/// When a task fires (SPEC §3): the kind of schedule plus an optional window and jitter.
///
/// Every kind answers the same two questions, so the engine never cares which it holds:
/// `nextFire(after:anchor:)` and `latestFire(atOrBefore:anchor:)`.
public struct Schedule: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        /// Fires once at `at`.
        case once(at: Timestamp)
        /// Fires at anchor + k·`everySec` (anchor: `start_at`, else creation + `everySec`); never drifts.
        case interval(everySec: Int64)
    }

    public var kind: Kind
    /// Nothing fires before this instant (for `interval`, also the anchor of the slots).
    public var startAt: Timestamp?
    /// Nothing fires after this instant.
    public var endAt: Timestamp?
    /// A stable per-task offset in [0, jitterSec) added to every slot.
    public var jitterSec: Int64?

    public init(_ kind: Kind, startAt: Timestamp? = nil, endAt: Timestamp? = nil, jitterSec: Int64? = nil) {
        self.kind = kind
        self.startAt = startAt
        self.endAt = endAt
        self.jitterSec = jitterSec
    }

    public var typeName: String {
        switch kind {
        case .once: "once"
        case .interval: "interval"
        }
    }

    /// True when the schedule can fire more than once.
    public var isRecurring: Bool {
        if case .once = kind { return false }
        return true
    }

    /// The first slot strictly after `after` (or the very first slot when `after` is nil),
    /// or nil when the schedule has no more slots. `createdAt` anchors an interval
    /// without `start_at`.
    public func nextFire(after: Timestamp?, createdAt: Timestamp) -> Timestamp? {
        let candidate: Timestamp
        switch kind {
        case .once(let at):
            guard after == nil || after! < at else { return nil }
            candidate = at
        case .interval(let every):
            let anchor = intervalAnchor(every: every, createdAt: createdAt)
            let step = every * 1_000_000
            guard let after, after >= anchor else { candidate = anchor; break }
            let k = (after.microseconds - anchor.microseconds) / step + 1
            candidate = Timestamp(microseconds: anchor.microseconds + k * step)
        }
        if let endAt, candidate > endAt { return nil }
        return candidate
    }

    private func intervalAnchor(every: Int64, createdAt: Timestamp) -> Timestamp {
        startAt ?? createdAt.adding(seconds: every)
    }

    /// The next `count` slots after `after` (the preview of SPEC §3), each with the UTC
    /// offset of the schedule's time zone at that instant.
    public func upcoming(after: Timestamp, count: Int, createdAt: Timestamp) -> [(at: Timestamp, offsetSeconds: Int)] {
        var out: [(at: Timestamp, offsetSeconds: Int)] = []
        var cursor = after
        while out.count < count, let next = nextFire(after: cursor, createdAt: createdAt) {
            out.append((next, utcOffset(at: next)))
            cursor = next
        }
        return out
    }

    /// The UTC offset, in seconds, of the schedule's time zone at `instant` (UTC for `once`
    /// and `interval`, which count real elapsed time).
    public func utcOffset(at instant: Timestamp) -> Int {
        switch kind {
        case .once, .interval: 0
        }
    }

    /// An English sentence for people: "Every 30 seconds (UTC)".
    public var summary: String {
        var text: String
        switch kind {
        case .once(let at):
            text = "Once, at \(at.rfc3339(offsetSeconds: 0))"
        case .interval(let every):
            text = "Every " + Self.spell(seconds: every)
            if let startAt { text += ", counted from \(startAt.rfc3339(offsetSeconds: 0))" }
        }
        if let endAt { text += ", until \(endAt.rfc3339(offsetSeconds: 0))" }
        if let jitterSec, jitterSec > 0 { text += ", with up to \(jitterSec) s of jitter" }
        return text
    }

    static func spell(seconds: Int64) -> String {
        for (unit, size) in [("day", Int64(86_400)), ("hour", 3_600), ("minute", 60)] where seconds % size == 0 {
            let n = seconds / size
            return n == 1 ? unit : "\(n) \(unit)s"
        }
        return seconds == 1 ? "second" : "\(seconds) seconds"
    }

    /// The stable offset this task's runs get from `jitter_sec` (same task, same offset).
    public func jitter(forTaskID taskID: String) -> Int64 {
        guard let jitterSec, jitterSec > 0 else { return 0 }
        return stableOffset(of: taskID, within: jitterSec * 1_000_000)
    }
}

/// A stable pseudo-random offset in [0, window) for a key (FNV-1a): the same task always
/// gets the same jitter and the same catch-up delay.
func stableOffset(of key: String, within window: Int64) -> Int64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in key.utf8 {
        hash ^= UInt64(byte)
        hash &*= 0x100_0000_01b3
    }
    return Int64(hash % UInt64(window))
}

// MARK: - JSON

extension Schedule {
    /// The longest interval accepted (ten years), so slot arithmetic never overflows.
    public static let maxIntervalSec: Int64 = 315_576_000

    /// Reads and validates a schedule object; `now` fills in `once.at` when omitted.
    /// Errors name the field (`schedule.every_sec`) and say why.
    public static func parse(_ value: JSONValue, path: String = "schedule", now: Timestamp) throws -> Schedule {
        var r = try FieldReader(value, path: path)
        let type = try r.requiredString("type", maxLength: 20)
        let startAt = try r.timestamp("start_at")
        let endAt = try r.timestamp("end_at")
        let jitter = try r.int("jitter_sec", in: 0...86_400)
        if let startAt, let endAt, endAt <= startAt {
            throw OrreryError(.invalidSchedule, "end_at must be after start_at", field: r.fieldPath("end_at"))
        }
        let kind: Kind
        switch type {
        case "once":
            let at = try r.timestamp("at") ?? startAt ?? now.truncatedToMilliseconds
            if let endAt, at > endAt {
                throw OrreryError(.invalidSchedule, "schedule can never fire: at is after end_at", field: r.fieldPath("at"))
            }
            if let startAt, at < startAt {
                throw OrreryError(.invalidSchedule, "schedule can never fire: at is before start_at", field: r.fieldPath("at"))
            }
            kind = .once(at: at)
        case "interval":
            guard let every = try r.int("every_sec") else {
                throw OrreryError(.missingField, "is required", field: r.fieldPath("every_sec"))
            }
            guard every > 0 else {
                throw OrreryError(.invalidSchedule, "must be a positive number of seconds, not \(every)", field: r.fieldPath("every_sec"))
            }
            guard every <= maxIntervalSec else {
                throw OrreryError(.invalidSchedule, "must be at most \(maxIntervalSec) seconds (ten years)", field: r.fieldPath("every_sec"))
            }
            kind = .interval(everySec: every)
        case "cron", "calendar", "trigger":
            throw OrreryError(.invalidSchedule, "schedule type \"\(type)\" is not supported by this version yet", field: r.fieldPath("type"))
        default:
            throw OrreryError(.invalidSchedule, "unknown schedule type \"\(type)\" (expected once, interval, cron, calendar or trigger)", field: r.fieldPath("type"))
        }
        try r.rejectUnknownFields()
        return Schedule(kind, startAt: startAt, endAt: endAt, jitterSec: jitter)
    }

    /// The API and storage form (Appendix A).
    public var json: JSONValue {
        var o: [String: JSONValue] = ["type": .string(typeName)]
        switch kind {
        case .once(let at): o["at"] = .string(at.rfc3339)
        case .interval(let every): o["every_sec"] = .int(every)
        }
        if let startAt { o["start_at"] = .string(startAt.rfc3339) }
        if let endAt { o["end_at"] = .string(endAt.rfc3339) }
        if let jitterSec { o["jitter_sec"] = .int(jitterSec) }
        return .object(o)
    }
}
