// `--events` (issue 12): events through the SQLite store path.
//   swift run -c release OrreryBenchmark --events [--runs N]
// 1. events accepted per second with 1,000 trigger tasks (each event fires one of them),
//    one event per transaction and 100 per transaction (a full POST /v1/events array);
// 2. event-to-run-start latency when idle (post through TaskService, module start), p50/p99;
// 3. cron firing lateness p99 (once-tasks due over a window) while events flood in.
import Foundation
import OrreryCore
import OrreryEngine
import OrrerySQLite
import Synchronization

func eventBenchmark() async throws {
    print("Orrery events benchmark — \(ProcessInfo.processInfo.activeProcessorCount) cores, SQLite synchronous=\(options.synchronousFull ? "FULL" : "NORMAL")")
    let triggerTasks = 1_000
    func createTriggers(_ store: SQLiteStore, module: String) async throws {
        let now = clock.now()
        let tasks = (0..<triggerTasks).map { i -> (task: ScheduledTask, firstRun: TaskRun?) in
            (ScheduledTask(id: ids.make(at: now), name: "on-\(i)", module: module, schedule: Schedule(.trigger(TriggerSpec(event: "ev.\(i)"))), createdAt: now), nil)
        }
        _ = try await store.createTasks(tasks)
    }
    func events(_ count: Int, from start: Int = 0) -> [IncomingEvent] {
        (start..<(start + count)).map { IncomingEvent(type: "ev.\($0 % triggerTasks)", resourceID: "r-\($0)", payload: .object(["n": .int(Int64($0))])) }
    }

    // 1. Accepted per second through the store (no engine: the fired runs stay scheduled).
    let total = min(options.runs, 50_000)
    for batch in [1, 100] {
        let (store, dir) = try temporaryStore()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await createTriggers(store, module: "noop")
        let all = events(total)
        let began = ContinuousClock.now
        for chunk in stride(from: 0, to: total, by: batch) {
            let now = clock.now()
            let answers = try await store.acceptEvents(
                Array(all[chunk..<min(chunk + batch, total)]), project: "default", now: now, replaySince: now.adding(seconds: -86_400))
            precondition(answers.allSatisfy { $0.fired.count == 1 })
        }
        let elapsed = seconds(ContinuousClock.now - began)
        print(String(format: "accept: %d events, %3d per transaction, 1,000 trigger tasks: %.0f events/s (%.2f s)", total, batch, Double(total) / elapsed, elapsed))
    }

    // 2. Event to run start, idle: one event at a time, waiting for its run's module to start.
    do {
        let (store, dir) = try temporaryStore()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let started = Mutex<[String: ContinuousClock.Instant]>([:])
        let probe = ClosureModule(ModuleDescriptor(name: "probe", description: ["en-US": "start time"])) { context in
            let at = ContinuousClock.now
            started.withLock { $0[context.event?.id ?? ""] = at }
            return nil
        }
        try await createTriggers(store, module: "probe")
        let engine = makeEngine(store, modules: [probe])
        let service = TaskService(store: store, engine: engine)
        let caller = TaskService.Caller(name: "bench", project: "default")
        let engineTask = Task { try await engine.run() }
        try await Task.sleep(for: .milliseconds(200))
        var latencies: [Double] = []
        for i in 0..<500 {
            let id = "idle-\(i)"
            let body = JSONValue.object(["type": .string("ev.\(i % triggerTasks)"), "id": .string(id)])
            let sent = ContinuousClock.now
            _ = try await service.postEvents(body, project: nil, idempotencyKey: nil, by: caller)
            while started.withLock({ $0[id] }) == nil { await Task.yield() }
            latencies.append(seconds(started.withLock { $0[id]! } - sent) * 1000)
            try await Task.sleep(for: .milliseconds(2))  // idle between events
        }
        engineTask.cancel()
        _ = try? await engineTask.value
        latencies.sort()
        print(String(format: "event to run start, idle (500 events): p50 %.2f ms, p99 %.2f ms, max %.2f ms",
                     percentile(latencies, 0.5), percentile(latencies, 0.99), latencies.last ?? 0))
    }

    // 3. Cron lateness while events flood in: once-tasks due over a window, and a writer
    //    posting 100-event requests (each event fires a noop run) at `rate` events/s — 0: as
    //    fast as the store takes them, which outruns the executor and makes a backlog.
    for rate in [1_000, 0] {
        let (store, dir) = try temporaryStore()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let lateness = Mutex<[Double]>([])
        let late = ClosureModule(ModuleDescriptor(name: "late", description: ["en-US": "lateness"])) { context in
            let now = SystemClock().now()
            lateness.withLock { $0.append(Double(now.microseconds - context.run.scheduledAt.microseconds) / 1000) }
            return nil
        }
        try await createTriggers(store, module: "noop")
        let due = 2_000
        let windowSec = 10
        let start = clock.now().adding(seconds: 2)
        try await insertOnceTasks(store, module: "late", at: (0..<due).map { start.adding(microseconds: Int64($0) * Int64(windowSec) * 1_000_000 / Int64(due)) })
        let engine = makeEngine(store, modules: [late] + [ClosureModule(ModuleDescriptor(name: "noop", description: ["en-US": "noop"])) { _ in nil }])
        let engineTask = Task { try await engine.run() }
        let flooded = Atomic<Int>(0)
        let flood = Task {
            var n = 0
            let began = ContinuousClock.now
            while !Task.isCancelled {
                if rate > 0 { try await Task.sleep(until: began + .milliseconds(n * 1000 / rate)) }
                let now = clock.now()
                _ = try await store.acceptEvents(events(100, from: n), project: "default", now: now, replaySince: now.adding(seconds: -86_400))
                engine.wake()
                n += 100
                flooded.store(n, ordering: .relaxed)
            }
        }
        while lateness.withLock({ $0.count }) < due { try await Task.sleep(for: .milliseconds(20)) }
        flood.cancel()
        _ = try? await flood.value
        engineTask.cancel()
        _ = try? await engineTask.value
        let sorted = lateness.withLock { $0 }.sorted()
        print("cron lateness (\(due) once-tasks over \(windowSec) s) while \(flooded.load(ordering: .relaxed)) events flooded in"
              + " (\(rate > 0 ? "\(rate)/s" : "unpaced")): "
              + String(format: "p50 %.2f ms, p99 %.2f ms, max %.2f ms", percentile(sorted, 0.5), percentile(sorted, 0.99), sorted.last ?? 0))
    }
}
