// `--postgres URL` (a server the benchmark may create databases on):
//   1. no-op runs per second with 1, 2 and 3 engines (nodes) sharing one database;
//   2. firing lateness with 3 nodes;
//   3. the claim query's cost with 0 and with 1,000,000 finished runs in the table
//      (measured claimDue latency, and EXPLAIN ANALYZE of the claim query through psql).
import Foundation
import Logging
import OrreryCore
import OrreryEngine
import OrreryModules
import OrreryPostgres
import OrreryTesting

/// A fresh database on the server for the length of `body`.
func withBenchDatabase(_ serverURL: String, _ body: (String) async throws -> Void) async throws {
    let name = "orrery_bench_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)
    let url = try await PostgresAdmin.createDatabase(String(name), serverURL: serverURL)
    // Dropped before returning: a `Task` started in a `defer` could be cut short by the
    // benchmark's exit, and left its database on the server.
    var failure: (any Error)?
    do { try await body(url) } catch { failure = error }
    try? await PostgresAdmin.dropDatabase(String(name), serverURL: serverURL)
    if let failure { throw failure }
}

/// Once-tasks due at `times`; with `shuffledIDs` their ids are handed out in random order (`--shuffled`).
func insertOnce(_ store: PostgresStore, module: String, at times: [Timestamp], shuffledIDs: Bool = false) async throws {
    let now = clock.now()
    var taskIDs = times.map { _ in ids.make(at: now) }
    if shuffledIDs { taskIDs.shuffle() }
    for chunk in stride(from: 0, to: times.count, by: 2_000) {
        _ = try await store.createTasks((chunk..<min(chunk + 2_000, times.count)).map { i in
            let task = ScheduledTask(id: taskIDs[i], name: "bench", module: module, schedule: Schedule(.once(at: times[i])), createdAt: now)
            return (task, task.firstRun(now: now, id: ids.make(at: now)))
        })
    }
}

/// `nodes` engines, each with its own connection pool, as separate processes would have.
func startNodes(_ count: Int, url: String, modules: [any TaskModule]) async throws -> (engines: [Engine], stores: [PostgresStore], tasks: [Task<Void, any Error>]) {
    var engines: [Engine] = [], stores: [PostgresStore] = [], tasks: [Task<Void, any Error>] = []
    for i in 0..<count {
        let store = try await PostgresStore.connect(url: url, logger: logger)
        var config = Engine.Configuration(node: "bench-\(i)")
        config.concurrency = options.concurrency
        config.maxIdleSleep = .seconds(1)
        if let ms = options.claimAheadMs { config.claimAhead = .milliseconds(ms) }
        if let batch = options.claimBatch { config.claimBatch = batch }
        if let ms = options.maxClaimAheadMs { config.maxClaimAhead = .milliseconds(ms) }
        let engine = Engine(configuration: config, store: store, modules: ModuleRegistry(modules), clock: clock, logger: logger)
        engines.append(engine)
        stores.append(store)
        tasks.append(Task { try await engine.run() })
    }
    return (engines, stores, tasks)
}

func psql(_ url: String, _ sql: String) throws -> String {
    try ChildProcess.run("/usr/bin/env", ["psql", url, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql], passErrors: true).output
}

func postgresBenchmark(_ serverURL: String) async throws {
    print("PostgreSQL: \(ProcessInfo.processInfo.activeProcessorCount) cores shared by the server and every node; concurrency \(options.concurrency) per node")
    // 1. Throughput with 1, 2, 3 nodes.
    for count in 1...3 {
        try await withBenchDatabase(serverURL) { url in
            let seed = try await PostgresStore.connect(url: url, logger: logger)
            defer { seed.close() }
            try await insertOnce(seed, module: "noop", at: Array(repeating: clock.now(), count: options.runs), shuffledIDs: options.shuffled)
            if options.analyze { _ = try psql(url, "ANALYZE") }
            let start = ContinuousClock.now
            let nodes = try await startNodes(count, url: url, modules: [NoopModule()])
            let target = options.runs
            while nodes.engines.reduce(0, { $0 + $1.stats.recorded }) < target { try await Task.sleep(for: .milliseconds(2)) }
            let elapsed = seconds(ContinuousClock.now - start)
            nodes.tasks.forEach { $0.cancel() }
            for task in nodes.tasks { _ = try? await task.value }
            nodes.stores.forEach { $0.close() }
            var complete = RunFilter()
            complete.statuses = [.complete]
            complete.limit = 1
            print(String(format: "throughput, %d node(s): %d no-op runs in %.2f s = %.0f runs/s (store says %d complete; per node %@)",
                         count, target, elapsed, Double(target) / elapsed, try await seed.listRuns(complete).totalCount ?? 0,
                         nodes.engines.map { "\($0.stats.recorded)" }.joined(separator: "/")))
        }
    }
    // 2. Lateness with 3 nodes.
    try await withBenchDatabase(serverURL) { url in
        let seed = try await PostgresStore.connect(url: url, logger: logger)
        defer { seed.close() }
        let base = clock.now().adding(seconds: 3)
        let window = Int64(options.windowSec) * 1_000_000
        let n = min(options.latenessTasks, 5_000)
        try await insertOnce(seed, module: "probe", at: (0..<n).map { _ in base.adding(microseconds: Int64.random(in: 0..<window)) })
        let lateness = Locked<[Double]>([])
        let probe = ClosureModule(ModuleDescriptor(name: "probe", description: ["en-US": "records its lateness"])) { context in
            lateness.withLock { $0.append(Double(clock.now().microseconds - context.run.scheduledAt.microseconds) / 1000) }
            return nil
        }
        let nodes = try await startNodes(3, url: url, modules: [probe])
        while nodes.engines.reduce(0, { $0 + $1.stats.recorded }) < n { try await Task.sleep(for: .milliseconds(5)) }
        nodes.tasks.forEach { $0.cancel() }
        for task in nodes.tasks { _ = try? await task.value }
        nodes.stores.forEach { $0.close() }
        let sorted = lateness.withLock { $0 }.sorted()
        print(String(format: "lateness, 3 nodes: %d once-tasks due within %d s: p50 %.3f ms, p99 %.3f ms, max %.3f ms",
                     sorted.count, options.windowSec, percentile(sorted, 0.5), percentile(sorted, 0.99), sorted.last ?? 0))
    }
    // 3. The claim query's cost against history.
    if options.noHistory { return }
    try await withBenchDatabase(serverURL) { url in
        let store = try await PostgresStore.connect(url: url, logger: logger)
        defer { store.close() }
        let c = ContinuousClock()
        func claimLatency() async throws -> (median: Double, p99: Double) {
            // 1,000 due runs; claim them 20 at a time (each claim a whole transaction), then put them back.
            try await insertOnce(store, module: "noop", at: Array(repeating: clock.now(), count: 1_000))
            var samples: [Double] = []
            while true {
                let t = c.now
                let claimed = try await store.claimDue(limit: 20, now: clock.now(), node: "bench", leaseUntil: clock.now().adding(seconds: 30))
                if claimed.isEmpty { break }
                samples.append(seconds(c.now - t) * 1000)
                _ = try await store.record(RecordBatch(outcomes: claimed.map { RunOutcome(runID: $0.run.id, end: .complete(result: nil), at: clock.now()) }), node: "bench", now: clock.now())
            }
            samples.sort()
            return (percentile(samples, 0.5), percentile(samples, 0.99))
        }
        let explainSQL = """
            EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT) SELECT seq FROM runs WHERE status = 'scheduled' AND NOT held
            AND scheduled_at <= (extract(epoch from now()) * 1000000)::bigint AND NOT (queue = ANY('{}'::text[]))
            AND NOT (module = ANY('{}'::text[])) ORDER BY priority DESC, scheduled_at LIMIT 100 FOR UPDATE SKIP LOCKED
            """
        let empty = try await claimLatency()
        _ = try psql(url, "INSERT INTO runs (id, task_id, project, module, attempt, status, trigger, scheduled_at, started_at, finished_at, updated_at, priority) SELECT 'hist' || g, 'histtask' || (g % 1000), 'default', 'noop', 1, 'complete', 'schedule', g, g, g, g, 0 FROM generate_series(1, 1000000) AS g")
        _ = try psql(url, "VACUUM ANALYZE runs")
        let full = try await claimLatency()
        let plan = try psql(url, explainSQL)
        print(String(format: "claim of 20 (one transaction) with 1,000 due: %.2f ms median, %.2f ms p99 with no history; %.2f ms median, %.2f ms p99 with 1,000,000 finished runs",
                     empty.median, empty.p99, full.median, full.p99))
        print("EXPLAIN ANALYZE of the claim query with 1,000,000 finished runs:")
        print(plan.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
    }
}
