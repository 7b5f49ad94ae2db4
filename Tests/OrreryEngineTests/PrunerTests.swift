import Foundation
import OrreryCore
import OrreryEngine
import OrrerySQLite
import OrreryTesting
import Testing

@Suite("Retention", .timeLimit(.minutes(5)))
struct PrunerTests {
    /// Finished runs of `task`, one per day for `days` days back from `now`, each with a log line.
    func history(_ store: SQLiteStore, task: ScheduledTask, days: Int, now: Timestamp) async throws {
        try await Fixtures.finishedRuns(of: task, at: (1...days).reversed().map { now.adding(seconds: -Int64($0) * 86_400) }, in: store)
    }

    @Test("runs finished before the retention period go, with their logs; newer ones and unfinished ones stay")
    func retention() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let store = try Fixtures.store(in: dir)
        let clock = ManualClock()
        let now = clock.now()
        let task = Fixtures.task(schedule: Schedule(.once(at: now.adding(seconds: 3600))), at: now)
        try await Fixtures.create([task], in: store, now: now)
        try await history(store, task: task, days: 10, now: now)
        var config = Pruner.Configuration()
        config.batchSize = 3  // several small transactions
        let oldest = try await store.listRuns({ var f = RunFilter(); f.statuses = [.complete]; f.limit = 1000; return f }()).items.last!
        #expect(try await Pruner(configuration: config, store: store, clock: clock).prune() == 3, "days 10, 9, 8 are older than 7 days")
        var filter = RunFilter()
        filter.taskID = task.id
        filter.limit = 1000
        let left = try await store.listRuns(filter).items
        #expect(left.filter { $0.status == .complete }.count == 7)
        #expect(left.contains { $0.status == .scheduled }, "the pending run is never pruned")
        #expect(try await store.logs(runID: oldest.id, offset: 0, limit: 10).isEmpty, "its log went with it")
    }

    @Test("a pass forgets idempotency keys older than the window (24 hours by default), not newer ones")
    func idempotencyWindow() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let store = try Fixtures.store(in: dir)
        let clock = ManualClock()
        let now = clock.now()
        for (name, age) in [("old", Int64(25 * 3_600)), ("new", Int64(23 * 3_600))] {
            let at = now.adding(seconds: -age)
            let task = Fixtures.task(name, schedule: Schedule(.once(at: now.adding(seconds: 3600))), at: at)
            _ = try await store.createTask(task, firstRun: nil, idempotencyKey: IdempotencyKey(project: "default", key: name, requestHash: name, createdAt: at))
        }
        _ = try await Pruner(configuration: Pruner.Configuration(), store: store, clock: clock).prune()
        let probe = Fixtures.task("probe", schedule: Schedule(.once(at: now.adding(seconds: 3600))), at: now)
        #expect(try await store.createTask(probe, firstRun: nil, idempotencyKey: IdempotencyKey(project: "default", key: "old", requestHash: "old", createdAt: now)).replayed == false)
        #expect(try await store.createTask(probe, firstRun: nil, idempotencyKey: IdempotencyKey(project: "default", key: "new", requestHash: "new", createdAt: now)).replayed)
    }

    @Test("beyond the newest N per task, older finished runs go")
    func keepNewest() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let store = try Fixtures.store(in: dir)
        let clock = ManualClock()
        let now = clock.now()
        let tasks = (0..<3).map { Fixtures.task("t\($0)", schedule: Schedule(.once(at: now.adding(seconds: 3600))), at: now) }
        try await Fixtures.create(tasks, in: store, now: now)
        for task in tasks { try await history(store, task: task, days: 5, now: now) }
        var config = Pruner.Configuration()
        config.retention = nil
        config.keepNewestPerTask = 2
        config.batchSize = 2  // two tasks per transaction: the walk must continue past the first batch
        #expect(try await Pruner(configuration: config, store: store, clock: clock).prune() == 9)
        for task in tasks {
            var filter = RunFilter()
            filter.taskID = task.id
            filter.statuses = [.complete]
            let kept = try await store.listRuns(filter).items
            #expect(kept.count == 2)
            #expect(kept.allSatisfy { $0.finishedAt! >= now.adding(seconds: -2 * 86_400) }, "the newest two")
        }
    }
}
