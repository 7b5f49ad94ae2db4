import Foundation
import OrreryCore
import OrreryEngine
import OrrerySQLite
import OrreryTesting
import Testing

@Suite("Priorities, queues and limits", .timeLimit(.minutes(5)))
struct LimitsTests {
    @Test("higher priority first, then earlier scheduled_at", arguments: StoreKind.enabled)
    func priorityOrder(store: StoreKind) async throws {
        let order = Locked<[String]>([])
        let record = ClosureModule(ModuleDescriptor(name: "record", description: ["en-US": "records its task"])) { ctx in
            order.withLock { $0.append(ctx.run.taskID) }
            return nil
        }
        let clock = ManualClock()
        try await store.withLocation { location in
            let now = clock.now()
            var tasks: [ScheduledTask] = []
            for (name, priority, offset) in [("low-early", 0, 1), ("high", 10, 3), ("mid", 5, 2), ("low-late", 0, 4)] as [(String, Int64, Int64)] {
                var t = Fixtures.task(name, module: "record", schedule: Schedule(.once(at: now.adding(seconds: offset))), at: now, priority: priority)
                t.id = name
                tasks.append(t)
            }
            try await location.withStore { try await Fixtures.create(tasks, in: $0, now: now) }
            clock.advance(by: .seconds(10))  // all due before the engine starts
            try await EngineHarness.with(location: location, modules: [record], clock: clock, configure: { $0.concurrency = 1 }) { h in
                try await eventually("all ran") { order.withLock { $0.count } == 4 }
            }
        }
        #expect(order.withLock { $0 } == ["high", "mid", "low-early", "low-late"])
    }

    @Test("a saturated queue holds to its limit and never starves another queue", arguments: StoreKind.enabled)
    func queueLimit(store: StoreKind) async throws {
        let release = Gate()
        let peak = Locked((now: 0, max: 0))
        let slow = ClosureModule(ModuleDescriptor(name: "slow", description: ["en-US": "blocks"])) { _ in
            peak.withLock { $0.now += 1; $0.max = max($0.max, $0.now) }
            while await !release.isOpen { try await Task.sleep(for: .milliseconds(2)) }
            peak.withLock { $0.now -= 1 }
            return nil
        }
        try await EngineHarness.with(store: store, modules: [slow, NoopModule()], configure: { $0.queueLimits = ["slow": 1]; $0.concurrency = 10 }) { h in
            for i in 0..<3 { _ = try await h.create(#"{"name":"s\#(i)","module":"slow","queue":"slow","schedule":{"type":"once"}}"#) }
            let quick = try await (0..<5).asyncMap { i in try await h.create(#"{"name":"q\#(i)","module":"noop","schedule":{"type":"once"}}"#) }
            try await eventually("the other queue's runs complete while 'slow' is saturated") {
                var done = 0
                for t in quick { done += try await h.runs(of: t, [.complete]).count }
                return done == 5
            }
            var filter = RunFilter()
            filter.statuses = [.active]
            #expect(try await h.store.listRuns(filter).totalCount == 1, "one slow run at a time")
            await release.open()
            try await eventually("all slow runs complete") {
                var f = RunFilter()
                f.statuses = [.complete]
                return try await h.store.listRuns(f).totalCount == 8
            }
            #expect(peak.withLock { $0.max } == 1)
        }
    }

    @Test("a per-module limit holds under contention", arguments: StoreKind.enabled)
    func moduleLimit(store: StoreKind) async throws {
        let release = Gate()
        let peak = Locked((now: 0, max: 0))
        let heavy = ClosureModule(ModuleDescriptor(name: "heavy", description: ["en-US": "blocks"])) { _ in
            peak.withLock { $0.now += 1; $0.max = max($0.max, $0.now) }
            while await !release.isOpen { try await Task.sleep(for: .milliseconds(2)) }
            peak.withLock { $0.now -= 1 }
            return nil
        }
        try await EngineHarness.with(store: store, modules: [heavy], configure: { $0.moduleLimits = ["heavy": 2]; $0.concurrency = 10 }) { h in
            for i in 0..<6 { _ = try await h.create(#"{"name":"h\#(i)","module":"heavy","schedule":{"type":"once"}}"#) }
            try await eventually("two running") { peak.withLock { $0.now } == 2 }
            await release.open()
            try await eventually("all complete") {
                var f = RunFilter()
                f.statuses = [.complete]
                return try await h.store.listRuns(f).totalCount == 6
            }
            #expect(peak.withLock { $0.max } == 2)
        }
    }
}

extension Sequence where Element: Sendable {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for element in self { out.append(try await transform(element)) }
        return out
    }
}

@Suite("Queues under load", .timeLimit(.minutes(5)))
struct QueuesUnderLoadTests {
    @Test("many runs across four limited queues all complete", arguments: StoreKind.enabled)
    func fourQueues(store: StoreKind) async throws {
        try await EngineHarness.with(store: store, configure: { $0.concurrency = 8; $0.queueLimits = ["q0": 2, "q1": 2, "q2": 2, "q3": 2] }) { h in
            let now = h.clock.now()
            let tasks = (0..<400).map { i in
                ScheduledTask(id: IDGenerator().make(at: now), name: "q", module: "noop", schedule: Schedule(.once(at: now)), queue: "q\(i % 4)", createdAt: now)
            }
            try await Fixtures.create(tasks, in: h.store, now: now)
            h.engine.wake()
            // 400 runs through 8 slots, 2 per queue: on a loaded machine this takes a while.
            try await eventually(timeout: .seconds(120), "all complete") {
                var f = RunFilter()
                f.statuses = [.complete]
                return try await h.store.listRuns(f).totalCount == 400
            }
        }
    }
}
