/// The task and run records the API reads and writes. Implemented by `SQLiteStore`
/// (and later a PostgreSQL store); every method is one transaction.
public protocol TaskStore: Sendable {
    /// Inserts tasks with their first runs (nil: the task has nothing to fire yet).
    func createTasks(_ tasks: [(task: ScheduledTask, firstRun: TaskRun?)]) async throws -> [ScheduledTask]
    /// Inserts a task with its first run and remembers `key` in the same transaction. When
    /// the key was used before with the same request, nothing is inserted and the task that
    /// request created is returned with `replayed: true`; with another request it is a `.conflict`.
    func createTask(_ task: ScheduledTask, firstRun: TaskRun?, idempotencyKey key: IdempotencyKey) async throws -> (task: ScheduledTask, replayed: Bool)
    func task(id: String, project: String?) async throws -> ScheduledTask
    func listTasks(_ filter: TaskFilter) async throws -> Page<ScheduledTask>
    /// Replaces a task when its stored version equals `expectedVersion` (else `.versionMismatch`).
    /// When `reschedule` is given, pending schedule runs are replaced by it (the slot's
    /// uniqueness still holds: a slot that already fired is not inserted again).
    func updateTask(_ task: ScheduledTask, expectedVersion: Int64, reschedule: Reschedule?) async throws -> ScheduledTask
    /// Marks a task deleted and drops its pending runs; history stays readable. With
    /// `expectedVersion` (`If-Match`), a task at another version is a `.versionMismatch`,
    /// compared inside the same transaction as the delete.
    func deleteTask(id: String, project: String?, expectedVersion: Int64?, now: Timestamp) async throws

    func insertRun(_ run: TaskRun) async throws -> TaskRun
    func run(id: String, project: String?) async throws -> TaskRun
    func listRuns(_ filter: RunFilter) async throws -> Page<TaskRun>
    func logs(runID: String, offset: Int, limit: Int) async throws -> [LogEntry]
    /// Cancels a scheduled run at once; for an active run records the request and returns it
    /// still active. A finished run is an `.illegalTransition`.
    func cancel(runID: String, project: String?, now: Timestamp) async throws -> TaskRun
    /// Hides a finished run from default listings.
    func dismiss(runID: String, project: String?, by: String?, now: Timestamp) async throws -> TaskRun

    func tokenRole(hash: String, now: Timestamp) async throws -> TokenGrant?
    func insertToken(_ token: StoredToken) async throws
    func tokenCount() async throws -> Int
    /// Every token (never its secret), newest first.
    func listTokens() async throws -> [StoredToken]
    /// Revokes a token; unknown ids are `.notFound`.
    func revokeToken(id: String, now: Timestamp) async throws

    /// Adds a user; a taken name is a `.conflict`.
    func insertUser(_ user: StoredUser) async throws
    /// Every user, disabled ones too, oldest first.
    func listUsers() async throws -> [StoredUser]
    func user(name: String) async throws -> StoredUser
    /// Disables a user and revokes every token issued to them; unknown ids are `.notFound`.
    func disableUser(id: String, now: Timestamp) async throws
}

/// An `Idempotency-Key` sent with a create request (SPEC §6), scoped to a project.
public struct IdempotencyKey: Sendable, Equatable {
    public var project: String
    public var key: String
    /// A digest of the request: the same key with a different request is refused.
    public var requestHash: String
    public var createdAt: Timestamp
    public init(project: String, key: String, requestHash: String, createdAt: Timestamp) {
        self.project = project; self.key = key; self.requestHash = requestHash; self.createdAt = createdAt
    }
}

/// Someone who calls the API: a name with a role in one project (admins act in all).
/// Tokens issued to a user carry its name as `performed_by`/`owner` and die with it.
public struct StoredUser: Sendable, Equatable {
    public var id: String
    public var name: String
    public var role: String
    public var project: String
    public var createdAt: Timestamp
    public var disabledAt: Timestamp?
    public init(id: String, name: String, role: String, project: String, createdAt: Timestamp, disabledAt: Timestamp? = nil) {
        self.id = id; self.name = name; self.role = role; self.project = project; self.createdAt = createdAt
        self.disabledAt = disabledAt
    }
}

/// What a token may do (SPEC §6): read; manage tasks and runs; everything. `worker` (an
/// external worker, SPEC §4) ranks below `viewer`: it may only claim and finish runs of the
/// modules it serves, and read nothing.
public enum Role: String, Sendable, CaseIterable, Comparable {
    case worker, viewer, `operator`, admin
    public static func < (a: Role, b: Role) -> Bool { allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)! }
}

/// Whether and how a task update replaces the task's pending schedule runs.
public enum Reschedule: Sendable {
    /// Drop pending schedule runs (the task was paused or its schedule ended).
    case clear
    /// Drop pending schedule runs and insert this one.
    case replace(with: TaskRun)
}

/// What the engine does to runs (Oban's engine verbs): claim, finish, renew, rescue.
public protocol RunQueue: Sendable {
    /// Moves up to `limit` runs due by `dueBy` to `active` under a lease held by `node`,
    /// highest priority then earliest first, materializing each recurring task's next run.
    /// `dueBy` may lie a little after `now` (the dispatcher claims ahead, then starts each run
    /// at its time): a run's `started_at` is `ClaimPlan.startedAt(of:now:)`.
    func claimDue(limit: Int, now: Timestamp, dueBy: Timestamp, node: String, leaseUntil: Timestamp, limits: ClaimLimits) async throws -> [ClaimedRun]
    /// How many claims may usefully run at once (different due runs each, never one twice):
    /// 1 for a store with one writer; more where claims lock rows and skip locked ones.
    var concurrentClaims: Int { get }
    /// The earliest `scheduled_at` among scheduled runs not in a full queue or module, for
    /// the dispatcher's sleep.
    func nextDueTime(limits: ClaimLimits) async throws -> Timestamp?
    /// How many scheduled runs (not held) are due by `dueBy`: each priority level's range of
    /// due entries in the claim's index, never the future runs behind them. The dispatcher
    /// asks it for the runs due together at the next due time, to claim a burst early enough.
    func dueCount(by dueBy: Timestamp) async throws -> Int
    /// Writes logs, progress and ends in one transaction (group commit).
    func record(_ batch: RecordBatch, node: String, now: Timestamp) async throws -> RecordSummary
    /// Extends the leases of the active runs `runIDs` that `node` holds. Only runs the node
    /// knows it holds: a claim whose answer was lost (the connection dropped at commit) left
    /// runs under its name that nothing executes; their leases lapse and they are rescued.
    /// Returns those of them whose cancellation was asked (through any node): the node
    /// executing them stops their work, even when the request's notice was lost.
    /// `expiringBefore`: only leases ending before it are extended (a lease taken or renewed
    /// moments ago is left as it is, and nothing is written for it); nil renews all.
    @discardableResult
    func renewLeases(node: String, runIDs: [String], until: Timestamp, expiringBefore: Timestamp?) async throws -> [String]
    /// Ends runs whose lease lapsed before `expiredBefore` (not held by `exceptNode`):
    /// retried per policy or failed with `lease_expired`, canceled if a cancel was asked.
    func rescueExpired(expiredBefore: Timestamp, exceptNode: String?, now: Timestamp) async throws -> RecordSummary
}

/// Deletes old history (SPEC §4 retention). Separate from `RunQueue`: a store may lack it.
public protocol PruningStore: Sendable {
    /// Deletes up to `limit` finished runs (and their logs) that finished before `finishedBefore`.
    /// Returns how many were deleted; call again until it returns less than `limit`.
    func pruneFinished(before finishedBefore: Timestamp, limit: Int) async throws -> Int
    /// For tasks after `afterTaskSeq` (at most `taskLimit` of them), deletes finished runs
    /// beyond the newest `keep`. Returns the runs deleted and the last task seq visited
    /// (nil when every task has been visited).
    func pruneBeyondNewest(_ keep: Int, afterTaskSeq: Int64, taskLimit: Int) async throws -> (deleted: Int, lastTaskSeq: Int64?)
    /// Forgets up to `limit` idempotency keys used before `createdBefore` (the same key then
    /// creates a new task). Returns how many were forgotten.
    func pruneIdempotencyKeys(before createdBefore: Timestamp, limit: Int) async throws -> Int
}

public typealias OrreryStore = TaskStore & RunQueue & EventStore

extension RunQueue {
    /// The runs due by `now`.
    public func claimDue(limit: Int, now: Timestamp, node: String, leaseUntil: Timestamp, limits: ClaimLimits = .none) async throws -> [ClaimedRun] {
        try await claimDue(limit: limit, now: now, dueBy: now, node: node, leaseUntil: leaseUntil, limits: limits)
    }

    public func nextDueTime() async throws -> Timestamp? { try await nextDueTime(limits: .none) }

    public var concurrentClaims: Int { 1 }

    /// Renews every one of the leases.
    @discardableResult
    public func renewLeases(node: String, runIDs: [String], until: Timestamp) async throws -> [String] {
        try await renewLeases(node: node, runIDs: runIDs, until: until, expiringBefore: nil)
    }
}

/// Free slots in limited queues and modules at claim time (SPEC §4: per-queue and per-module
/// limits under the global one). Runs of a full queue or module are left for later, and do
/// not stand in the way of other queues' runs.
public struct ClaimLimits: Sendable, Equatable {
    /// Free slots per limited queue; queues not listed are limited only by the global limit.
    public var queueRoom: [String: Int]
    /// Free slots per limited module.
    public var moduleRoom: [String: Int]
    /// When set, only runs of these modules are claimed (an external worker's claim).
    public var onlyModules: [String]?
    /// When set, only runs of this project are claimed (a worker token acts in one project).
    public var onlyProject: String?

    public init(queueRoom: [String: Int] = [:], moduleRoom: [String: Int] = [:], onlyModules: [String]? = nil, onlyProject: String? = nil) {
        self.queueRoom = queueRoom
        self.moduleRoom = moduleRoom
        self.onlyModules = onlyModules
        self.onlyProject = onlyProject
    }

    public static let none = ClaimLimits()

    public var fullQueues: [String] { queueRoom.filter { $0.value <= 0 }.map(\.key).sorted() }
    public var fullModules: [String] { moduleRoom.filter { $0.value <= 0 }.map(\.key).sorted() }

    /// The runs (in the order given) that fit the free slots.
    public func admit(_ runs: [TaskRun]) -> [TaskRun] {
        guard !queueRoom.isEmpty || !moduleRoom.isEmpty else { return runs }
        var queues = queueRoom, modules = moduleRoom
        return runs.filter { run in
            if let room = queues[run.queue], room <= 0 { return false }
            if let room = modules[run.module], room <= 0 { return false }
            if queues[run.queue] != nil { queues[run.queue]! -= 1 }
            if modules[run.module] != nil { modules[run.module]! -= 1 }
            return true
        }
    }
}

/// A claimed run and what its module needs.
public struct ClaimedRun: Sendable {
    public var run: TaskRun
    /// The task's params as stored JSON text; decoded only by modules that read them.
    public var paramsJSON: String
    public var timeoutSec: Int64?
    /// Active runs of the same task this run replaces (`overlap: replace`): asked to stop.
    public var replaces: [String]
    /// The event that fired the run (`trigger: event`), for its module.
    public var event: RunEvent?
    public init(run: TaskRun, paramsJSON: String, timeoutSec: Int64?, replaces: [String] = [], event: RunEvent? = nil) {
        self.run = run
        self.paramsJSON = paramsJSON
        self.timeoutSec = timeoutSec
        self.replaces = replaces
        self.event = event
    }
}

/// How an active run ended.
public struct RunOutcome: Sendable {
    public enum End: Sendable {
        case complete(result: JSONValue?)
        case failed(RunError)
        case canceled
        /// Handed back unfinished (graceful shutdown): scheduled again for another try.
        case handedBack
    }
    public var runID: String
    public var end: End
    public var at: Timestamp
    public init(runID: String, end: End, at: Timestamp) { self.runID = runID; self.end = end; self.at = at }
}

/// What the engine writes in one group commit.
public struct RecordBatch: Sendable {
    public var logs: [LogEntry] = []
    public var progress: [String: RunProgress] = [:]
    public var outcomes: [RunOutcome] = []
    public init(logs: [LogEntry] = [], progress: [String: RunProgress] = [:], outcomes: [RunOutcome] = []) {
        self.logs = logs
        self.progress = progress
        self.outcomes = outcomes
    }
    public var isEmpty: Bool { logs.isEmpty && progress.isEmpty && outcomes.isEmpty }
}

/// What a write did that the engine cares about.
public struct RecordSummary: Sendable, Equatable {
    /// Runs that ended (or were handed back).
    public var ended: Int = 0
    /// Retry runs scheduled: the dispatcher may need to wake earlier.
    public var retriesScheduled: Int = 0
    public init(ended: Int = 0, retriesScheduled: Int = 0) { self.ended = ended; self.retriesScheduled = retriesScheduled }
}

/// A page of a listing, with an opaque cursor for the next one.
public struct Page<Item: Sendable>: Sendable {
    public var items: [Item]
    public var nextCursor: String?
    /// How many items every page together holds; nil when the listing was asked not to count.
    public var totalCount: Int?
    public init(items: [Item], nextCursor: String?, totalCount: Int?) {
        self.items = items
        self.nextCursor = nextCursor
        self.totalCount = totalCount
    }
}

/// What `GET /v1/tasks` (and the profiles' task lists) may filter on. Every filter given
/// must match; empty lists and nil mean "any". Listings are ordered by `seq` (creation).
public struct TaskFilter: Sendable {
    /// nil: every project (admins).
    public var project: String?
    /// The stable integer id (profile 001 addresses tasks by it).
    public var seq: Int64?
    public var module: String?
    public var resourceID: String?
    public var lastStatus: [RunStatus] = []
    public var enabled: Bool?
    /// Exact name.
    public var name: String?
    /// Case-insensitive substring of the name.
    public var nameContains: String?
    /// Schedule kinds: `once`, `interval`, `cron`, `calendar`, `trigger`.
    public var scheduleTypes: [String] = []
    /// Trigger tasks fired by this event.
    public var triggerEvent: String?
    /// Every pair must be among the task's labels.
    public var labels: [String: String] = [:]
    public var owner: String?
    /// Deleted tasks too (their history stays readable).
    public var includeDeleted = false
    public var limit: Int = 100
    /// An opaque keyset cursor from a previous page.
    public var cursor: String?
    /// Rows to skip (profiles with offset paging); prefer `cursor`, which stays fast on deep pages.
    public var offset: Int = 0
    /// Count every match (`total_count`). Counting costs in proportion to the matches; a page
    /// alone costs in proportion to its size, at any depth.
    public var countTotal = true
    public init() {}
}

/// What `GET /v1/runs` (and the profiles' run lists) may filter on. Listings are newest
/// first (by `seq`, descending), a stable order that keyset cursors follow.
public struct RunFilter: Sendable {
    /// nil: every project (admins).
    public var project: String?
    public var taskID: String?
    public var module: String?
    public var resourceID: String?
    public var statuses: [RunStatus] = []
    public var triggers: [RunTrigger] = []
    /// Runs of tasks carrying every one of these labels.
    public var labels: [String: String] = [:]
    public var performedBy: String?
    public var scheduledBefore: Timestamp?
    public var scheduledAfter: Timestamp?
    public var startedBefore: Timestamp?
    public var startedAfter: Timestamp?
    public var finishedBefore: Timestamp?
    public var finishedAfter: Timestamp?
    /// Synapse's `timestamp`: `scheduled_at` for a scheduled run, else its last change.
    public var timestampBefore: Timestamp?
    /// nil: not dismissed only (the default listing); true: dismissed only; false: not dismissed.
    public var dismissed: Bool?
    public var includeDismissed = false
    public var limit: Int = 100
    public var cursor: String?
    public var offset: Int = 0
    /// Count every match (`total_count`); see `TaskFilter.countTotal`.
    public var countTotal = true
    public init() {}
}

/// A stored API token: only its SHA-256 hash is kept.
public struct StoredToken: Sendable {
    public var id: String
    public var hash: String
    public var name: String
    public var role: String
    public var project: String
    public var createdAt: Timestamp
    public var expiresAt: Timestamp?
    public var revokedAt: Timestamp?
    /// The user the token was issued to (its `name` is then the user's name).
    public var userID: String?
    /// Rights beyond the role (`shell`): modules with a `required_right` need it.
    public var rights: [String]
    /// The secret's first characters, to tell tokens apart in lists (never enough to use).
    public var prefix: String?
    public init(
        id: String, hash: String, name: String, role: String, project: String, createdAt: Timestamp,
        expiresAt: Timestamp? = nil, userID: String? = nil, rights: [String] = [], prefix: String? = nil
    ) {
        self.id = id; self.hash = hash; self.name = name; self.role = role; self.project = project
        self.createdAt = createdAt; self.expiresAt = expiresAt; self.userID = userID; self.rights = rights
        self.prefix = prefix
    }

    /// What of `secret` may be shown: 8 characters of a generated token (`orr_` and 4 of its
    /// 43 random ones), fewer of a short one chosen by hand.
    public static func prefix(of secret: String) -> String { String(secret.prefix(secret.count >= 32 ? 8 : secret.count / 4)) }
}

extension StoredToken {
    /// Rights as stores keep them: a JSON array of names.
    public static func rights(fromStoredJSON text: String) -> [String] {
        ((try? JSONValue.parse(Array(text.utf8)))?.arrayValue ?? []).compactMap(\.stringValue)
    }

    public var rightsJSON: String { JSONValue.array(rights.map(JSONValue.string)).jsonText }
}

/// Who a valid token speaks for.
public struct TokenGrant: Sendable, Equatable {
    public var tokenID: String
    public var name: String
    public var role: String
    public var project: String
    public var rights: [String]
    /// When the token stops working by itself (nil: never); a cached grant is not used past it.
    public var expiresAt: Timestamp?
    public init(tokenID: String, name: String, role: String, project: String, rights: [String] = [], expiresAt: Timestamp? = nil) {
        self.tokenID = tokenID; self.name = name; self.role = role; self.project = project; self.rights = rights
        self.expiresAt = expiresAt
    }
}
