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

    /// Inserts tasks with their first runs, as the API would.
    @discardableResult
    public static func create(_ tasks: [ScheduledTask], in store: any TaskStore, now: Timestamp) async throws -> [ScheduledTask] {
        let ids = IDGenerator()
        return try await store.createTasks(tasks.map { ($0, $0.firstRun(now: now, id: ids.make(at: now))) })
    }
}
