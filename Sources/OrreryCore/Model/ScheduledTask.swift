/// A definition of work (SPEC §1): which module runs, with what params, on what schedule,
/// under which policies. Called *task* in the API; `ScheduledTask` in code so it never
/// shadows Swift's `Task`.
public struct ScheduledTask: Sendable, Hashable {
    public var id: String
    /// A stable integer for profiles that address tasks by number (001).
    public var seq: Int64
    public var project: String
    public var name: String
    public var description: String?
    public var module: String
    /// The module's params, validated against its parameter schema.
    public var params: JSONValue
    public var resourceID: String?
    public var labels: [String: String]
    public var schedule: Schedule
    public var enabled: Bool
    public var queue: String
    public var priority: Int64
    public var timeoutSec: Int64?
    public var retry: RetryPolicy
    public var overlap: OverlapPolicy
    public var misfire: MisfirePolicy
    public var notify: JSONValue?
    public var owner: String?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
    public var version: Int64
    // Derived, kept current by the store.
    public var nextRunAt: Timestamp?
    public var lastRunAt: Timestamp?
    public var lastStatus: RunStatus?
    /// When the task was deleted (only listings that include deleted tasks show one).
    public var deletedAt: Timestamp?

    public init(
        id: String, seq: Int64 = 0, project: String = "default", name: String, description: String? = nil,
        module: String, params: JSONValue = .object([:]), resourceID: String? = nil, labels: [String: String] = [:],
        schedule: Schedule, enabled: Bool = true, queue: String = "default", priority: Int64 = 0,
        timeoutSec: Int64? = nil, retry: RetryPolicy = .none, overlap: OverlapPolicy = .skip,
        misfire: MisfirePolicy = MisfirePolicy(), notify: JSONValue? = nil, owner: String? = nil,
        createdAt: Timestamp, updatedAt: Timestamp? = nil, version: Int64 = 1,
        nextRunAt: Timestamp? = nil, lastRunAt: Timestamp? = nil, lastStatus: RunStatus? = nil,
        deletedAt: Timestamp? = nil
    ) {
        self.id = id; self.seq = seq; self.project = project; self.name = name; self.description = description
        self.module = module; self.params = params; self.resourceID = resourceID; self.labels = labels
        self.schedule = schedule; self.enabled = enabled; self.queue = queue; self.priority = priority
        self.timeoutSec = timeoutSec; self.retry = retry; self.overlap = overlap; self.misfire = misfire
        self.notify = notify; self.owner = owner; self.createdAt = createdAt; self.updatedAt = updatedAt ?? createdAt
        self.version = version; self.nextRunAt = nextRunAt; self.lastRunAt = lastRunAt; self.lastStatus = lastStatus
        self.deletedAt = deletedAt
    }

    /// The first run this task should have, given the time now; nil when it will never fire.
    /// A recurring schedule whose window began in the past starts at its first slot from
    /// now on (creating a task never produces catch-up runs); `once` keeps its time, even
    /// a past one (it runs at once).
    public func firstRun(now: Timestamp, id: String) -> TaskRun? {
        guard enabled else { return nil }
        let slot: Timestamp?
        if schedule.isRecurring {
            slot = schedule.nextFire(after: max(now, createdAt).adding(microseconds: -1), createdAt: createdAt)
        } else {
            slot = schedule.nextFire(after: nil, createdAt: createdAt)
        }
        return slot.map { scheduledRun(slot: $0, id: id, now: now) }
    }

    /// The run that fills `slot`, due at the slot plus the task's stable jitter, made at `now`
    /// (its `updated_at`: when the row last changed, never its due time).
    public func scheduledRun(slot: Timestamp, id: String, now: Timestamp) -> TaskRun {
        TaskRun(
            id: id, taskID: self.id, project: project, module: module, resourceID: resourceID,
            attempt: 1, status: .scheduled, trigger: .schedule, slot: slot,
            scheduledAt: slot.adding(microseconds: schedule.jitter(forTaskID: self.id)),
            priority: priority, queue: queue, updatedAt: now)
    }

    /// A run requested by hand ("run now").
    public func manualRun(id: String, now: Timestamp, performedBy: String?) -> TaskRun {
        TaskRun(
            id: id, taskID: self.id, project: project, module: module, resourceID: resourceID,
            attempt: 1, status: .scheduled, trigger: .manual, performedBy: performedBy,
            scheduledAt: now, priority: priority, queue: queue, updatedAt: now)
    }
}
