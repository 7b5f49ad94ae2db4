/// Something that happened to a resource (SPEC §1 *Event*), as a client posts it to
/// `POST /v1/events`: it fires every trigger task of the project that waits for its type.
public struct IncomingEvent: Sendable, Equatable {
    /// The client's id (the idempotency key of the event); nil: the server names it.
    public var id: String?
    public var type: String
    public var resourceID: String?
    public var payload: JSONValue?

    public init(id: String? = nil, type: String, resourceID: String? = nil, payload: JSONValue? = nil) {
        self.id = id; self.type = type; self.resourceID = resourceID; self.payload = payload
    }

    /// Events in one request at most.
    public static let maxPerRequest = 100
    /// A payload's size at most, as JSON text.
    public static let maxPayloadBytes = 64 * 1024
    public static let maxTypeLength = 200

    /// Reads one event object; every error names its field under `path` (`[3].payload`).
    public static func parse(_ value: JSONValue, path: String = "") throws -> IncomingEvent {
        var r = try FieldReader(value, path: path)
        let type = try r.requiredString("type", maxLength: maxTypeLength)
        guard !type.isEmpty else { throw OrreryError(.invalidField, "must not be empty", field: r.fieldPath("type")) }
        let id = try r.string("id", maxLength: 200)
        if let id, id.isEmpty { throw OrreryError(.invalidField, "must not be empty", field: r.fieldPath("id")) }
        let resourceID = try r.string("resource_id", maxLength: 500)
        let payload = r.value("payload")
        if let payload, payload.jsonText.utf8.count > maxPayloadBytes {
            throw OrreryError(.bodyTooLarge, "must be at most \(maxPayloadBytes) bytes of JSON", field: r.fieldPath("payload"))
        }
        _ = r.value("project")  // read by the caller: which project the event goes to
        try r.rejectUnknownFields()
        return IncomingEvent(id: id, type: type, resourceID: resourceID, payload: payload)
    }
}

/// An event as stored: what arrived, when, what caused it (a run's end) and what it fired.
public struct StoredEvent: Sendable, Equatable {
    public var seq: Int64
    public var id: String
    public var project: String
    public var type: String
    public var resourceID: String?
    public var payload: JSONValue?
    public var receivedAt: Timestamp
    /// The run whose end this event is (`run.<status>`); nil for posted events.
    public var causedByRun: String?
    /// How many run ends led to it (0: posted by a client). Beyond `EventChain.maxDepth` it fires nothing.
    public var depth: Int64
    /// The runs it fired.
    public var fired: [String]

    public init(
        seq: Int64 = 0, id: String, project: String, type: String, resourceID: String? = nil, payload: JSONValue? = nil,
        receivedAt: Timestamp, causedByRun: String? = nil, depth: Int64 = 0, fired: [String] = []
    ) {
        self.seq = seq; self.id = id; self.project = project; self.type = type; self.resourceID = resourceID
        self.payload = payload; self.receivedAt = receivedAt; self.causedByRun = causedByRun; self.depth = depth; self.fired = fired
    }

    /// What a module sees of it.
    public var runEvent: RunEvent { RunEvent(id: id, type: type, resourceID: resourceID, payload: payload) }
}

/// The answer to one posted event: its id and the runs it fired; `replayed` when the same
/// id was accepted before (within the replay window) and this is that first answer.
public struct EventAnswer: Sendable, Equatable {
    public var id: String
    public var fired: [String]
    public var replayed: Bool
    public init(id: String, fired: [String], replayed: Bool = false) { self.id = id; self.fired = fired; self.replayed = replayed }
}

/// The event a run was fired by, as its module sees it (`RunContext.event`).
public struct RunEvent: Sendable, Hashable {
    public var id: String
    public var type: String
    public var resourceID: String?
    public var payload: JSONValue?
    public init(id: String, type: String, resourceID: String? = nil, payload: JSONValue? = nil) {
        self.id = id; self.type = type; self.resourceID = resourceID; self.payload = payload
    }
}

/// What `GET /v1/events` filters on; newest first (by `seq`, descending), keyset cursors.
public struct EventFilter: Sendable {
    /// nil: every project (admins).
    public var project: String?
    public var type: String?
    public var resourceID: String?
    /// Received at or after `after`, and before `before`.
    public var after: Timestamp?
    public var before: Timestamp?
    public var limit: Int = 100
    public var cursor: String?
    public init() {}
}

/// Run ends are events, and trigger tasks can follow them (a chain). These rules keep a
/// chain finite and name its events.
public enum EventChain {
    /// An event deeper than this (run ends following run ends) fires nothing.
    public static let maxDepth: Int64 = 10
    /// How long an event id is remembered: the same id again within it is a replay.
    public static let replayWindowSec: Int64 = 24 * 3600
    /// The prefix of run-end event types; a trigger may name the task it follows only for these.
    public static let runEndPrefix = "run."

    /// `run.complete`, `run.failed`, …
    public static func runEndType(_ status: RunStatus) -> String { runEndPrefix + status.rawValue }

    /// The payload of a run-end event.
    public static func runEndPayload(taskID: String, taskName: String, runID: String, status: RunStatus, error: RunError?) -> JSONValue {
        var o: [String: JSONValue] = [
            "task_id": .string(taskID), "task_name": .string(taskName), "run_id": .string(runID), "status": .string(status.rawValue),
        ]
        if let error { o["error"] = .object(["code": .string(error.code), "message": .string(error.message)]) }
        return .object(o)
    }
}

/// A trigger task as a store reads it to match an event: enough to decide and to make its run.
public struct TriggerCandidate: Sendable {
    public var taskID: String
    public var project: String
    public var module: String
    public var resourceID: String?
    public var queue: String
    public var enabled: Bool
    public var schedule: Schedule

    public init(taskID: String, project: String, module: String, resourceID: String?, queue: String, enabled: Bool, schedule: Schedule) {
        self.taskID = taskID; self.project = project; self.module = module; self.resourceID = resourceID
        self.queue = queue; self.enabled = enabled; self.schedule = schedule
    }

    /// The run this task gets for `event` (stored with `seq`), or nil when the trigger does
    /// not match it: another type or resource, another followed task, its own run's end (a
    /// task never follows itself), outside the schedule's window, paused, or a chain too deep.
    /// `sourceTaskID`: the task whose run ended, for run-end events.
    public func run(for event: StoredEvent, sourceTaskID: String?, now: Timestamp, id: String) -> TaskRun? {
        guard enabled, case .trigger(let trigger) = schedule.kind, trigger.event == event.type,
              event.depth <= EventChain.maxDepth else { return nil }
        if let resource = trigger.resourceID, resource != event.resourceID { return nil }
        if let followed = trigger.taskID, followed != sourceTaskID { return nil }
        if let sourceTaskID, sourceTaskID == taskID { return nil }
        if let startAt = schedule.startAt, now < startAt { return nil }
        if let endAt = schedule.endAt, endAt < now { return nil }
        var run = TaskRun(
            id: id, taskID: taskID, project: project, module: module, resourceID: event.resourceID ?? resourceID,
            attempt: 1, status: .scheduled, trigger: .event, scheduledAt: now.adding(seconds: trigger.delaySec),
            priority: trigger.priority, queue: queue, updatedAt: now)
        run.eventID = event.id
        return run
    }
}

extension Schedule {
    /// A trigger's `task_id`: the task whose run ends it follows, only for `run.*` events.
    static func readFollowedTask(_ r: inout FieldReader, event: String) throws -> String? {
        guard let taskID = try r.string("task_id", maxLength: 100) else { return nil }
        guard !taskID.isEmpty else { throw OrreryError(.invalidSchedule, "must not be empty", field: r.fieldPath("task_id")) }
        guard event.hasPrefix(EventChain.runEndPrefix) else {
            throw OrreryError(
                .invalidSchedule, "a trigger can follow a task only on its run ends (an event \"run.<status>\")",
                field: r.fieldPath("task_id"))
        }
        return taskID
    }

    /// A trigger that would follow its own task's run ends is refused (an endless chain).
    public func refuseSelfFollow(taskID: String) throws {
        guard case .trigger(let trigger) = kind, trigger.taskID == taskID else { return }
        throw OrreryError(.invalidSchedule, "a trigger cannot follow its own task", field: "schedule.task_id")
    }
}

extension ClaimedRun {
    /// The claimed runs with the events that fired them (by run id), as modules and workers see them.
    public static func attaching(_ events: [String: RunEvent], to claimed: [ClaimedRun]) -> [ClaimedRun] {
        claimed.map { claim in
            guard let event = events[claim.run.id] else { return claim }
            var claim = claim
            claim.event = event
            claim.run.eventID = event.id
            return claim
        }
    }
}
