import Foundation
import OrreryCore
import OrreryPostgres
import OrrerySQLite
import OrreryTesting
import Testing

/// A store written by the first release (only its first migration applied, rows as that
/// schema held them) opened by today's code: every later migration applies, the old rows
/// read back whole, and what later migrations added (run queues, held runs, users, token
/// rights, idempotency keys) works on them.
@Suite("Migration upgrade from the first schema", .timeLimit(.minutes(5)))
struct MigrationUpgradeTests {
    /// The rows, at a time relative to now: a recurring task, a due run, a finished run with a
    /// log line, an admin token.
    struct Fixture {
        let now = Timestamp(secondsSinceEpoch: Date().timeIntervalSince1970)
        let task: ScheduledTask
        let tokenHash = "hash-of-a-token-from-the-first-release"

        init() {
            var task = Fixtures.task("from-v1", schedule: Schedule(.interval(everySec: 60)), at: now)
            task.labels = ["team": "ops"]
            self.task = task
        }

        /// Values in the order of `columns`, as SQL literals (test text only).
        func insertStatements(enabled: String) -> [String] {
            func text(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "''") + "'" }
            let t = task, µ = { (ts: Timestamp) in String(ts.microseconds) }
            let due = now.adding(seconds: -5), done = now.adding(seconds: -65)
            return [
                """
                INSERT INTO tasks (id, project, name, description, module, params, resource_id, labels, schedule, schedule_type,
                    enabled, queue, priority, timeout_sec, retry, overlap, misfire, notify, owner, created_at, updated_at, version,
                    last_status, last_run_at)
                VALUES (\(text(t.id)), 'default', \(text(t.name)), 'made by v1', 'noop', '{}', 'vm-1',
                    \(text(JSONValue.object(t.labels.mapValues { .string($0) }).jsonText)), \(text(t.schedule.json.jsonText)),
                    \(text(t.schedule.typeName)), \(enabled), 'default', 0, NULL, \(text(t.retry.json.jsonText)), 'skip',
                    \(text(t.misfire.json.jsonText)), NULL, NULL, \(µ(done)), \(µ(done)), 1, 'complete', \(µ(done)))
                """,
                """
                INSERT INTO runs (id, task_id, project, module, resource_id, attempt, status, trigger, slot, scheduled_at,
                    started_at, finished_at, updated_at, priority, result, node)
                VALUES ('run-done', \(text(t.id)), 'default', 'noop', 'vm-1', 1, 'complete', 'schedule', \(µ(done)), \(µ(done)),
                    \(µ(done)), \(µ(done.adding(seconds: 1))), \(µ(done.adding(seconds: 1))), 0, '{"ok":true}', 'old-node')
                """,
                """
                INSERT INTO runs (id, task_id, project, module, resource_id, attempt, status, trigger, slot, scheduled_at, updated_at, priority)
                VALUES ('run-due', \(text(t.id)), 'default', 'noop', 'vm-1', 1, 'scheduled', 'schedule', \(µ(due)), \(µ(due)), \(µ(done)), 0)
                """,
                // A manual run that failed, after run-done, and its retry, which waits: the
                // task's last status stays run-done's.
                """
                INSERT INTO runs (id, task_id, project, module, resource_id, attempt, status, trigger, scheduled_at,
                    started_at, finished_at, updated_at, priority)
                VALUES ('run-failed', \(text(t.id)), 'default', 'noop', 'vm-1', 1, 'failed', 'manual', \(µ(done.adding(seconds: 10))),
                    \(µ(done.adding(seconds: 10))), \(µ(done.adding(seconds: 11))), \(µ(done.adding(seconds: 11))), 0)
                """,
                """
                INSERT INTO runs (id, task_id, project, module, resource_id, attempt, status, trigger, scheduled_at, updated_at, priority)
                VALUES ('run-retry', \(text(t.id)), 'default', 'noop', 'vm-1', 2, 'scheduled', 'retry', \(µ(now.adding(seconds: 300))),
                    \(µ(done.adding(seconds: 11))), 0)
                """,
                """
                INSERT INTO run_logs (run_id, idx, level, msg, timestamp) VALUES ('run-done', 0, 'info', 'hello from v1', \(µ(done)))
                """,
                """
                INSERT INTO tokens (id, hash, name, role, project, created_at) VALUES ('tok-v1', \(text(tokenHash)), 'admin', 'admin', 'default', \(µ(done)))
                """,
            ]
        }

        /// What today's code must read, and do, on the upgraded store.
        func checkUpgraded(_ store: any ConformingStore & InspectableStore) async throws {
            #expect(try await store.pendingMigrations().isEmpty, "every later migration applied")
            let read = try await store.task(id: task.id, project: nil)
            #expect(read.name == "from-v1" && read.description == "made by v1" && read.labels == ["team": "ops"] && read.resourceID == "vm-1")
            #expect(read.schedule.json == task.schedule.json && read.version == 1 && read.enabled)
            let done = try await store.run(id: "run-done", project: nil)
            #expect(done.status == .complete && done.result == .object(["ok": .bool(true)]) && done.queue == "default")
            #expect(try await store.logs(runID: "run-done", offset: 0, limit: 10).map(\.message) == ["hello from v1"])
            #expect(read.nextRunAt == now.adding(seconds: -5), "the old scheduled run is the task's next run")
            #expect(read.lastStatus == .complete && read.lastRunAt == now.adding(seconds: -65), "a failure whose retry waits is not the last run")
            let grant = try #require(try await store.tokenRole(hash: tokenHash, now: now))
            #expect(grant.role == "admin" && grant.rights.isEmpty, "a v1 token has no rights beyond its role")

            // The old due run is claimable (later columns defaulted: not held, queue "default")
            // and ends; a new run of the old task takes the queue column.
            let claimed = try await store.claimDue(limit: 10, now: now, node: "new-node", leaseUntil: now.adding(seconds: 60))
            #expect(claimed.map(\.run.id).contains("run-due"), "claimed: \(claimed.map(\.run.id))")
            // Users, token rights and idempotency keys (later migrations) work beside old rows.
            try await store.insertUser(StoredUser(id: "u1", name: "alice", role: "operator", project: "default", createdAt: now))
            try await store.insertToken(StoredToken(
                id: "tok-new", hash: "hash-of-a-new-token", name: "alice's", role: "operator", project: "default", createdAt: now,
                userID: "u1", rights: ["shell"]))
            let newGrant = try #require(try await store.tokenRole(hash: "hash-of-a-new-token", now: now))
            #expect(newGrant.rights == ["shell"])
            let key = IdempotencyKey(project: "default", key: "k1", requestHash: "h", createdAt: now)
            let second = Fixtures.task("after-upgrade", schedule: Schedule(.interval(everySec: 60)), at: now)
            let (created, replayed) = try await store.createTask(second, firstRun: second.firstRun(now: now, id: "run-new"), idempotencyKey: key)
            #expect(!replayed)
            #expect(try await store.createTask(second, firstRun: nil, idempotencyKey: key).replayed, "the key is remembered")
            #expect(try await store.listTasks(TaskFilter()).items.map(\.id).sorted() == [task.id, created.id].sorted())
        }
    }

    @Test("a SQLite file at the first schema version opens with today's code, its data whole and the new columns working")
    func sqlite() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let fixture = Fixture()
        let first = try #require(SQLiteStore.migrationNames.first)
        try SQLiteStore.makeDatabase(at: dir.file("orrery.sqlite"), migratedThrough: first,
                                     then: fixture.insertStatements(enabled: "1").joined(separator: ";\n"))
        let store = try SQLiteStore(path: dir.file("orrery.sqlite"))
        #expect(try store.appliedMigrations() == SQLiteStore.migrationNames)
        try await fixture.checkUpgraded(store)
    }

    @Test("a PostgreSQL database at the first schema version opens with today's code, its data whole and the new columns working",
          .enabled(if: Prerequisite.postgresRuns, "needs ORRERY_TEST_POSTGRES_URL (./scripts/test sets it; CI=true fails without it)"))
    func postgres() async throws {
        try await StoreKind.withFreshDatabase { url in
            let fixture = Fixture()
            let first = try #require(PostgresStore.migrationNames.first)
            try await PostgresStore.makeDatabase(url: url, migratedThrough: first, then: fixture.insertStatements(enabled: "true"))
            let store = try await PostgresStore.connect(url: url)
            defer { store.close() }
            #expect(try await store.migrate() == PostgresStore.migrationNames)
            try await fixture.checkUpgraded(store)
        }
    }
}
