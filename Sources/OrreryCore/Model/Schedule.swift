/// When a task fires (SPEC §3): the kind of schedule plus an optional window and jitter.
///
/// Every kind answers the same question, so the engine never cares which it holds:
/// `nextFire(after:createdAt:)`.
public struct Schedule: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        /// Fires once at `at`.
        case once(at: Timestamp)
        /// Fires at anchor + k·`everySec` (anchor: `start_at`, else creation + `everySec`); never drifts.
        case interval(everySec: Int64)
        /// A cron expression in a time zone, under a DST policy.
        case cron(CronExpression, timezone: String, dst: DSTPolicy, recurrence: Recurrence)
        /// Calendar lists (001's structured form) in a time zone, under a DST policy.
        case calendar(CalendarFields, timezone: String, dst: DSTPolicy, recurrence: Recurrence)
        /// Fires when an event arrives (posting events comes with its own issue); never on time.
        case trigger(TriggerSpec)
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
        case .cron: "cron"
        case .calendar: "calendar"
        case .trigger: "trigger"
        }
    }

    /// True when the schedule fires on time more than once.
    public var isRecurring: Bool {
        switch kind {
        case .once, .trigger: false
        case .interval, .cron, .calendar: true
        }
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
        case .cron(_, _, _, let recurrence), .calendar(_, _, _, let recurrence):
            var from = after ?? createdAt.adding(microseconds: -1)
            if let startAt, from < startAt { from = startAt.adding(microseconds: -1) }
            guard let next = recurrence.nextFire(after: from) else { return nil }
            candidate = next
        case .trigger:
            return nil
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
        case .once, .interval, .trigger: 0
        case .cron(_, let timezone, _, _), .calendar(_, let timezone, _, _):
            ZoneRules.named(timezone)?.offset(at: instant) ?? 0
        }
    }

    /// An English sentence for people: "At 09:00, Monday through Friday (Asia/Shanghai)".
    public var summary: String {
        var text: String
        switch kind {
        case .once(let at):
            text = "Once, at \(at.rfc3339(offsetSeconds: 0))"
        case .interval(let every):
            text = "Every " + Self.spell(seconds: every)
            if let startAt { text += ", counted from \(startAt.rfc3339(offsetSeconds: 0))" }
        case .cron(_, _, _, let recurrence), .calendar(_, _, _, let recurrence):
            text = recurrence.description
            if let startAt { text += ", from \(startAt.rfc3339(offsetSeconds: 0))" }
        case .trigger(let trigger):
            text = "When event \"\(trigger.event)\" arrives"
            if let resource = trigger.resourceID { text += " for resource \"\(resource)\"" }
            if trigger.delaySec > 0 { text += ", after \(Self.spell(seconds: trigger.delaySec))" }
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
    public func jitter(forTaskID taskID: String) -> Int64 { Self.jitter(jitterSec: jitterSec, taskID: taskID) }

    /// The stable offset in [0, jitterSec) seconds a task's runs are moved by, in microseconds.
    public static func jitter(jitterSec: Int64?, taskID: String) -> Int64 {
        guard let jitterSec, jitterSec > 0 else { return 0 }
        return stableOffset(of: taskID, within: jitterSec * 1_000_000)
    }
}

/// The lists of a calendar schedule as written (empty: every value); weekdays 0 = Sunday.
public struct CalendarFields: Sendable, Hashable {
    public var minutes: [Int], hours: [Int], daysOfMonth: [Int], months: [Int], weekdays: [Int]
    public init(minutes: [Int] = [], hours: [Int] = [], daysOfMonth: [Int] = [], months: [Int] = [], weekdays: [Int] = []) {
        self.minutes = minutes; self.hours = hours; self.daysOfMonth = daysOfMonth; self.months = months; self.weekdays = weekdays
    }
}

/// An event-triggered schedule (SPEC §3, Huawei LIFE_CYCLE).
public struct TriggerSpec: Sendable, Hashable {
    public var event: String
    public var resourceID: String?
    public var delaySec: Int64
    public var priority: Int64
    /// For `run.<status>` events: only the ends of this task's runs fire it (a chain).
    public var taskID: String?
    public init(event: String, resourceID: String? = nil, delaySec: Int64 = 0, priority: Int64 = 0, taskID: String? = nil) {
        self.event = event; self.resourceID = resourceID; self.delaySec = delaySec; self.priority = priority
        self.taskID = taskID
    }
}

/// A stable pseudo-random offset in [0, window) for a key (FNV-1a): the same task always
/// gets the same jitter and the same catch-up delay (and profile 001 a stable user number).
public func stableOffset(of key: String, within window: Int64) -> Int64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in key.utf8 {
        hash ^= UInt64(byte)
        hash &*= 0x100_0000_01b3
    }
    return Int64(hash % UInt64(window))
}
