public import OrreryCore

/// Which runs a live stream follows (`GET /v1/stream`): the filters of `GET /v1/runs` that
/// can be decided on one run as it changes. Empty sets and nil mean "any".
public struct RunFeedFilter: Sendable {
    /// The project the stream is confined to: the caller's for viewers and operators (they
    /// never see another project's runs), any or the one named for admins.
    public var project: String?
    public var taskIDs: Set<String> = []
    /// Runs named by id: the stream starts with their current state and their log so far.
    public var runIDs: [String] = []
    /// Run events only for runs in one of these statuses (log lines are not filtered by it:
    /// a run writes its log while `active`).
    public var statuses: Set<RunStatus> = []
    public var modules: Set<String> = []
    public var resourceID: String?
    public var triggers: Set<RunTrigger> = []
    /// Whether log lines of the followed runs are sent.
    public var logs = true

    public init() {}

    /// Whether `run` is one this stream follows (every filter but `statuses`).
    public func follows(_ run: TaskRun) -> Bool {
        (project == nil || run.project == project)
            && (taskIDs.isEmpty || taskIDs.contains(run.taskID))
            && (runIDs.isEmpty || runIDs.contains(run.id))
            && (modules.isEmpty || modules.contains(run.module))
            && (resourceID == nil || run.resourceID == resourceID)
            && (triggers.isEmpty || triggers.contains(run.trigger))
    }

    /// Whether a change of `run` is sent as a run event.
    public func matches(_ run: TaskRun) -> Bool {
        follows(run) && (statuses.isEmpty || statuses.contains(run.status))
    }

    /// The one run a stream follows, when it names exactly one: its event ids then also carry
    /// its log position, so a resumed stream continues its log without a gap or a repeat.
    var singleRun: String? { runIDs.count == 1 ? runIDs[0] : nil }
}

/// What a live stream sends, in order.
public enum RunFeedEvent: Sendable, Equatable {
    /// A run's whole current state after a change (the same JSON as `GET /v1/runs/{id}`).
    case run(TaskRun, position: StreamPosition)
    /// A line a followed run wrote.
    case log(LogEntry, position: StreamPosition)
    /// Nothing happened for a while: proxies must keep the connection open.
    case heartbeat
    /// The stream could not replay everything since `Last-Event-ID` (too much changed, or
    /// the client fell too far behind): list what it needs again, then read on.
    case reset(reason: String)
}

/// Where a stream stands, sent as each event's `id` and read back from `Last-Event-ID`:
/// the newest change the server had read (microseconds of `updated_at`), and for a stream of
/// one run the index of that run's next log line. Clients treat it as opaque.
public struct StreamPosition: Sendable, Hashable {
    public var changedAt: Timestamp
    public var nextLogIndex: Int64?

    public init(changedAt: Timestamp, nextLogIndex: Int64? = nil) {
        self.changedAt = changedAt
        self.nextLogIndex = nextLogIndex
    }

    /// `"<µs>"` or `"<µs>.<next log index>"`.
    public var eventID: String {
        nextLogIndex.map { "\(changedAt.microseconds).\($0)" } ?? "\(changedAt.microseconds)"
    }

    /// Parses an event id this server sent; anything else is nil (and refused by name).
    public init?(eventID: String) {
        let parts = eventID.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let micros = Int64(parts[0]), micros >= 0 else { return nil }
        changedAt = Timestamp(microseconds: micros)
        if parts.count == 2 {
            guard let idx = Int64(parts[1]), idx >= 0 else { return nil }
            nextLogIndex = idx
        } else {
            nextLogIndex = nil
        }
    }
}
