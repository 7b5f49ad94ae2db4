import Foundation
import Logging
import OrreryCore
@testable import OrreryPostgres
import PostgresNIO
import OrreryTesting
import ServiceLifecycle
import Synchronization
import Testing

/// What a store shared by several nodes (or processes) must guarantee: nothing claimed
/// twice, no slot fired twice, one first admin token, one leader, wake-ups between nodes.
@Suite("Shared store", .timeLimit(.minutes(5)))
struct SharedStoreTests {
    let t0 = Timestamp(rfc3339: "2026-03-01T12:00:00Z")!

    /// Outside CI, no server skips this (and every PostgreSQL case) with the reason; with
    /// `CI=true` it runs and fails, as does every PostgreSQL case of the store suites.
    /// The suite's time limit, not one minute: its fresh database is made while about a
    /// hundred others are (a loaded local pass took over a minute for it once).
    @Test("the PostgreSQL half of the store suites runs against a reachable server",
          .enabled(if: Prerequisite.postgresRuns, "no ORRERY_TEST_POSTGRES_URL: PostgreSQL cases are skipped (./scripts/test starts a server; CI=true fails instead)"))
    func postgresIsTested() async throws {
        try #require(StoreKind.postgresURL != nil, "ORRERY_TEST_POSTGRES_URL is not set: the PostgreSQL test server did not start")
        #expect(StoreKind.enabled.contains(.postgres))
        try await StoreKind.postgres.withStore { store in
            let tokens = try await store.tokenCount()
            #expect(tokens == 0)
        }
    }

    /// Issue 16: the pool is a service of the node's group, first in it, so the last to stop.
    /// A service after it writes to the database when told to stop (as the engine hands back
    /// its runs); that write lands, and then the pool closes every connection it had.
    @Test("the PostgreSQL pool stops with its service group, last, and leaves no session on the server",
          .enabled(if: Prerequisite.postgresRuns, "no PostgreSQL server (CI=true fails instead)"))
    func poolIsAService() async throws {
        let t0 = self.t0
        try await StoreKind.withFreshDatabase { url in
            let store = try await PostgresStore.connect(url: url, connectWait: StoreKind.testConnectWait)
            let observer = try await PostgresStore.connect(url: url, connectWait: StoreKind.testConnectWait)
            defer { observer.close() }
            @Sendable func sessionsOfOthers() async throws -> Int {
                try await observer.withConnection { connection in
                    try await connection.rows("""
                        SELECT count(*)::bigint FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
                        """, logger: observer.logger)[0][0].decode(Int64.self)
                }.asInt
            }
            _ = try await store.tokenCount()
            #expect(try await sessionsOfOthers() >= 1, "the store holds a connection while it runs")
            let lastWrite = WritesOnShutdown(store: store, task: Fixtures.task("written-on-shutdown", schedule: Schedule(.once(at: t0)), at: t0))
            let group = ServiceGroup(configuration: .init(services: [store, lastWrite], logger: Logger(label: "test")))
            let running = Task { try await group.run() }
            try await eventually("the last service started") { lastWrite.started.withLock { $0 } }
            await group.triggerGracefulShutdown()
            try await running.value
            #expect(lastWrite.outcome.withLock { $0 } == "written", "the pool was still open when the service after it stopped")
            #expect(try await observer.task(id: lastWrite.task.id, project: nil).name == "written-on-shutdown")
            // The pool has stopped: its backends are gone (the server ends them as it reads the
            // close) and the store answers as unreachable, not with a hang.
            try await eventually("no session of the stopped store on the server") { try await sessionsOfOthers() == 0 }
            do {
                _ = try await store.tokenCount()
                Issue.record("a closed store answered a call")
            } catch let error as OrreryError {
                #expect(error.code == .unavailable)
            }
        }
    }

    /// A claim locks its tasks, then (for `overlap: replace`) asks the task's active runs to
    /// stop, which waits for a run end in progress. So a run's end must take its tasks'
    /// locks before it writes the run: ending the run first and then waiting for the task
    /// the claim holds closed a cycle that PostgreSQL broke after its deadlock timeout by
    /// failing one of the two (the group commit or the claim).
    @Test("a run end and a claim replacing that run's task wait for each other in one order, not in a cycle",
          .enabled(if: Prerequisite.postgresRuns, "no PostgreSQL server (CI=true fails instead)"))
    func endAndReplacingClaim() async throws {
        let t0 = self.t0
        try await StoreKind.withFreshDatabase { url in
            let store = try await PostgresStore.connect(url: url, connectWait: StoreKind.testConnectWait)
            let claimer = try await PostgresStore.connect(url: url, connectWait: StoreKind.testConnectWait)
            defer { store.close(); claimer.close() }
            var task = Fixtures.task("replaced", schedule: Schedule(.once(at: t0)), at: t0)
            task.overlap = .replace
            try await Fixtures.create([task], in: store, now: t0)
            let run = try #require(try await store.claimDue(limit: 1, now: t0, node: "n1", leaseUntil: t0.adding(seconds: 30)).first?.run)
            let (taskID, runID, logger) = (task.id, run.id, store.logger)
            // The claim's side, by hand: its task locked first, then the active runs asked to
            // stop. A deadlock fails one side: the claim's statement or the end's `record`.
            let ending = try await claimer.transaction { connection in
                try await connection.execute("SELECT 1 FROM tasks WHERE id = \(taskID) FOR NO KEY UPDATE", logger: logger)
                let ending = Task {
                    try await store.record(
                        RecordBatch(outcomes: [RunOutcome(runID: runID, end: .complete(result: nil), at: t0)]), node: "n1", now: t0)
                }
                try await eventually("the run's end waits for the claim's lock") {
                    try await claimer.withConnection { observer in
                        try await observer.rows("""
                            SELECT count(*)::bigint FROM pg_stat_activity
                            WHERE datname = current_database() AND wait_event_type = 'Lock'
                            """, logger: logger)[0][0].decode(Int64.self)
                    } == 1
                }
                try await connection.execute("""
                    UPDATE runs SET cancel_requested_at = coalesce(cancel_requested_at, \(t0.microseconds))
                    WHERE task_id = \(taskID) AND status = 'active'
                    """, logger: logger)
                return ending
            }
            let summary = try await ending.value
            #expect(summary.ended == 1, "the run's end was written after the claim committed")
            #expect(try await store.run(id: runID, project: nil).status == .complete)
        }
    }

    /// Issue 16: a task's last run is read from its runs (migration v12), so claiming and ending
    /// runs makes no new version of their tasks' rows (a row's `xmin` is the transaction that
    /// wrote it; a lock leaves it as it is). Writing `last_status` at every end was the
    /// largest write a run made outside its own row (`Benchmarks/postgres.md`).
    @Test("claiming and ending runs write none of their tasks' rows, and the tasks show their last runs",
          .enabled(if: Prerequisite.postgresRuns, "no PostgreSQL server (CI=true fails instead)"))
    func endWritesNoTaskRow() async throws {
        let t0 = self.t0
        try await StoreKind.withFreshDatabase { url in
            let store = try await PostgresStore.connect(url: url, connectWait: StoreKind.testConnectWait)
            defer { store.close() }
            let tasks = (0..<3).map { Fixtures.task("t\($0)", schedule: Schedule(.once(at: t0)), at: t0) }
            try await Fixtures.create(tasks, in: store, now: t0)
            let logger = store.logger
            @Sendable func rowVersions() async throws -> [String] {
                try await store.withConnection { connection in
                    try await connection.rows("SELECT id || ' ' || xmin::text FROM tasks ORDER BY id", logger: logger)
                        .map { try $0[0].decode(String.self) }
                }
            }
            let before = try await rowVersions()
            let claimed = try await store.claimDue(limit: 10, now: t0, node: "n", leaseUntil: t0.adding(seconds: 30))
            #expect(claimed.count == 3)
            let failing = try #require(claimed.first).run.taskID
            _ = try await store.record(
                RecordBatch(outcomes: claimed.map { c in
                    RunOutcome(
                        runID: c.run.id, end: c.run.taskID == failing ? .failed(RunError(code: "module_error", message: "boom")) : .complete(result: nil),
                        at: t0.adding(seconds: 1))
                }),
                node: "n", now: t0.adding(seconds: 1))
            #expect(try await rowVersions() == before, "a task row was written by the claim or the end")
            for task in tasks {
                let read = try await store.task(id: task.id, project: nil)
                #expect(read.lastStatus == (task.id == failing ? .failed : .complete) && read.lastRunAt == t0)
            }
        }
    }

    @Test("three nodes claiming at once take every due run exactly once", arguments: StoreKind.enabled)
    func concurrentClaims(_ kind: StoreKind) async throws {
        let t0 = self.t0
        try await kind.withStores(3) { nodes in
            let tasks = (0..<600).map { i in Fixtures.task("t\(i)", schedule: Schedule(.once(at: t0)), at: t0) }
            try await Fixtures.create(tasks, in: nodes[0], now: t0)
            let claims = Shared<[String: [String]]>([:])
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (i, node) in nodes.enumerated() {
                    group.addTask {
                        while true {
                            let claimed = try await node.claimDue(limit: 25, now: t0, node: "n\(i)", leaseUntil: t0.adding(seconds: 30))
                            if claimed.isEmpty, try await node.nextDueTime() == nil { return }
                            claims.withLock { $0["n\(i)", default: []] += claimed.map(\.run.id) }
                            _ = try await node.record(
                                RecordBatch(outcomes: claimed.map { RunOutcome(runID: $0.run.id, end: .complete(result: nil), at: t0) }),
                                node: "n\(i)", now: t0)
                        }
                    }
                }
                try await group.waitForAll()
            }
            let all = claims.withLock { $0.values.flatMap { $0 } }
            #expect(all.count == 600 && Set(all).count == 600, "every run claimed once")
            var complete = RunFilter()
            complete.statuses = [.complete]
            #expect(try await nodes[1].listRuns(complete).totalCount == 600)
        }
    }

    @Test("a recurring task's slots fire once each while nodes claim it concurrently", arguments: StoreKind.enabled)
    func recurringSlotsOnce(_ kind: StoreKind) async throws {
        try await kind.withStores(3) { nodes in
            var task = Fixtures.task("every", schedule: Schedule(.interval(everySec: 1), startAt: t0), at: t0)
            task.overlap = .allow
            try await Fixtures.create([task], in: nodes[0], now: t0)
            let t0 = self.t0
            for second in 1...30 {
                let now = t0.adding(seconds: Int64(second))
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (i, node) in nodes.enumerated() {
                        group.addTask {
                            let claimed = try await node.claimDue(limit: 10, now: now, node: "n\(i)", leaseUntil: now.adding(seconds: 30))
                            _ = try await node.record(
                                RecordBatch(outcomes: claimed.map { RunOutcome(runID: $0.run.id, end: .complete(result: nil), at: now) }),
                                node: "n\(i)", now: now)
                        }
                    }
                    try await group.waitForAll()
                }
                // What the racing nodes left due (a successor inserted after their look) goes now.
                while case let claimed = try await nodes[0].claimDue(limit: 10, now: now, node: "n0", leaseUntil: now.adding(seconds: 30)), !claimed.isEmpty {
                    _ = try await nodes[0].record(
                        RecordBatch(outcomes: claimed.map { RunOutcome(runID: $0.run.id, end: .complete(result: nil), at: now) }),
                        node: "n0", now: now)
                }
            }
            var filter = RunFilter()
            filter.taskID = task.id
            filter.limit = 1000
            let runs = try await nodes[0].listRuns(filter).items
            let slots = runs.compactMap(\.slot)
            #expect(Set(slots).count == slots.count, "no slot twice")
            #expect(runs.filter { $0.status == .complete }.count == 31, "one run per elapsed slot, t0 to t0+30")
        }
    }

    @Test("a node renews only the leases of runs it names: a run claimed under its name that it does not know lapses", arguments: StoreKind.enabled)
    func renewNamedLeases(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let tasks = (0..<2).map { i in Fixtures.task("t\(i)", schedule: Schedule(.once(at: t0)), at: t0) }
            try await Fixtures.create(tasks, in: store, now: t0)
            let claimed = try await store.claimDue(limit: 10, now: t0, node: "n", leaseUntil: t0.adding(seconds: 30)).map(\.run.id)
            try await store.renewLeases(node: "n", runIDs: [claimed[0]], until: t0.adding(seconds: 60))
            try await store.renewLeases(node: "other", runIDs: [claimed[1]], until: t0.adding(seconds: 60))
            let summary = try await store.rescueExpired(expiredBefore: t0.adding(seconds: 31), exceptNode: nil, now: t0.adding(seconds: 31))
            #expect(summary.ended == 1)
            #expect(try await store.run(id: claimed[0], project: nil).status == .active)
            #expect(try await store.run(id: claimed[1], project: nil).error?.code == "lease_expired")
        }
    }

    @Test("nodes starting together make exactly one first admin token", arguments: StoreKind.enabled)
    func firstAdminOnce(_ kind: StoreKind) async throws {
        try await kind.withStores(4) { nodes in
            let t0 = self.t0
            let inserted = try await withThrowingTaskGroup(of: Bool.self) { group in
                for (i, node) in nodes.enumerated() {
                    group.addTask {
                        let bootstrap = try #require(node as? any TokenBootstrapStore)
                        return try await bootstrap.insertFirstAdminToken(StoredToken(
                            id: "tok\(i)", hash: "hash\(i)", name: "admin", role: "admin", project: "default", createdAt: t0))
                    }
                }
                return try await group.reduce(into: 0) { $0 += $1 ? 1 : 0 }
            }
            #expect(inserted == 1)
            #expect(try await nodes[0].listTokens().count == 1)
        }
    }

    @Test("pruning deletes finished runs older than the cut-off and their logs, never scheduled ones", arguments: StoreKind.enabled)
    func pruneFinished(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let tasks = (0..<5).map { i in Fixtures.task("t\(i)", schedule: Schedule(.once(at: t0)), at: t0) }
            let later = Fixtures.task("later", schedule: Schedule(.once(at: t0.adding(seconds: 3600))), at: t0)
            try await Fixtures.create(tasks + [later], in: store, now: t0)
            let claimed = try await store.claimDue(limit: 10, now: t0, node: "n", leaseUntil: t0.adding(seconds: 30))
            #expect(claimed.count == 5)
            _ = try await store.record(RecordBatch(
                logs: claimed.map { LogEntry(runID: $0.run.id, idx: 0, level: .info, message: "hello", timestamp: t0) },
                outcomes: claimed.map { RunOutcome(runID: $0.run.id, end: .complete(result: nil), at: t0) }), node: "n", now: t0)
            #expect(try await store.logs(runID: claimed[0].run.id, offset: 0, limit: 10).count == 1)
            #expect(try await store.pruneFinished(before: t0, limit: 10) == 0, "finished at the cut-off, not before")
            #expect(try await store.pruneFinished(before: t0.adding(seconds: 1), limit: 3) == 3)
            #expect(try await store.pruneFinished(before: t0.adding(seconds: 1), limit: 3) == 2)
            #expect(try await store.listRuns(RunFilter()).totalCount == 1, "the scheduled run stays")
            #expect(try await store.logs(runID: claimed[0].run.id, offset: 0, limit: 10).isEmpty)
        }
    }

    @Test("an idempotency key is honoured until it is pruned; then the same key creates a new task", arguments: StoreKind.enabled)
    func pruneIdempotencyKeys(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let key = IdempotencyKey(project: "default", key: "deploy-42", requestHash: "h1", createdAt: t0)
            let first = Fixtures.task("first", schedule: Schedule(.once(at: t0.adding(seconds: 60))), at: t0)
            #expect(try await store.createTask(first, firstRun: nil, idempotencyKey: key).replayed == false)
            let again = Fixtures.task("again", schedule: Schedule(.once(at: t0.adding(seconds: 60))), at: t0)
            let replay = try await store.createTask(again, firstRun: nil, idempotencyKey: key)
            #expect(replay.replayed && replay.task.id == first.id)
            #expect(try await store.pruneIdempotencyKeys(before: t0, limit: 10) == 0, "used at the cut-off, not before")
            #expect(try await store.pruneIdempotencyKeys(before: t0.adding(seconds: 1), limit: 10) == 1)
            let fresh = try await store.createTask(again, firstRun: nil, idempotencyKey: key)
            #expect(!fresh.replayed && fresh.task.id == again.id)
        }
    }

    @Test("one leader at a time; it keeps the lease by renewing, and another node takes over when it lapses", arguments: StoreKind.shared)
    func leaderLease(_ kind: StoreKind) async throws {
        try await kind.withStores(2) { nodes in
            let a = try #require(nodes[0] as? any LeaderStore), b = try #require(nodes[1] as? any LeaderStore)
            #expect(try await a.claimLeadership("h", node: "a", now: t0, until: t0.adding(seconds: 15)))
            #expect(try await !b.claimLeadership("h", node: "b", now: t0.adding(seconds: 1), until: t0.adding(seconds: 16)))
            #expect(try await a.claimLeadership("h", node: "a", now: t0.adding(seconds: 10), until: t0.adding(seconds: 25)), "renewed")
            #expect(try await !b.claimLeadership("h", node: "b", now: t0.adding(seconds: 20), until: t0.adding(seconds: 35)))
            #expect(try await b.claimLeadership("h", node: "b", now: t0.adding(seconds: 26), until: t0.adding(seconds: 41)), "a lapsed")
            #expect(try await !a.claimLeadership("h", node: "a", now: t0.adding(seconds: 27), until: t0.adding(seconds: 42)))
            try await b.resignLeadership("h", node: "b")
            #expect(try await a.claimLeadership("h", node: "a", now: t0.adding(seconds: 28), until: t0.adding(seconds: 43)), "b resigned")
        }
    }

    @Test("a node listening for due runs is woken when another node schedules one", arguments: StoreKind.shared)
    func wakeUpBetweenNodes(_ kind: StoreKind) async throws {
        try await kind.withStores(2) { nodes in
            let listener = try #require(nodes[1] as? any NotifyingStore)
            let wakes = Shared(0)
            let listening = Task { await listener.listenForDueRuns { wakes.withLock { $0 += 1 } } }
            defer { listening.cancel() }
            try await eventually("listening (the first wake-up after connecting)") { wakes.withLock { $0 } >= 1 }
            let before = wakes.withLock { $0 }
            try await Fixtures.create([Fixtures.task(schedule: Schedule(.once(at: t0)), at: t0)], in: nodes[0], now: t0)
            try await eventually("woken by the other node's new task") { wakes.withLock { $0 } > before }
        }
    }

    /// A node frozen (SIGSTOP, a suspended VM) between two statements of a transaction holds
    /// its rows; the rescue skips locked rows, so without the server's idle limit its runs
    /// stayed stuck until it woke up (FrozenNodeTests failed so in CI, now and then).
    @Test("a node frozen inside a transaction holds its run's row only until the server's idle limit; then another node rescues the run", arguments: StoreKind.shared)
    func frozenInsideTransaction(_ kind: StoreKind) async throws {
        try await StoreKind.withFreshDatabase { url in
            // Only the frozen transaction runs on the store with the short limit: on a loaded CI
            // machine the set-up's own transactions (the migrations, made by the other store
            // first) can idle that long between statements.
            let other = try await PostgresStore.connect(url: url, connectWait: StoreKind.testConnectWait)
            defer { other.close() }
            let frozen = try await PostgresStore.connect(url: url, connectWait: StoreKind.testConnectWait, transactionIdleLimit: .seconds(2))
            defer { frozen.close() }
            try await Fixtures.create([Fixtures.task("held", schedule: Schedule(.once(at: t0)), at: t0)], in: other, now: t0)
            let run = try #require(try await other.claimDue(limit: 1, now: t0, node: "frozen", leaseUntil: t0.adding(seconds: 30)).first).run
            let (locked, lockedNow) = AsyncStream.makeStream(of: Void.self)
            let holder = Task {
                await frozen.holdRunLocked(run.id, for: .seconds(60)) { lockedNow.yield() }
                lockedNow.finish()
            }
            defer { holder.cancel() }
            for await _ in locked { break }
            // Past the lease, the other node's rescuer looks every 100 ms, for 20 s at most.
            let lapsed = t0.adding(seconds: 31)
            let started = ContinuousClock.now
            var rescued = 0
            while rescued == 0, ContinuousClock.now - started < .seconds(20) {
                rescued = try await other.rescueExpired(expiredBefore: lapsed, exceptNode: nil, now: lapsed).ended
                if rescued == 0 { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(rescued == 1, "rescued once the server ended the frozen node's transaction")
            holder.cancel()
            await holder.value
            let after = try await frozen.run(id: run.id, project: nil)
            #expect(after.status == .failed && after.error?.code == "lease_expired", "the frozen node reads on, on a new connection")
        }
    }

    /// PostgresNIO warns when a connection is leased before the pool's `run()` is entered. The
    /// store used to start `run()` in a `Task` and wait for a signal sent just before it, so on
    /// a loaded machine a lease could still come first: CI caught `orrery token create
    /// --database …` printing the warning. Here each store leases the moment it exists, with
    /// no wait at all, which warned nearly every time with a `Task`.
    @Test("a PostgreSQL store's pool runs from the moment the store exists: no lease ever logs that it came first", arguments: StoreKind.shared)
    func poolRunsFromTheStart(_ kind: StoreKind) async throws {
        try await StoreKind.withFreshDatabase { url in
            let logs = CapturedLogs()
            for _ in 0..<20 {
                let store = try PostgresStore(location: PostgresLocation(url: url), logger: logs.logger, maxConnections: 2)
                defer { store.close() }
                try await store.client.withConnection { try await $0.query("SELECT 1", logger: logs.logger) }
            }
            #expect(logs.at(.warning).isEmpty, "\(logs.at(.warning))")
        }
    }

    @Test("an unreachable PostgreSQL server is `unavailable` within seconds, never a hang or a database message")
    func unreachable() async throws {
        let started = ContinuousClock.now
        do {
            _ = try await PostgresStore.connect(url: "postgres://nobody@127.0.0.1:1/none?sslmode=disable")
            Issue.record("connecting to a closed port must fail")
        } catch let error as OrreryError {
            #expect(error.code == .unavailable && error.message == "the database is unreachable")
        }
        #expect(ContinuousClock.now - started < .seconds(30), "within its 5 s + 20 s bounds, with margin for a loaded machine")
    }
}

/// A value tasks of a test share.
final class Shared<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
}

/// A service that writes a task through the store when the group tells it to stop.
private final class WritesOnShutdown: Service, Sendable {
    let store: PostgresStore
    let task: ScheduledTask
    let started = Mutex(false)
    let outcome = Mutex("not tried")

    init(store: PostgresStore, task: ScheduledTask) {
        self.store = store
        self.task = task
    }

    func run() async throws {
        started.withLock { $0 = true }
        try? await gracefulShutdown()
        do {
            _ = try await store.createTasks([(task, nil)])
            outcome.withLock { $0 = "written" }
        } catch {
            outcome.withLock { $0 = "failed: \(error)" }
        }
    }
}

private extension Int64 {
    var asInt: Int { Int(self) }
}
