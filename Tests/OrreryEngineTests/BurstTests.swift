import Foundation
import OrreryCore
import OrreryEngine
import OrreryModules
import OrreryTesting
import Testing

/// Top-of-the-hour bursts (issue 20): more cron tasks due at the same second than one claim
/// takes. Each slot fires exactly once, over several claim batches (and on PostgreSQL over
/// two nodes), and each task's next run is made as its slot is claimed.
@Suite("Top-of-the-hour bursts", .timeLimit(.minutes(5)))
struct BurstTests {
    static let created = Timestamp(rfc3339: "2026-01-01T00:59:30Z")!
    static let slot = Timestamp(rfc3339: "2026-01-01T01:00:00Z")!
    static let count = 1_200

    /// Hourly cron tasks whose first run is at `slot`.
    static func hourly(_ count: Int) throws -> [(task: ScheduledTask, firstRun: TaskRun?)] {
        let schedule = try Schedule.parse(.object(["type": .string("cron"), "expression": .string("0 * * * *")]), now: created)
        let ids = IDGenerator()
        return (0..<count).map { i in
            let task = ScheduledTask(id: ids.make(at: created), name: "burst \(i)", module: "counting", schedule: schedule, createdAt: created)
            return (task, task.firstRun(now: created, id: ids.make(at: created)))
        }
    }

    /// A module counting its starts per task and slot.
    static func counting(_ fires: Locked<[String: Int]>) -> ClosureModule {
        ClosureModule(ModuleDescriptor(name: "counting", description: ["en-US": "counts its starts"])) { context in
            fires.withLock { $0["\(context.run.taskID)@\(context.run.slot?.microseconds ?? -1)", default: 0] += 1 }
            return nil
        }
    }

    /// Every task fired once at `slot` and nowhere else, and has its next run (an hour later)
    /// scheduled.
    static func expectEachFiredOnce(_ tasks: [ScheduledTask], _ fires: Locked<[String: Int]>, store: any ConformingStore) async throws {
        let counts = fires.withLock { $0 }
        #expect(counts.count == tasks.count, "fired slots: \(counts.count)")
        #expect(counts.values.allSatisfy { $0 == 1 }, "slots fired more than once: \(counts.filter { $0.value > 1 }.count)")
        #expect(tasks.allSatisfy { counts["\($0.id)@\(slot.microseconds)"] == 1 })
        var filter = RunFilter()
        filter.statuses = [.scheduled]
        filter.limit = 1_000
        var next: [TaskRun] = []
        var page = try await store.listRuns(filter)
        next += page.items
        while let cursor = page.nextCursor {
            filter.cursor = cursor
            page = try await store.listRuns(filter)
            next += page.items
        }
        #expect(next.count == tasks.count)
        #expect(Set(next.map(\.taskID)) == Set(tasks.map(\.id)))
        #expect(next.allSatisfy { $0.slot == slot.adding(seconds: 3600) && $0.scheduledAt == slot.adding(seconds: 3600) })
        var complete = RunFilter()
        complete.statuses = [.complete]
        complete.limit = 1
        #expect(try await store.listRuns(complete).totalCount == tasks.count)
    }

    /// One engine (claims of 500, 2,000 slots) on a fresh store holding `count` hourly tasks
    /// due at `slot`, asleep on the manual clock at `created`; `body` moves the clock on.
    static func withBurst(
        _ kind: StoreKind, count: Int = count,
        _ body: (EngineHarness, ManualClock, [ScheduledTask], Locked<[String: Int]>) async throws -> Void
    ) async throws {
        let fires = Locked<[String: Int]>([:])
        let clock = ManualClock(now: created)
        try await EngineHarness.with(store: kind, modules: [counting(fires)], clock: clock,
                                     configure: { $0.concurrency = 2_000; $0.claimBatch = 500 }) { harness in
            let made = try hourly(count)
            _ = try await harness.store.createTasks(made)
            harness.engine.wake()
            try await harness.settle()
            try await body(harness, clock, made.map(\.task), fires)
        }
    }

    /// Moves the clock to `slot` and waits for every task's run there to fire and be recorded.
    static func fireAll(_ harness: EngineHarness, _ clock: ManualClock, _ tasks: [ScheduledTask], _ fires: Locked<[String: Int]>) async throws {
        clock.advance(to: slot)
        try await eventually("every slot fired") { fires.withLock { $0.count } >= tasks.count }
        try await eventually("every run recorded") { harness.engine.stats.recorded >= tasks.count }
    }

    @Test("1,200 cron tasks due at one second fire once each over several claims of 500, each with its next run made",
          arguments: StoreKind.enabled)
    func burstLargerThanOneClaim(_ kind: StoreKind) async throws {
        try await Self.withBurst(kind) { harness, clock, tasks, fires in
            try await Self.fireAll(harness, clock, tasks, fires)
            #expect(harness.engine.stats.claimTransactions >= 3, "claims: \(harness.engine.stats.claimTransactions)")
            // On PostgreSQL two of those claims run at once (`concurrentClaims`): none took a run twice.
            #expect(harness.engine.stats.claimed == Self.count)
            try await Self.expectEachFiredOnce(tasks, fires, store: harness.store)
        }
    }

    @Test("a burst is claimed before its time (earlier than other runs) and each of its runs starts at its time, not before",
          arguments: StoreKind.enabled)
    func burstClaimedAhead(_ kind: StoreKind) async throws {
        try await Self.withBurst(kind) { harness, clock, tasks, fires in
            // A millisecond before a lone run would be claimed (`claimAhead`, 50 ms): the
            // dispatcher, expecting the claims of 1,200 runs to take longer than that, is at it.
            clock.advance(to: Self.slot.adding(microseconds: -51_000))
            try await eventually("the burst claimed ahead") { harness.engine.stats.claimed >= Self.count }
            #expect(harness.engine.stats.claimed == Self.count)
            #expect(fires.withLock { $0.isEmpty }, "no run started before its time")
            var active = RunFilter()
            active.statuses = [.active]
            active.limit = 1
            #expect(try await harness.store.listRuns(active).totalCount == Self.count)
            try await Self.fireAll(harness, clock, tasks, fires)
            try await Self.expectEachFiredOnce(tasks, fires, store: harness.store)
            var complete = RunFilter()
            complete.statuses = [.complete]
            complete.limit = 1_000
            #expect(try await harness.store.listRuns(complete).items.allSatisfy { $0.startedAt == Self.slot })
        }
    }

    @Test("fewer runs due together than one claim takes are claimed `claimAhead` early, not earlier", arguments: StoreKind.enabled)
    func smallBatchNotClaimedEarly(_ kind: StoreKind) async throws {
        try await Self.withBurst(kind, count: 400) { harness, clock, tasks, fires in
            // The dispatcher sleeps until `claimAhead` before the slot, not earlier: nothing
            // else wakes in the seconds before it, so at 51 ms before it nothing is claimed.
            let lastSeconds = clock.deadlines.filter { $0 > Self.slot.adding(seconds: -5) && $0 < Self.slot }
            #expect(lastSeconds == [Self.slot.adding(microseconds: -50_000)])
            clock.advance(to: Self.slot.adding(microseconds: -51_000))
            #expect(harness.engine.stats.claimed == 0)
            clock.advance(to: Self.slot.adding(microseconds: -50_000))
            try await eventually("claimed ahead") { harness.engine.stats.claimed >= 400 }
            try await Self.fireAll(harness, clock, tasks, fires)
            try await Self.expectEachFiredOnce(tasks, fires, store: harness.store)
        }
    }

    @Test("two nodes on one PostgreSQL database share a burst without firing a slot twice", arguments: StoreKind.shared)
    func twoNodesShareABurst(_ kind: StoreKind) async throws {
        let fires = Locked<[String: Int]>([:])
        let clock = ManualClock(now: Self.created)
        try await kind.withLocation { location in
            try await EngineHarness.with(location: location, modules: [Self.counting(fires)], clock: clock,
                                         configure: { $0.concurrency = 2_000; $0.claimBatch = 100 }) { first in
                try await EngineHarness.with(location: location, modules: [Self.counting(fires)], clock: clock,
                                             configure: { $0.concurrency = 2_000; $0.claimBatch = 100 }) { second in
                    let made = try Self.hourly(Self.count)
                    _ = try await first.store.createTasks(made)
                    first.engine.wake()
                    second.engine.wake()
                    try await first.settle(sleepers: 6)
                    clock.advance(to: Self.slot)
                    try await eventually("every slot fired") { fires.withLock { $0.count } >= Self.count }
                    try await eventually("every run recorded") {
                        first.engine.stats.recorded + second.engine.stats.recorded >= Self.count
                    }
                    print("burst across two nodes: \(first.engine.stats.claimed) and \(second.engine.stats.claimed) runs claimed")
                    #expect(first.engine.stats.claimed + second.engine.stats.claimed == Self.count)
                    try await Self.expectEachFiredOnce(made.map(\.task), fires, store: first.store)
                }
            }
        }
    }
}
