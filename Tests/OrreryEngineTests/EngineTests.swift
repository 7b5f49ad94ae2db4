import Foundation
import Logging
import MetricsTestKit
import OrreryCore
import OrreryEngine
import OrreryModules
import OrrerySQLite
import OrreryTesting
import ServiceLifecycle
import Testing

@Suite("Engine on a manual clock", .timeLimit(.minutes(5)))
struct EngineTests {
    @Test("an interval task fires each slot once, on time, as the clock advances", arguments: StoreKind.enabled)
    func intervalRuns(store: StoreKind) async throws {
        try await EngineHarness.with(store: store) { h in
            let task = try await h.create(#"{"name":"tick","module":"noop","schedule":{"type":"interval","every_sec":60}}"#)
            let created = h.clock.now()
            for minute in 1...5 {
                try await h.settle()
                h.clock.advance(by: .seconds(60))
                try await eventually("run \(minute) complete") {
                    try await h.runs(of: task, [.complete]).count == minute
                }
            }
            let complete = try await h.runs(of: task, [.complete])
            #expect(complete.map(\.scheduledAt) == (1...5).map { created.adding(seconds: Int64($0) * 60) })
            #expect(complete.allSatisfy { $0.startedAt == $0.scheduledAt }, "the manual clock does not move while the engine works")
            #expect(try await h.runs(of: task, [.scheduled]).map(\.scheduledAt) == [created.adding(seconds: 360)])
            let stored = try await h.store.task(id: task.id, project: nil)
            #expect(stored.lastStatus == .complete && stored.nextRunAt == created.adding(seconds: 360))
        }
    }

    @Test("runs due within claimAhead are claimed early and start at their time (started_at is their time); a cancel meanwhile ends one before its work starts",
          arguments: StoreKind.enabled)
    func claimedAhead(store: StoreKind) async throws {
        let clock = ManualClock()
        let starts = Locked<[String: Timestamp]>([:])
        let probe = ClosureModule(ModuleDescriptor(name: "probe", description: ["en-US": "test"])) { context in
            starts.withLock { $0[context.run.taskID] = clock.now() }
            return nil
        }
        try await EngineHarness.with(store: store, modules: [probe], clock: clock, configure: { $0.claimAhead = .milliseconds(50) }) { h in
            let now = clock.now()
            let due = now.adding(microseconds: 30_000)
            let tasks = ["kept", "dropped"].map { ScheduledTask(id: $0, name: $0, module: "probe", schedule: Schedule(.once(at: due)), createdAt: now) }
            try await Fixtures.create(tasks, in: h.store, now: now)
            h.engine.wake()
            try await eventually("both claimed ahead") {
                try await h.store.listRuns(RunFilter()).items.filter { $0.status == .active }.count == 2
            }
            let active = try await h.store.listRuns(RunFilter()).items
            #expect(active.allSatisfy { $0.startedAt == due }, "started_at is the run's time, not the claim's")
            #expect(starts.withLock { $0.isEmpty }, "no work starts before its time")
            let dropped = try #require(active.first { $0.taskID == "dropped" })
            #expect(h.engine.requestCancel(runID: dropped.id), "a run claimed ahead is the executor's already")
            clock.advance(by: .milliseconds(30))
            try await eventually("dropped canceled") { try await h.store.run(id: dropped.id, project: nil).status == .canceled }
            try await eventually("kept complete") { try await h.store.run(id: active.first { $0.taskID == "kept" }!.id, project: nil).status == .complete }
            #expect(starts.withLock { $0 } == ["kept": due], "kept started exactly at its time; dropped never started")
        }
    }

    @Test("an engine canceled while a run claimed ahead waits for its time never starts that run early: it goes back to scheduled",
          arguments: StoreKind.enabled)
    func canceledBeforeItsTime(kind: StoreKind) async throws {
        let clock = ManualClock()
        let starts = Locked<[Timestamp]>([])
        let probe = ClosureModule(ModuleDescriptor(name: "probe", description: ["en-US": "test"])) { _ in
            starts.withLock { $0.append(clock.now()) }
            return nil
        }
        try await kind.withLocation { location in
            try await location.withStore(exclusive: false) { store in
                var config = Engine.Configuration(node: "ahead")
                config.claimAhead = .milliseconds(50)
                config.leaseDuration = .seconds(3600)
                let metrics = TestMetrics()
                config.metrics = RunMetrics(factory: metrics)
                let engine = Engine(configuration: config, store: store, modules: ModuleRegistry([probe]), clock: clock, logger: Logger(label: "test"))
                let now = clock.now()
                let due = now.adding(microseconds: 30_000)
                try await Fixtures.create(
                    [ScheduledTask(id: "later", name: "later", module: "probe", schedule: Schedule(.once(at: due)), createdAt: now)], in: store, now: now)
                let running = Task { try await engine.run() }
                engine.wake()
                try await eventually("claimed ahead") { try await store.listRuns(RunFilter()).items.first?.status == .active }
                running.cancel()
                _ = try? await running.value
                #expect(starts.withLock { $0 }.isEmpty, "its work started \(starts.withLock { $0 }), before its time \(due)")
                let run = try #require(try await store.listRuns(RunFilter()).items.first)
                #expect(run.status == .scheduled && run.scheduledAt == due && run.startedAt == nil,
                        "handed back for its time: \(run.status) at \(run.scheduledAt)")
                let lateness = metrics.timers(label: RunMetrics.firingLateness).flatMap(\.values)
                #expect(lateness.isEmpty, "a run that never started has no firing lateness: \(lateness)")
            }
        }
    }

    @Test("a run with an unknown module or undecodable params fails alone; the others still run", arguments: StoreKind.enabled)
    func badRunsFailAlone(store: StoreKind) async throws {
        try await EngineHarness.with(store: store, modules: [NoopModule(), SleepModule()]) { h in
            let now = h.clock.now()
            let ghost = ScheduledTask(id: "ghost", name: "ghost", module: "vanished", schedule: Schedule(.once(at: now)), createdAt: now)
            let garbled = ScheduledTask(id: "garbled", name: "garbled", module: "sleep", params: .object(["seconds": .string("ten")]), schedule: Schedule(.once(at: now)), createdAt: now)
            let fine = (0..<5).map { ScheduledTask(id: "fine\($0)", name: "fine", module: "noop", schedule: Schedule(.once(at: now)), createdAt: now) }
            try await Fixtures.create([ghost, garbled] + fine, in: h.store, now: now)
            h.engine.wake()
            try await eventually("all ended") { try await h.store.listRuns(RunFilter()).items.allSatisfy(\.status.isFinished) }
            let runs = try await h.store.listRuns(RunFilter()).items
            let byTask = Dictionary(uniqueKeysWithValues: runs.map { ($0.taskID, $0) })
            #expect(byTask["ghost"]?.error?.code == "unknown_module")
            #expect(byTask["garbled"]?.error?.code == "invalid_params")
            #expect(fine.allSatisfy { byTask[$0.id]?.status == .complete })
        }
    }

    @Test("logs and progress are visible while the run is active; the result is stored at the end", arguments: StoreKind.enabled)
    func progressAndLogs(store: StoreKind) async throws {
        let gate = Gate()
        let chatty = ClosureModule(ModuleDescriptor(name: "chatty", description: ["en-US": "test"])) { ctx in
            ctx.log(.info, "starting")
            ctx.progress(percent: 40, message: "working")
            ctx.log(.warning, "half way")
            await gate.wait()
            return .object(["answer": .int(42)])
        }
        try await EngineHarness.with(store: store, modules: [chatty]) { h in
            let task = try await h.create(#"{"name":"c","module":"chatty","schedule":{"type":"once"}}"#)
            try await eventually("logs visible") {
                try await h.store.logs(runID: try await h.runs(of: task).first?.id ?? "", offset: 0, limit: 10).count == 2
            }
            let run = try #require(try await h.runs(of: task).first)
            #expect(run.status == .active && run.progress == RunProgress(percent: 40, message: "working"))
            let logs = try await h.store.logs(runID: run.id, offset: 0, limit: 10)
            #expect(logs.map(\.message) == ["starting", "half way"] && logs.map(\.idx) == [0, 1])
            #expect(logs[1].level == .warning && logs[1].progressPercent == 40)
            #expect(try await h.store.logs(runID: run.id, offset: 1, limit: 10).map(\.message) == ["half way"])
            await gate.open()
            try await eventually("complete") { try await h.store.run(id: run.id, project: nil).status == .complete }
            #expect(try await h.store.run(id: run.id, project: nil).result == .object(["answer": .int(42)]))
        }
    }

    @Test("cancelling an active run stops its work and ends it canceled", arguments: StoreKind.enabled)
    func cancelActive(store: StoreKind) async throws {
        let started = Gate()
        let forever = ClosureModule(ModuleDescriptor(name: "forever", description: ["en-US": "test"])) { _ in
            await started.open()
            try await Task.sleep(for: .seconds(3600))
            return nil
        }
        try await EngineHarness.with(store: store, modules: [forever]) { h in
            let task = try await h.create(#"{"name":"f","module":"forever","schedule":{"type":"once"}}"#)
            await started.wait()
            let run = try #require(try await h.runs(of: task).first)
            #expect(try await h.service.cancelRun(run.id, by: h.admin).status == .canceled, "the answer waits for the end")
            let ended = try await h.store.run(id: run.id, project: nil)
            #expect(ended.canceledAt != nil && ended.finishedAt != nil)
            #expect(try await h.store.task(id: task.id, project: nil).lastStatus == .canceled)
        }
    }

    @Test("timeout_sec on the injected clock ends the work and fails the run with code timeout", arguments: StoreKind.enabled)
    func timeout(store: StoreKind) async throws {
        let started = Gate()
        let slow = ClosureModule(ModuleDescriptor(name: "slow", description: ["en-US": "test"])) { _ in
            await started.open()
            try await Task.sleep(for: .seconds(3600))
            return nil
        }
        try await EngineHarness.with(store: store, modules: [slow]) { h in
            let task = try await h.create(#"{"name":"s","module":"slow","schedule":{"type":"once"},"timeout_sec":30}"#)
            await started.wait()
            try await h.settle()
            h.clock.advance(by: .seconds(29))
            #expect(try await h.runs(of: task).first?.status == .active)
            h.clock.advance(by: .seconds(1))
            try await eventually("timed out") { try await h.runs(of: task).first?.status == .failed }
            #expect(try await h.runs(of: task).first?.error?.code == "timeout")
        }
    }

    @Test("after a crash, a restarted engine rescues the dead process's active runs at once (exclusive store)", arguments: StoreKind.enabled)
    func rescueAfterRestart(store: StoreKind) async throws {
        try await store.withLocation { location in
        let t0 = Timestamp(rfc3339: "2026-01-01T00:00:00Z")!
        try await location.withStore { store in
            // A "crashed" process: it claimed two runs and never came back.
            let once = Fixtures.task("once", schedule: Schedule(.once(at: t0)), at: t0)
            let retried = Fixtures.task("retried", schedule: Schedule(.once(at: t0)), at: t0, retry: RetryPolicy(maxAttempts: 2, backoffBaseSec: 1))
            try await Fixtures.create([once, retried], in: store, now: t0)
            #expect(try await store.claimDue(limit: 10, now: t0, node: "crashed", leaseUntil: t0.adding(seconds: 600)).count == 2)
        }
        // SQLite: the restarted server owns the file and rescues at once; PostgreSQL: after the lease.
        let clock = ManualClock(now: t0)
        try await EngineHarness.with(location: location, exclusive: true, clock: clock) { h in
            if h.kind == .postgres {
                try await h.settle(sleepers: 2)  // nothing is scheduled: the dispatcher waits on its doorbell
                h.clock.advance(by: .seconds(601))
            }
            try await eventually("rescued") {
                try await h.store.listRuns(RunFilter()).items.filter { $0.status == .failed }.count == 2
            }
            let failed = try await h.store.listRuns(RunFilter()).items.filter { $0.status == .failed }
            #expect(failed.allSatisfy { $0.error?.code == "lease_expired" })
            try await h.settle()
            h.clock.advance(by: .seconds(2))
            try await eventually("retry completes") {
                try await h.store.listRuns(RunFilter()).items.contains { $0.attempt == 2 && $0.status == .complete }
            }
        }
        }
    }

    @Test("a non-exclusive engine rescues runs only once their lease lapsed", arguments: StoreKind.enabled)
    func rescueAfterLease(store: StoreKind) async throws {
        try await store.withLocation { location in
        let clock = ManualClock()
        let now = clock.now()
        let task = Fixtures.task("x", schedule: Schedule(.once(at: now)), at: now)
        // Claimed by another node before this engine starts (else this engine may claim it first).
        try await location.withStore { store in
            try await Fixtures.create([task], in: store, now: now)
            #expect(try await store.claimDue(limit: 1, now: now, node: "other-node", leaseUntil: now.adding(seconds: 12)).count == 1)
        }
        try await EngineHarness.with(location: location, clock: clock, configure: { $0.rescueInterval = .seconds(5) }) { h in
            try await h.settle(sleepers: 2)
            h.clock.advance(by: .seconds(10))
            try await h.settle(sleepers: 2)
            #expect(try await h.runs(of: task).first?.status == .active, "lease still valid at +10 s")
            h.clock.advance(by: .seconds(5))
            try await eventually("lease_expired") { try await h.runs(of: task).first?.error?.code == "lease_expired" }
        }
        }
    }

    @Test("the shell module logs each output line; a non-zero exit fails with the code and stderr's last lines", arguments: StoreKind.enabled)
    func shell(store: StoreKind) async throws {
        try await EngineHarness.with(store: store) { h in
            let ok = try await h.create(#"{"name":"ok","module":"shell","params":{"command":["/bin/sh","-c","echo one; echo two; echo \"$GREETING from $(pwd)\""],"env":{"GREETING":"hello"},"cwd":"/tmp"},"schedule":{"type":"once"}}"#)
            let bad = try await h.create(#"{"name":"bad","module":"shell","params":{"command":["/bin/sh","-c","echo out; echo first >&2; echo last >&2; exit 7"]},"schedule":{"type":"once"}}"#)
            let missing = try await h.create(#"{"name":"missing","module":"shell","params":{"command":["/no/such/program"]},"schedule":{"type":"once"}}"#)
            let crash = try await h.create(#"{"name":"crash","module":"shell","params":{"command":["/bin/sh","-c","kill -9 $$"]},"schedule":{"type":"once"}}"#)
            try await eventually("all ended") {
                try await h.store.listRuns(RunFilter()).items.allSatisfy(\.status.isFinished)
            }
            let okRun = try #require(try await h.runs(of: ok).first)
            #expect(okRun.status == .complete && okRun.result == .object(["exit_code": .int(0)]))
            let okLogs = try await h.store.logs(runID: okRun.id, offset: 0, limit: 10)
            #expect(okLogs.map(\.message) == ["one", "two", "hello from /tmp"])
            let badRun = try #require(try await h.runs(of: bad).first)
            #expect(badRun.status == .failed && badRun.error == RunError(code: "exit_code", message: "exit status 7: first\nlast"))
            let badLogs = try await h.store.logs(runID: badRun.id, offset: 0, limit: 10)
            #expect(Set(badLogs.map(\.message)) == ["out", "first", "last"])
            #expect(try await h.runs(of: missing).first?.error?.code == "spawn_failed")
            let crashed = try #require(try await h.runs(of: crash).first)
            #expect(crashed.status == .failed && crashed.error == RunError(code: "signaled", message: "killed by signal 9"))
        }
    }

    @Test("graceful shutdown lets short runs finish and hands back the rest as scheduled", arguments: StoreKind.enabled)
    func gracefulShutdown(store: StoreKind) async throws {
        let started = Gate()
        let stuck = ClosureModule(ModuleDescriptor(name: "stuck", description: ["en-US": "test"])) { _ in
            await started.open()
            try await Task.sleep(for: .seconds(3600))
            return nil
        }
        try await store.withLocation { location in
        try await location.withStore { store in
        let clock = ManualClock()
        var config = Engine.Configuration(node: "n")
        config.shutdownGrace = .seconds(5)
        let engine = Engine(configuration: config, store: store, modules: ModuleRegistry([stuck]), clock: clock)
        let now = clock.now()
        try await Fixtures.create([Fixtures.task("s", module: "stuck", schedule: Schedule(.once(at: now)), at: now)], in: store, now: now)
        let group = ServiceGroup(configuration: .init(services: [engine], logger: Logger(label: "test")))
        let running = Task { try await group.run() }
        await started.wait()
        await group.triggerGracefulShutdown()
        // The lease and rescue loops sleep on the clock already; the third sleeper is the grace timer.
        try await eventually("grace timer armed") { clock.sleeperCount >= 3 }
        #expect(try await store.listRuns(RunFilter()).items.first?.status == .active, "still within the grace period")
        clock.advance(by: .seconds(5))
        try await running.value
        let run = try #require(try await store.listRuns(RunFilter()).items.first)
        #expect(run.status == .scheduled && run.node == nil && run.startedAt == nil)
        }
        }
    }
}

@Suite("Shell cancellation", .timeLimit(.minutes(5)))
struct ShellCancellationTests {
    static func processes(matching marker: String) -> Int {
        let procs = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return procs.filter { pid in
            guard Int(pid) != nil, let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: cmdline, as: UTF8.self).contains(marker)
        }.count
    }

    @Test("cancelling a shell run stops the child and everything it started: no orphan survives", arguments: StoreKind.enabled)
    func noOrphans(store: StoreKind) async throws {
        let marker = "98765\(Int.random(in: 1000...9999))"
        try await EngineHarness.with(store: store) { h in
            let task = try await h.create("""
                {"name":"tree","module":"shell","params":{"command":["/bin/sh","-c","sleep \(marker) & sleep \(marker)1; echo never"]},"schedule":{"type":"once"}}
                """)
            try await eventually("both sleeps running") { Self.processes(matching: marker) >= 2 }
            let run = try #require(try await h.runs(of: task).first)
            _ = try await h.service.cancelRun(run.id, by: h.admin)
            try await eventually("run canceled") { try await h.store.run(id: run.id, project: nil).status == .canceled }
            try await eventually("no process of the tree left") { Self.processes(matching: marker) == 0 }
        }
    }
}
