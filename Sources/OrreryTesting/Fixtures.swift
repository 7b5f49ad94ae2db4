public import OrreryCore
public import OrrerySQLite

/// Small builders for tests: a store in a temp file, tasks with sensible defaults.
public enum Fixtures {
    public static func store(in dir: TemporaryDirectory, exclusive: Bool = false) throws -> SQLiteStore {
        try SQLiteStore(path: dir.file("orrery.sqlite"), options: .init(exclusive: exclusive))
    }

    public static func task(
        _ name: String = "t", module: String = "noop", params: JSONValue = .object([:]), schedule: Schedule,
        at now: Timestamp, retry: RetryPolicy = .none, priority: Int64 = 0, timeoutSec: Int64? = nil
    ) -> ScheduledTask {
        ScheduledTask(
            id: IDGenerator().make(at: now), name: name, module: module, params: params, schedule: schedule,
            priority: priority, timeoutSec: timeoutSec, retry: retry, createdAt: now)
    }

    /// A history of `task`: one manual run finished (complete, with a log line) at each of `times`,
    /// claimed and recorded through the store's own verbs.
    public static func finishedRuns(of task: ScheduledTask, at times: [Timestamp], in store: any TaskStore & RunQueue) async throws {
        for at in times {
            let run = try await store.insertRun(task.manualRun(id: IDGenerator().make(at: at), now: at, performedBy: nil))
            let claimed = try await store.claimDue(limit: 1, now: at, node: "history", leaseUntil: at.adding(seconds: 30))
            guard claimed.first?.run.id == run.id else { throw OrreryError(.conflict, "another run was due at \(at.rfc3339)") }
            _ = try await store.record(RecordBatch(
                logs: [LogEntry(runID: run.id, idx: 0, level: .info, message: "at \(at.rfc3339)", timestamp: at)],
                outcomes: [RunOutcome(runID: run.id, end: .complete(result: nil), at: at)]), node: "history", now: at)
        }
    }

    /// Inserts tasks with their first runs, as the API would.
    @discardableResult
    public static func create(_ tasks: [ScheduledTask], in store: any TaskStore, now: Timestamp) async throws -> [ScheduledTask] {
        let ids = IDGenerator()
        return try await store.createTasks(tasks.map { ($0, $0.firstRun(now: now, id: ids.make(at: now))) })
    }
}
