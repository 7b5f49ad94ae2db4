import Foundation
import OrreryCore
import OrreryEngine
import OrreryModules
import OrrerySQLite
import OrreryTesting
import Testing

/// A module that runs until the test lets it finish: `gates` opens one run at a time.
struct BlockingModule: TaskModule {
    let started: Gate
    let release: Gate
    let descriptor = ModuleDescriptor(name: "blocking", description: ["en-US": "waits for the test"])
    func run(_ context: RunContext) async throws -> JSONValue? {
        await started.open()
        while await !release.isOpen { try await Task.sleep(for: .milliseconds(2)) }  // ends on cancellation
        return nil
    }
}

@Suite("Misfire and overlap on the engine (manual clock)", .timeLimit(.minutes(5)))
struct PolicyEngineTests {
    func statuses(_ h: EngineHarness, _ task: ScheduledTask) async throws -> [RunStatus] {
        try await h.runs(of: task).map(\.status)
    }

    @Test("overlap skip (default): a slot that comes while the previous run is active is recorded skipped", arguments: StoreKind.enabled)
    func overlapSkip(store: StoreKind) async throws {
        let started = Gate(), release = Gate()
        try await EngineHarness.with(store: store, modules: [BlockingModule(started: started, release: release)]) { h in
            let task = try await h.create(#"{"name":"o","module":"blocking","schedule":{"type":"interval","every_sec":60}}"#)
            try await h.settle()
            h.clock.advance(by: .seconds(60))
            await started.wait()
            try await h.settle()
            h.clock.advance(by: .seconds(60))
            try await eventually("second slot skipped") { try await h.runs(of: task, [.skipped]).count == 1 }
            let skipped = try await h.runs(of: task, [.skipped])[0]
            #expect(skipped.result == .object(["skipped": .string("overlap")]))
            #expect(try await h.runs(of: task, [.scheduled]).count == 1, "the schedule goes on")
            await release.open()
            try await eventually("first run completes") { try await h.runs(of: task, [.complete]).count == 1 }
        }
    }

    @Test("overlap queue: the next slot waits and starts when the active run ends; one waits at most", arguments: StoreKind.enabled)
    func overlapQueue(store: StoreKind) async throws {
        let started = Gate(), release = Gate()
        try await EngineHarness.with(store: store, modules: [BlockingModule(started: started, release: release)]) { h in
            let task = try await h.create(#"{"name":"q","module":"blocking","overlap":"queue","schedule":{"type":"interval","every_sec":60}}"#)
            try await h.settle()
            h.clock.advance(by: .seconds(60))
            await started.wait()
            for _ in 0..<2 {
                try await h.settle()
                h.clock.advance(by: .seconds(60))
            }
            try await eventually("third slot skipped while the second waits") { try await h.runs(of: task, [.skipped]).count == 1 }
            #expect(try await h.runs(of: task, [.active]).count == 1)
            await release.open()
            try await eventually("first and queued runs complete") { try await h.runs(of: task, [.complete]).count == 2 }
        }
    }

    @Test("overlap replace: the new slot's run cancels the active one", arguments: StoreKind.enabled)
    func overlapReplace(store: StoreKind) async throws {
        let started = Gate(), release = Gate()
        try await EngineHarness.with(store: store, modules: [BlockingModule(started: started, release: release)]) { h in
            let task = try await h.create(#"{"name":"r","module":"blocking","overlap":"replace","schedule":{"type":"interval","every_sec":60}}"#)
            try await h.settle()
            h.clock.advance(by: .seconds(60))
            await started.wait()
            try await h.settle()
            h.clock.advance(by: .seconds(60))
            try await eventually("first run canceled") { try await h.runs(of: task, [.canceled]).count == 1 }
            #expect(try await h.runs(of: task, [.active]).count == 1, "the replacing run is running")
            await release.open()
        }
    }

    /// Creates `tasks` at the clock's time, then lets `downFor` pass with no engine running.
    func outage(_ location: StoreLocation, clock: ManualClock, tasks: [String], downFor: Duration) async throws -> [ScheduledTask] {
        var created: [ScheduledTask] = []
        try await location.withStore { store in
            for json in tasks {
                var task = try TaskInput.create(try JSONValue.parse(Array(json.utf8)), id: IDGenerator().make(at: clock.now()), now: clock.now(),
                                                project: "default", owner: nil, modules: ModuleRegistry(BuiltinModules.all()).descriptors)
                task.id = IDGenerator().make(at: clock.now())
                created += try await Fixtures.create([task], in: store, now: clock.now())
            }
        }
        clock.advance(by: downFor)
        return created
    }

    @Test("after ten hours down, run_once gives one catch-up run per task (spread out), then back on schedule", arguments: StoreKind.enabled)
    func misfireRunOnce(store: StoreKind) async throws {
        let clock = ManualClock()
        try await store.withLocation { location in
        let tasks = try await outage(location, clock: clock, tasks: (0..<20).map { _ in
            #"{"name":"m","module":"noop","schedule":{"type":"interval","every_sec":60}}"#
        }, downFor: .seconds(36_000 - 30))  // the next on-time slot is 30 s after the restart
        try await EngineHarness.with(location: location, exclusive: true, clock: clock) { h in
            // The catch-ups are the runs of missed slots. One spread to within `claimAhead` of
            // now is claimed at once (active, still at its spread time) and has its successor.
            let restart = h.clock.now()
            func catchUps() async throws -> [TaskRun] {
                try await h.store.listRuns(RunFilter()).items.filter { ($0.slot ?? restart) < restart }
            }
            try await eventually("catch-ups spread") {
                let runs = try await catchUps()
                return runs.count == 20 && runs.allSatisfy { $0.scheduledAt > restart }
            }
            let spreadTimes = try await catchUps().map(\.scheduledAt)
            #expect(Set(spreadTimes).count == 20, "catch-ups do not all start in the same instant")
            try await h.settle()
            h.clock.advance(by: .seconds(10))
            try await eventually("one catch-up each") { try await h.store.listRuns({ var f = RunFilter(); f.statuses = [.complete]; return f }()).totalCount == 20 }
            for task in tasks {
                let runs = try await h.runs(of: task)
                #expect(runs.filter { $0.status == .complete }.count == 1)
                let next = try #require(runs.first { $0.status == .scheduled })
                #expect(next.slot! > h.clock.now().adding(seconds: -60), "back on schedule, not 600 runs behind")
            }
        }
        }
    }

    @Test("skip after ten hours of * * * * * *: bounded skipped records, nothing runs, start-up does not hang", arguments: StoreKind.enabled)
    func misfireSkipBounded(store: StoreKind) async throws {
        let clock = ManualClock()
        try await store.withLocation { location in
        let tasks = try await outage(location, clock: clock, tasks: [
            #"{"name":"s","module":"noop","schedule":{"type":"interval","every_sec":1},"misfire":{"policy":"skip","grace_sec":5}}"#,
        ], downFor: .seconds(36_000))
        try await EngineHarness.with(location: location, exclusive: true, clock: clock) { h in
            try await eventually("missed slots recorded") { try await h.runs(of: tasks[0], [.skipped]).count > 100 }
            let skipped = try await h.runs(of: tasks[0], [.skipped]).filter { $0.result == .object(["skipped": .string("misfire")]) }
            #expect(skipped.count == ScheduledTask.maxCatchUpSlots + 1, "the overdue run and at most 100 more")
            let restart = h.clock.now()
            let ran = try await h.runs(of: tasks[0], [.complete, .active])
            #expect(ran.allSatisfy { $0.slot! >= restart.adding(seconds: -6) }, "no missed slot ran; only slots within grace_sec (and the 1 s on-time tolerance)")
        }
        }
    }

    @Test("grace_sec 0 on a */2-second cron task: every slot runs when claims come a few milliseconds late", arguments: StoreKind.enabled)
    func zeroGrace(store: StoreKind) async throws {
        try await EngineHarness.with(store: store) { h in
            // Created between two slots: the manual clock starts on an even second, whose slot
            // would be due at creation and race the first iteration's read of the next run.
            h.clock.advance(by: .seconds(1))
            let task = try await h.create(#"{"name":"z","module":"noop","schedule":{"type":"cron","expression":"*/2 * * * * *"},"misfire":{"policy":"run_once","grace_sec":0}}"#)
            for n in 1...4 {
                try await h.settle()
                let next = try #require(try await h.runs(of: task, [.scheduled]).first)
                #expect(next.scheduledAt == next.slot, "never moved: an on-time claim is on time")
                h.clock.advance(to: next.scheduledAt.adding(microseconds: 7_000))  // the claim's own latency
                try await eventually("slot \(n) ran") { try await h.runs(of: task, [.complete]).count == n }
            }
            let all = try await h.runs(of: task)
            #expect(all.allSatisfy { $0.status != .skipped }, "\(all.map { "\($0.status.rawValue) \($0.slot?.rfc3339 ?? "") \($0.scheduledAt.rfc3339) \($0.result?.jsonText ?? "")" })")
        }
    }

    @Test("grace_sec 0, claimed 3 s late: the catch-up is moved once and then runs, however late its own claim", arguments: StoreKind.enabled)
    func zeroGraceLateClaim(store: StoreKind) async throws {
        try await EngineHarness.with(store: store) { h in
            let task = try await h.create(#"{"name":"z","module":"noop","schedule":{"type":"interval","every_sec":3600},"misfire":{"policy":"run_once","grace_sec":0}}"#)
            try await h.settle()
            let first = try #require(try await h.runs(of: task, [.scheduled]).first)
            h.clock.advance(to: first.scheduledAt.adding(seconds: 3))
            try await eventually("moved") { try await h.runs(of: task, [.scheduled]).first?.scheduledAt != first.scheduledAt }
            let moved = try #require(try await h.runs(of: task, [.scheduled]).first)
            try await h.settle()
            h.clock.advance(to: moved.scheduledAt.adding(seconds: 2))  // its claim is late too
            try await eventually("the catch-up ran") { try await h.runs(of: task, [.complete]).count == 1 }
        }
    }

    @Test("run_all after 50 missed slots: every slot runs once, in order, at the engine's speed (one spread delay, not fifty)", arguments: StoreKind.enabled)
    func runAllDrains(store: StoreKind) async throws {
        let clock = ManualClock()
        try await store.withLocation { location in
            let tasks = try await outage(location, clock: clock, tasks: [
                #"{"name":"a","module":"noop","schedule":{"type":"interval","every_sec":60},"misfire":{"policy":"run_all","grace_sec":0}}"#,
            ], downFor: .seconds(50 * 60 + 30))
            try await EngineHarness.with(location: location, exclusive: true, clock: clock) { h in
                try await eventually("the first catch-up is spread") { try await h.runs(of: tasks[0], [.scheduled]).first.map { $0.scheduledAt > h.clock.now() } == true }
                try await h.settle()
                h.clock.advance(by: .seconds(10))  // the spread window, once; no more time passes
                do {
                    try await eventually(timeout: .seconds(120), "every missed slot ran") { try await h.runs(of: tasks[0], [.complete]).count == 50 }
                } catch {
                    let runs = try await h.runs(of: tasks[0])
                    Issue.record("runs: \(runs.map { "\($0.status.rawValue) slot=\($0.slot?.rfc3339 ?? "-") at=\($0.scheduledAt.rfc3339)" })")
                    throw error
                }
                let ran = try await h.runs(of: tasks[0], [.complete])
                #expect(Set(ran.compactMap(\.slot)).count == 50, "each slot once")
                #expect(ran.compactMap(\.slot) == ran.compactMap(\.slot).sorted(), "in order")
                #expect(try await h.runs(of: tasks[0], [.skipped]).isEmpty, "none lost to overlap")
                let next = try #require(try await h.runs(of: tasks[0], [.scheduled]).first)
                #expect(next.slot! > h.clock.now(), "then back on schedule")
            }
        }
    }
}

@Suite("Timeouts of work that ignores cancellation", .timeLimit(.minutes(5)))
struct StubbornTimeoutTests {
    @Test("the run still ends failed (timeout) on time, and later log or progress writes are refused", arguments: StoreKind.enabled)
    func stubborn(store: StoreKind) async throws {
        let started = Gate(), release = Gate(), done = Gate()
        let stubborn = ClosureModule(ModuleDescriptor(name: "stubborn", description: ["en-US": "ignores cancellation"])) { ctx in
            ctx.log(.info, "before")
            await started.open()
            await release.wait()  // deaf to cancellation (without spinning: a canceled sleep throws at once)
            ctx.log(.info, "after")
            ctx.progress(percent: 100, message: "late")
            await done.open()
            return .object(["late": .bool(true)])
        }
        defer { Task { await release.open() } }  // whatever the test's outcome, the work ends
        try await EngineHarness.with(store: store, modules: [stubborn], configure: { $0.cancelGrace = .seconds(5) }) { h in
            let task = try await h.create(#"{"name":"s","module":"stubborn","schedule":{"type":"once"},"timeout_sec":30}"#)
            await started.wait()
            try await h.settle()
            h.clock.advance(by: .seconds(30))
            try await eventually("grace timer") { h.clock.sleeperCount >= 3 }
            #expect(try await h.runs(of: task).first?.status == .active, "within the grace period")
            h.clock.advance(by: .seconds(5))
            try await eventually("ended on time") { try await h.runs(of: task).first?.status == .failed }
            let run = try #require(try await h.runs(of: task).first)
            #expect(run.error?.code == "timeout" && run.result == nil)
            await release.open()
            await done.wait()  // the abandoned work has tried its late writes
            #expect(try await h.store.logs(runID: run.id, offset: 0, limit: 10).map(\.message) == ["before"])
            #expect(try await h.store.run(id: run.id, project: nil).progress?.message != "late")
        }
    }
}
