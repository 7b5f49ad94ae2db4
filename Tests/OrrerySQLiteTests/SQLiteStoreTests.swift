import Foundation
import OrreryCore
import OrrerySQLite
import OrreryTesting
import Testing

@Suite("SQLite store", .timeLimit(.minutes(5)))
struct SQLiteStoreTests {
    let t0 = Timestamp(rfc3339: "2026-03-01T12:00:00Z")!

    @Test("many concurrent writers, in this process and another connection, never see 'database is locked'")
    func concurrentWriters() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let store = try Fixtures.store(in: dir, exclusive: true)
        let other = try Fixtures.store(in: dir)  // as `orrery token create` would open it
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<40 {
                let target = i % 4 == 0 ? other : store
                group.addTask {
                    for j in 0..<10 {
                        let task = Fixtures.task("w\(i)-\(j)", schedule: Schedule(.once(at: t0)), at: t0)
                        try await Fixtures.create([task], in: target, now: t0)
                    }
                }
            }
            group.addTask {
                for _ in 0..<50 {
                    let claimed = try await store.claimDue(limit: 20, now: t0, node: "n1", leaseUntil: t0.adding(seconds: 30))
                    _ = try await store.record(RecordBatch(outcomes: claimed.map { RunOutcome(runID: $0.run.id, end: .complete(result: nil), at: t0) }), node: "n1", now: t0)
                }
            }
            try await group.waitForAll()
        }
        #expect(try await store.listTasks(TaskFilter()).totalCount == 400)
    }

    @Test("reads by id beside many concurrent listings never stop the process (they do not wait on the listings' readers)")
    func pointReadsBesideListings() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let store = try Fixtures.store(in: dir, exclusive: true)
        let tasks = (0..<20).map { Fixtures.task("p\($0)", schedule: Schedule(.once(at: t0)), at: t0) }
        try await Fixtures.create(tasks, in: store, now: t0)
        // A deadlock here stops every task in the process, the time limit's included: in CI,
        // scripts/with-deadline then prints every thread's stack and fails the run.
        // Far more tasks than the pool's five readers and the concurrency pool's threads.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<64 {
                group.addTask {
                    for j in 0..<20 {
                        if (i + j) % 2 == 0 {
                            _ = try await store.listRuns(RunFilter())
                        } else {
                            let task = try await store.task(id: tasks[j % tasks.count].id, project: nil)
                            #expect(task.id == tasks[j % tasks.count].id)
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    @Test("only one process may serve a database file")
    func exclusiveLock() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let first = try Fixtures.store(in: dir, exclusive: true)
        #expect(throws: OrreryError.self) { try Fixtures.store(in: dir, exclusive: true) }
        _ = first
    }
}
