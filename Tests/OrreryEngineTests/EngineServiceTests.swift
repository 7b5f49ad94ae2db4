import Logging
import OrreryCore
@testable import OrreryEngine
import OrreryTesting
import Synchronization
import Testing

/// The engine's services one at a time, on a manual clock and a real store: lease renewal,
/// rescue and execution with timeouts, each without the rest of the engine around it.
@Suite("Engine services in isolation", .timeLimit(.minutes(5)))
struct EngineServiceTests {
    let t0 = Timestamp(rfc3339: "2026-03-01T12:00:00Z")!
    let logger = Logger(label: "test")

    /// A lease renewer of node "n" (lease 30 s, every 10 s) holding `held`, running on a manual
    /// clock at t0; the cancels it passes on are collected.
    private func startRenewer(_ store: any RunQueue, held: [String]) -> (ManualClock, Locked<[String]>, Task<Void, Never>) {
        let clock = ManualClock(now: t0)
        let cancels = Locked<[String]>([])
        let renewer = LeaseRenewer(
            configuration: .init(node: "n", leaseDuration: .seconds(30), interval: .seconds(10)),
            store: store, clock: clock, logger: logger, health: StoreHealth(),
            held: { held }, cancelRequested: { id in cancels.withLock { $0.append(id) } })
        return (clock, cancels, Task { await renewer.run() })
    }

    @Test("the lease renewer extends held leases every interval and passes on the cancels asked for them", arguments: StoreKind.enabled)
    func leaseRenewer(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let tasks = (0..<2).map { Fixtures.task("t\($0)", schedule: Schedule(.once(at: t0)), at: t0) }
            try await Fixtures.create(tasks, in: store, now: t0)
            let held = try await store.claimDue(limit: 10, now: t0, node: "n", leaseUntil: t0.adding(seconds: 30)).map(\.run.id)
            let (clock, cancels, running) = startRenewer(store, held: held)
            defer { running.cancel() }

            try await eventually("asleep") { clock.sleeperCount == 1 }
            clock.advance(by: .seconds(10))
            try await eventually("renewed to now + lease") {
                try await store.run(id: held[0], project: nil).leaseExpiresAt == t0.adding(seconds: 40)
            }
            #expect(cancels.withLock { $0.isEmpty })

            _ = try await store.cancel(runID: held[1], project: nil, now: t0.adding(seconds: 11))
            try await eventually("asleep again") { clock.sleeperCount == 1 }
            clock.advance(by: .seconds(10))
            try await eventually("the cancel reached the holder") { cancels.withLock { $0 == [held[1]] } }
            #expect(try await store.run(id: held[1], project: nil).status == .active, "the holder ends it; the renewer only tells")
        }
    }

    @Test("the lease renewer leaves a lease taken moments ago alone, and still passes on its cancel", arguments: StoreKind.enabled)
    func leaseRenewerSkipsFreshLeases(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let old = Fixtures.task("old", schedule: Schedule(.once(at: t0)), at: t0)
            let fresh = Fixtures.task("fresh", schedule: Schedule(.once(at: t0.adding(seconds: 9))), at: t0)
            try await Fixtures.create([old, fresh], in: store, now: t0)
            let oldRun = try #require(try await store.claimDue(limit: 10, now: t0, node: "n", leaseUntil: t0.adding(seconds: 30)).first?.run)
            let freshRun = try #require(try await store.claimDue(
                limit: 10, now: t0.adding(seconds: 9), node: "n", leaseUntil: t0.adding(seconds: 39)).first?.run)
            _ = try await store.cancel(runID: freshRun.id, project: nil, now: t0.adding(seconds: 9))
            let (clock, cancels, running) = startRenewer(store, held: [oldRun.id, freshRun.id])
            defer { running.cancel() }

            try await eventually("asleep") { clock.sleeperCount == 1 }
            clock.advance(by: .seconds(10))
            try await eventually("the cancel reached the holder") { cancels.withLock { $0 == [freshRun.id] } }
            #expect(try await store.run(id: oldRun.id, project: nil).leaseExpiresAt == t0.adding(seconds: 40), "30 s old: renewed")
            #expect(try await store.run(id: freshRun.id, project: nil).leaseExpiresAt == t0.adding(seconds: 39),
                    "29 s left, more than the 25 s a renewal tops up from: left alone")

            try await eventually("asleep again") { clock.sleeperCount == 1 }
            clock.advance(by: .seconds(10))
            try await eventually("renewed at the next round") {
                try await store.run(id: freshRun.id, project: nil).leaseExpiresAt == t0.adding(seconds: 50)
            }
        }
    }

    @Test("the rescuer ends lapsed leases per retry policy, only while leading, and not right after a store failure", arguments: StoreKind.enabled)
    func rescuer(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let task = Fixtures.task("t", schedule: Schedule(.once(at: t0)), at: t0, retry: RetryPolicy(maxAttempts: 2, backoffBaseSec: 10))
            try await Fixtures.create([task], in: store, now: t0)
            let run = try #require(try await store.claimDue(limit: 1, now: t0, node: "dead", leaseUntil: t0.adding(seconds: 30)).first?.run)
            let clock = ManualClock(now: t0.adding(seconds: 31))
            let leadership = Leadership()
            let health = StoreHealth()
            let rescued = Mutex(RecordSummary())
            var config = Rescuer.Configuration(node: "n")
            config.leaseDuration = .seconds(30)
            config.leadership = leadership
            let rescuer = Rescuer(configuration: config, store: store, clock: clock, logger: logger, health: health) { s in
                rescued.withLock { $0 = $0 + s }
            }

            await rescuer.rescueLapsed()
            #expect(try await store.run(id: run.id, project: nil).status == .active, "not the leader: nothing rescued")

            leadership.lead(until: t0.adding(seconds: 3600))
            health.failed(at: clock.now())
            await rescuer.rescueLapsed()
            #expect(try await store.run(id: run.id, project: nil).status == .active, "a store failure just now: the node may be alive")

            clock.advance(by: .seconds(30))
            await rescuer.rescueLapsed()
            let ended = try await store.run(id: run.id, project: nil)
            #expect(ended.status == .failed && ended.error?.code == "lease_expired")
            #expect(rescued.withLock { $0 } == RecordSummary(ended: 1, retriesScheduled: 1))
            var retries = RunFilter()
            retries.taskID = task.id
            retries.triggers = [.retry]
            #expect(try await store.listRuns(retries).items.map(\.attempt) == [2], "the second attempt is scheduled")
        }
    }

    @Test("a rescue cut short by shutdown (its task canceled) logs no error and counts as no store failure", arguments: StoreKind.enabled)
    func rescueInterruptedByShutdown(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let logs = CapturedLogs()
            let health = StoreHealth()
            let rescuer = Rescuer(
                configuration: .init(node: "n"), store: store, clock: ManualClock(now: t0), logger: logs.logger, health: health
            ) { _ in }
            // Canceled before the store call: SQLite's async access throws CancellationError then.
            let stopping = Task {
                try? await Task.sleep(for: .seconds(60))
                await rescuer.rescueOrphansAtStart()
            }
            stopping.cancel()
            await stopping.value
            #expect(logs.at(.error).isEmpty, "\(logs.at(.error))")
            #expect(health.lastFailureAt == nil, "a canceled call is not a store failure (it would hold rescues back a lease)")
        }
    }

    @Test("the executor ends a run that outlives timeout_sec as failed (timeout), after the cancel grace, even when the work ignores cancellation")
    func executorTimeout() async throws {
        try await StoreKind.sqlite.withStore { store in
            let task = Fixtures.task("t", module: "stubborn", schedule: Schedule(.once(at: t0)), at: t0, timeoutSec: 20)
            try await Fixtures.create([task], in: store, now: t0)
            let claimed = try #require(try await store.claimDue(limit: 1, now: t0, node: "n", leaseUntil: t0.adding(seconds: 300)).first)
            let release = Gate()
            // Waits on the gate, deaf to cancellation (a loop of sleeps that throw at once when
            // canceled would spin a core and starve the whole suite).
            let stubborn = ClosureModule(ModuleDescriptor(name: "stubborn", description: ["en-US": "ignores cancellation"])) { _ in
                await release.wait()
                return nil
            }
            defer { Task { await release.open() } }  // whatever the test's outcome, the work ends
            let clock = ManualClock(now: t0)
            let bell = Doorbell()
            let slots = RunSlots(.init(concurrency: 10))
            slots.claimed(1)
            let recorder = RunRecorder(store: store, node: "n", clock: clock, logger: logger) { _, written in slots.endsWritten(written) }
            let executor = Executor(
                configuration: .init(node: "n", cancelGrace: .seconds(5)), registry: ModuleRegistry([stubborn]), recorder: recorder,
                slots: slots, clock: clock, roomBell: bell, counters: Locked(EngineCounters()))
            let recording = Task { await recorder.run() }
            defer { recording.cancel() }
            let executing = Task { await withDiscardingTaskGroup { group in executor.start([claimed], in: &group) } }

            try await eventually("timer set") { clock.sleeperCount >= 1 }
            clock.advance(by: .seconds(20))
            try await eventually("grace timer set") { clock.sleeperCount >= 1 }
            #expect(executor.activeRunIDs == [claimed.run.id], "within the grace period")
            clock.advance(by: .seconds(5))
            try await eventually("ended on time") { try await store.run(id: claimed.run.id, project: nil).status == .failed }
            #expect(try await store.run(id: claimed.run.id, project: nil).error?.code == "timeout")
            try await eventually("the slot is back once the run has ended") { executor.activeRunIDs.isEmpty && slots.free == 10 }
            await release.open()
            await executing.value
        }
    }

    @Test("the executor gives a run's slot back when its work returns, while its end still waits for the group commit", arguments: StoreKind.enabled)
    func executorFreesSlotBeforeTheWrite(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let task = Fixtures.task("t", schedule: Schedule(.once(at: t0)), at: t0)
            try await Fixtures.create([task], in: store, now: t0)
            let claimed = try #require(try await store.claimDue(limit: 1, now: t0, node: "n", leaseUntil: t0.adding(seconds: 300)).first)
            let done = ClosureModule(ModuleDescriptor(name: "noop", description: ["en-US": "returns at once"])) { _ in nil }
            let slots = RunSlots(.init(concurrency: 1))
            slots.claimed(1)
            // The recorder is never run: the end stays unwritten for the whole test.
            let recorder = RunRecorder(store: store, node: "n", clock: ManualClock(now: t0), logger: logger) { _, written in slots.endsWritten(written) }
            let executor = Executor(
                configuration: .init(node: "n", cancelGrace: .seconds(5)), registry: ModuleRegistry([done]), recorder: recorder,
                slots: slots, clock: ManualClock(now: t0), roomBell: Doorbell(), counters: Locked(EngineCounters()))
            #expect(slots.free == 0)
            await withDiscardingTaskGroup { group in executor.start([claimed], in: &group) }
            #expect(slots.free == 1, "the next run may start before this one's end is written")
            #expect(recorder.unwrittenEnds() == [claimed.run.id])
            #expect(try await store.run(id: claimed.run.id, project: nil).status == .active, "the end is not in the store yet")
        }
    }

    @Test("a run's slot frees when its work returns, before its end is written; the dispatcher is rung when room appears; at most twice the limit wait for their ends")
    func slotsFreeWhenWorkReturns() {
        let slots = RunSlots(.init(concurrency: 8))
        slots.claimed(8)
        #expect(slots.free == 0)
        #expect(slots.workReturned(), "the first return makes room where there was none: the dispatcher is rung")
        #expect(!slots.workReturned(), "there was room already: the dispatcher is not waiting for it")
        #expect(slots.free == 2, "returned runs free their slots while their ends wait for the group commit")
        for _ in 0..<6 { _ = slots.workReturned() }
        #expect(slots.free == 8)
        slots.claimed(8)
        for _ in 0..<8 { #expect(!slots.workReturned(), "no room while the unwritten ends are at the bound") }
        #expect(slots.free == 0, "16 ends unwritten, twice the limit: nothing more is claimed until they are written")
        slots.endsWritten(10)
        #expect(slots.free == 8)
        slots.endsWritten(6)
        #expect(slots.free == 8)
    }

    @Test("while the dispatcher claims back to back the recorder holds ends back (at most maxDefer), then writes a backlog in bounded commits", arguments: StoreKind.enabled)
    func recorderYieldsToClaims(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let n = RunRecorder.maxEndsPerWrite * 2 + 500
            let tasks = (0..<n).map { Fixtures.task("t\($0)", schedule: Schedule(.once(at: t0)), at: t0) }
            try await Fixtures.create(tasks, in: store, now: t0)
            let claimed = try await store.claimDue(limit: n, now: t0, node: "n", leaseUntil: t0.adding(seconds: 300))
            #expect(claimed.count == n)
            let clock = ManualClock(now: t0)
            let pressure = ClaimPressure(maxDefer: .seconds(2))
            let writes = Mutex<[Int]>([])
            let recorder = RunRecorder(store: store, node: "n", clock: clock, logger: logger, pressure: pressure) { _, written in
                writes.withLock { $0.append(written) }
            }
            pressure.set(true)  // a burst: the dispatcher is claiming again at once
            let recording = Task { await recorder.run() }
            defer { recording.cancel() }
            for run in claimed { recorder.end(RunOutcome(runID: run.run.id, end: .complete(result: nil), at: t0)) }

            // Held back while claims go first: nothing is written, the leases stay held.
            try await eventually("waiting for the claims, until maxDefer") { clock.sleeperCount >= 1 }
            #expect(writes.withLock { $0.isEmpty })
            #expect(recorder.unwrittenEnds().count == n)
            // Past maxDefer the backlog goes anyway, in commits of at most maxEndsPerWrite ends.
            clock.advance(by: .seconds(2))
            try await eventually("every end written") { writes.withLock { $0.reduce(0, +) } == n }
            #expect(writes.withLock { $0 } == [RunRecorder.maxEndsPerWrite, RunRecorder.maxEndsPerWrite, 500])
            #expect(try await store.run(id: claimed[n - 1].run.id, project: nil).status == .complete)

            // When the dispatcher stops claiming back to back, held ends go at once.
            let more = Fixtures.task("late", schedule: Schedule(.once(at: t0)), at: t0)
            try await Fixtures.create([more], in: store, now: t0)
            let late = try #require(try await store.claimDue(limit: 1, now: t0, node: "n", leaseUntil: t0.adding(seconds: 300)).first)
            pressure.set(true)
            recorder.end(RunOutcome(runID: late.run.id, end: .complete(result: nil), at: t0))
            try await eventually("held back again") { clock.sleeperCount >= 1 }
            #expect(writes.withLock { $0.count } == 3)
            pressure.set(false)
            try await eventually("written once the claims stop") { try await store.run(id: late.run.id, project: nil).status == .complete }
        }
    }

}
