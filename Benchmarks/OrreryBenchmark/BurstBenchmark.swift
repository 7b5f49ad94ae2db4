// `--burst N --idle M [--history R] [--nodes 1|2] [--postgres URL] [--concurrency C]` (issue 20):
// N recurring (cron) tasks all due at the same second beside M idle ones (yearly cron tasks,
// each with its next run scheduled far ahead) and R finished runs of history. Prints the
// start lateness (module start minus the slot) p50/p99/max and fires/s of the burst, that
// every burst slot fired exactly once and has its successor, the claim's time (a batch of
// due cron runs, and an idle claim with nothing due) and the claim's query plan.
import Foundation
import Logging
import OrreryCore
import OrreryEngine
import OrreryModules
import OrreryPostgres
import OrrerySQLite
import OrreryTesting

/// One store under test: how to make tasks in it, an engine on it, and its claim's plan.
struct BurstTarget {
    var label: String
    var createTasks: ([(task: ScheduledTask, firstRun: TaskRun?)]) async throws -> Void
    var queue: any RunQueue
    var taskStore: any TaskStore
    /// Engines (one per node) running `modules`; returns their run tasks and a closer.
    var startNodes: (Int, [any TaskModule]) async throws -> (engines: [Engine], stop: () async -> Void)
    /// Inserts `count` finished runs (history) straight through SQL.
    var addHistory: (Int) throws -> Void
    /// The claim query's plan, as the database explains it.
    var explainClaim: () async throws -> String
}

func burstBenchmark() async throws {
    let n = options.burst!, m = options.idle
    print("burst: \(n) cron tasks due at the same second beside \(m) idle tasks and \(options.history) finished runs; \(options.nodes) node(s), concurrency \(options.concurrency) per node, \(ProcessInfo.processInfo.activeProcessorCount) cores")
    if let url = options.postgres {
        try await withBenchDatabase(url) { url in
            let seed = try await PostgresStore.connect(url: url, logger: logger)
            defer { seed.close() }
            try await runBurst(BurstTarget(
                label: "PostgreSQL",
                createTasks: { _ = try await seed.createTasks($0) },
                queue: seed, taskStore: seed,
                startNodes: { count, modules in
                    let nodes = try await startNodes(count, url: url, modules: modules)
                    return (nodes.engines, {
                        nodes.tasks.forEach { $0.cancel() }
                        for task in nodes.tasks { _ = try? await task.value }
                        nodes.stores.forEach { $0.close() }
                    })
                },
                addHistory: { count in
                    _ = try psql(url, """
                        INSERT INTO runs (id, task_id, project, module, attempt, status, trigger, scheduled_at, started_at, finished_at, updated_at, priority)
                        SELECT 'hist' || g, 'histtask' || (g % 100000), 'default', 'noop', 1, 'complete', 'schedule', g, g, g, g, 0
                        FROM generate_series(1, \(count)) AS g
                        """)
                    _ = try psql(url, "VACUUM ANALYZE runs")
                },
                explainClaim: { try await seed.explainClaim(limit: 500, now: clock.now()) }), n: n, m: m)
        }
        return
    }
    let dir = NSTemporaryDirectory() + "orrery-burst-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/orrery.sqlite"
    let store = try SQLiteStore(path: path, options: .init(synchronousFull: options.synchronousFull))
    try await runBurst(BurstTarget(
        label: "SQLite",
        createTasks: { _ = try await store.createTasks($0) },
        queue: store, taskStore: store,
        startNodes: { _, modules in
            let engine = makeEngine(store, modules: modules) { $0.exclusiveStore = false }
            let task = Task { try await engine.run() }
            return ([engine], { task.cancel(); _ = try? await task.value })
        },
        addHistory: { count in
            _ = try sqlite(path, """
                WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < \(count))
                INSERT INTO runs (id, task_id, project, module, attempt, status, trigger, scheduled_at, started_at, finished_at, updated_at, priority)
                SELECT 'hist' || x, 'histtask' || (x % 100000), 'default', 'noop', 1, 'complete', 'schedule', x, x, x, x, 0 FROM g;
                ANALYZE;
                """)
        },
        explainClaim: { try await store.explainClaim(limit: 500, now: clock.now()) }), n: n, m: m)
}

func sqlite(_ path: String, _ sql: String) throws -> String {
    try ChildProcess.run("/usr/bin/env", ["sqlite3", "-bail", path], input: Array(("PRAGMA busy_timeout = 60000;\n" + sql + "\n").utf8),
                         passErrors: true).output
}

/// Tasks firing at second `second` of every minute (a 6-field cron expression).
func burstTasks(_ count: Int, second: Int, minute: String, module: String, now: Timestamp) throws -> [(task: ScheduledTask, firstRun: TaskRun?)] {
    let schedule = try Schedule.parse(.object(["type": .string("cron"), "expression": .string("\(second) \(minute) * * * *")]), now: now)
    return (0..<count).map { _ in
        let task = ScheduledTask(id: ids.make(at: now), name: "burst", module: module, schedule: schedule, createdAt: now)
        return (task, task.firstRun(now: now, id: ids.make(at: now)))
    }
}

func runBurst(_ target: BurstTarget, n: Int, m: Int) async throws {
    let c = ContinuousClock()
    // The idle tasks: yearly, each with its next run waiting in the claim index.
    var t0 = c.now
    let yearly = try Schedule.parse(.object(["type": .string("cron"), "expression": .string("0 0 1 1 *")]), now: clock.now())
    let chunk = options.postgres == nil ? 20_000 : 5_000
    for start in stride(from: 0, to: m, by: chunk) {
        let now = clock.now()
        try await target.createTasks((start..<min(start + chunk, m)).map { _ in
            let task = ScheduledTask(id: ids.make(at: now), name: "idle", module: "noop", schedule: yearly, createdAt: now)
            return (task, task.firstRun(now: now, id: ids.make(at: now)))
        })
    }
    if m > 0 { print(String(format: "  created %d idle tasks in %.1f s", m, seconds(c.now - t0))) }
    if options.history > 0 {
        t0 = c.now
        try target.addHistory(options.history)
        print(String(format: "  inserted %d finished runs in %.1f s", options.history, seconds(c.now - t0)))
    }

    // The burst: due at a whole second far enough ahead to create them all first.
    let lead = 5.0 + Double(n) / (options.postgres == nil ? 20_000 : 5_000)
    let slotSeconds = Int64((Double(clock.now().microseconds) / 1e6 + lead).rounded(.up))
    let slot = Timestamp(microseconds: slotSeconds * 1_000_000)
    let second = Int(slotSeconds % 60), minute = Int(slotSeconds / 60 % 60)
    let lateness = Locked<[Double]>([])
    let fired = Locked<[String: Int]>([:])
    let probe = ClosureModule(ModuleDescriptor(name: "probe", description: ["en-US": "records its start lateness"])) { context in
        guard context.run.slot == slot else { return nil }
        let late = Double(clock.now().microseconds - slot.microseconds) / 1000
        lateness.withLock { $0.append(late) }
        fired.withLock { $0[context.run.taskID, default: 0] += 1 }
        return nil
    }
    t0 = c.now
    let now = clock.now()
    let batch = try burstTasks(n, second: second, minute: "\(minute)", module: "probe", now: now)
    for start in stride(from: 0, to: n, by: chunk) { try await target.createTasks(Array(batch[start..<min(start + chunk, n)])) }
    let burstIDs = Set(batch.map(\.task.id))
    print(String(format: "  created %d burst tasks in %.1f s; due at %@ (in %.1f s)", n, seconds(c.now - t0),
                 slot.rfc3339, Double(slot.microseconds - clock.now().microseconds) / 1e6))

    let nodes = try await target.startNodes(options.nodes, [NoopModule(), probe])
    while lateness.withLock({ $0.count }) < n {
        try await Task.sleep(for: .milliseconds(5))
        if clock.now().microseconds - slot.microseconds > 120_000_000 { print("  the burst did not finish within 120 s"); break }
    }
    // Let the last ends be written before looking at the store.
    try await Task.sleep(for: .milliseconds(500))
    await nodes.stop()
    let sorted = lateness.withLock { $0 }.sorted()
    let counts = fired.withLock { $0 }
    let twice = counts.values.filter { $0 > 1 }.count
    let span = max((sorted.last ?? 0) / 1000, 1e-6)
    print(String(format: "  %@, %d node(s): %d fires: start lateness p50 %.1f ms, p99 %.1f ms, max %.1f ms; %.0f fires/s (fires / max lateness)",
                 target.label, options.nodes, sorted.count, percentile(sorted, 0.5), percentile(sorted, 0.99), sorted.last ?? 0,
                 Double(sorted.count) / span))
    print("  per node: \(nodes.engines.map { "\($0.stats.claimed) claimed in \($0.stats.claimTransactions) claims" }.joined(separator: ", "))")

    // Every burst slot fired once, and each task's next run is waiting.
    var scheduled = RunFilter()
    scheduled.statuses = [.scheduled]
    scheduled.limit = 1
    let waiting = try await target.taskStore.listRuns(scheduled).totalCount ?? -1
    print("  burst tasks fired: \(counts.count) of \(n), \(twice) more than once; scheduled runs now \(waiting) (expected \(n + m): each task's next)")
    _ = burstIDs

    // The claim's time at this size: a batch of 500 due cron runs, and an idle claim.
    let node = "bench-claim"
    let mini = try burstTasks(2_000, second: 0, minute: "*", module: "noop", now: clock.now()).map { pair -> (task: ScheduledTask, firstRun: TaskRun?) in
        var run = pair.firstRun!
        run.scheduledAt = clock.now()
        return (pair.task, run)
    }
    for start in stride(from: 0, to: mini.count, by: chunk) { try await target.createTasks(Array(mini[start..<min(start + chunk, mini.count)])) }
    var batchTimes: [Double] = []
    while true {
        let t = c.now
        let claimed = try await target.queue.claimDue(limit: 500, now: clock.now(), node: node, leaseUntil: clock.now().adding(seconds: 300))
        if claimed.isEmpty { break }
        batchTimes.append(seconds(c.now - t) * 1000)
    }
    var idleTimes: [Double] = []
    for _ in 0..<50 {
        let t = c.now
        _ = try await target.queue.claimDue(limit: 500, now: clock.now(), node: node, leaseUntil: clock.now().adding(seconds: 300))
        _ = try await target.queue.nextDueTime(limits: .none)
        idleTimes.append(seconds(c.now - t) * 1000)
    }
    idleTimes.sort()
    print(String(format: "  claim of 500 due cron runs (successors included): %@ ms per batch; idle claim + next due time: p50 %.2f ms, max %.2f ms",
                 batchTimes.map { String(format: "%.1f", $0) }.joined(separator: ", "), percentile(idleTimes, 0.5), idleTimes.last ?? 0))
    print("  the claim's plan:")
    print(try await target.explainClaim().split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
    print(String(format: "  peak resident memory: %.1f MB", peakRSSMegabytes()))
}
