/// One execution of a task (SPEC §1): its status, times, attempt, progress, result and error.
public struct TaskRun: Sendable, Hashable {
    public var id: String
    public var seq: Int64
    public var taskID: String
    public var project: String
    public var module: String
    public var resourceID: String?
    public var attempt: Int64
    public var status: RunStatus
    public var trigger: RunTrigger
    public var performedBy: String?
    /// The schedule slot this run fills (unique per task); nil for manual and retry runs.
    public var slot: Timestamp?
    public var scheduledAt: Timestamp
    public var startedAt: Timestamp?
    public var finishedAt: Timestamp?
    public var canceledAt: Timestamp?
    public var updatedAt: Timestamp
    public var priority: Int64
    /// The task's queue when the run was made: queues have their own concurrency limits.
    public var queue: String
    public var progress: RunProgress?
    public var result: JSONValue?
    public var error: RunError?
    public var node: String?
    public var leaseExpiresAt: Timestamp?
    public var dismissedBy: String?
    public var dismissedAt: Timestamp?
    /// The event that fired this run (`trigger: event`).
    public var eventID: String?

    public init(
        id: String, seq: Int64 = 0, taskID: String, project: String = "default", module: String,
        resourceID: String? = nil, attempt: Int64 = 1, status: RunStatus = .scheduled,
        trigger: RunTrigger = .schedule, performedBy: String? = nil, slot: Timestamp? = nil,
        scheduledAt: Timestamp, startedAt: Timestamp? = nil, finishedAt: Timestamp? = nil,
        canceledAt: Timestamp? = nil, priority: Int64 = 0, queue: String = "default", updatedAt: Timestamp,
        progress: RunProgress? = nil, result: JSONValue? = nil, error: RunError? = nil,
        node: String? = nil, leaseExpiresAt: Timestamp? = nil, dismissedBy: String? = nil, dismissedAt: Timestamp? = nil
    ) {
        self.id = id; self.seq = seq; self.taskID = taskID; self.project = project; self.module = module
        self.resourceID = resourceID; self.attempt = attempt; self.status = status; self.trigger = trigger
        self.performedBy = performedBy; self.slot = slot; self.scheduledAt = scheduledAt; self.startedAt = startedAt
        self.finishedAt = finishedAt; self.canceledAt = canceledAt; self.priority = priority; self.queue = queue; self.updatedAt = updatedAt
        self.progress = progress; self.result = result; self.error = error; self.node = node
        self.leaseExpiresAt = leaseExpiresAt; self.dismissedBy = dismissedBy; self.dismissedAt = dismissedAt
    }
}

/// How far a run has got, as its module last reported.
public struct RunProgress: Sendable, Hashable {
    public var percent: Double?
    public var message: String?
    public init(percent: Double? = nil, message: String? = nil) { self.percent = percent; self.message = message }
}

/// Why a run failed: a stable machine `code` (`exit_code`, `timeout`, `lease_expired`,
/// `unknown_module`, `invalid_params`, `module_error`) and a message for people.
public struct RunError: Sendable, Hashable, Error {
    public var code: String
    public var message: String
    public init(code: String, message: String) { self.code = code; self.message = message }

    public static let leaseExpiredCode = "lease_expired"
}

/// A line a run writes to its log.
public struct LogEntry: Sendable, Hashable {
    public enum Level: String, Sendable, CaseIterable { case debug, info, warning, error }

    public var runID: String
    public var idx: Int64
    public var level: Level
    public var message: String
    public var progressPercent: Double?
    public var timestamp: Timestamp

    public init(runID: String, idx: Int64, level: Level, message: String, progressPercent: Double? = nil, timestamp: Timestamp) {
        self.runID = runID; self.idx = idx; self.level = level; self.message = message
        self.progressPercent = progressPercent; self.timestamp = timestamp
    }
}
