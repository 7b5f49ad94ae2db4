/// What the live event stream (`GET /v1/stream`) reads from a store: runs that changed since
/// a point, and new log lines of the runs it follows. Separate from `TaskStore` (a store may
/// lack it, as `PruningStore`). It reads the store rather than in-process signals so that a
/// run executing on another node sharing PostgreSQL is seen too.
public protocol RunChangeFeed: Sendable {
    /// Runs whose `updated_at` is after `position` (by `updated_at`, then `seq`), oldest change
    /// first, at most `limit`. Every run write sets `updated_at`; an index on
    /// `(updated_at, seq)` keeps this a range scan whatever the history.
    func runsChanged(after position: ChangePosition, limit: Int) async throws -> [TaskRun]
    /// Log lines of several runs in one call: for each run, lines from index `positions[run]` on,
    /// ordered by run then index, at most `limit` in all.
    func logs(from positions: [String: Int64], limit: Int) async throws -> [LogEntry]
    /// The index the next log line of each run will have (0 when it has none yet).
    func logEnds(runIDs: [String]) async throws -> [String: Int64]
}

/// A point in the change order of runs: `updated_at`, then `seq` among runs changed in the
/// same microsecond (a group commit ends many runs at one `now`).
public struct ChangePosition: Sendable, Hashable, Comparable {
    public var updatedAt: Timestamp
    public var seq: Int64

    public init(updatedAt: Timestamp, seq: Int64 = 0) {
        self.updatedAt = updatedAt
        self.seq = seq
    }

    /// The position just after `run`'s latest change.
    public init(after run: TaskRun) { self.init(updatedAt: run.updatedAt, seq: run.seq) }

    public static func < (a: ChangePosition, b: ChangePosition) -> Bool {
        (a.updatedAt, a.seq) < (b.updatedAt, b.seq)
    }
}
