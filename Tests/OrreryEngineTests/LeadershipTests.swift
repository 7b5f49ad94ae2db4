import Foundation
import Logging
import OrreryCore
import OrreryEngine
import OrreryTesting
import ServiceLifecycle
import Testing

/// One leader among nodes sharing PostgreSQL, and housekeeping (rescue, pruning) only on it.
/// Manual clocks: each round and each expiry happens when the test moves time.
@Suite("Leadership", .timeLimit(.minutes(5)))
struct LeadershipTests {
    /// Runs an elector in a service group, as `orrery serve` does; `stop()` is a graceful
    /// shutdown (SIGTERM), `task.cancel()` an abrupt end.
    final class Running: Sendable {
        let elector: LeaderElector
        let group: ServiceGroup
        let task: Task<Void, any Error>
        init(_ elector: LeaderElector) {
            self.elector = elector
            let group = ServiceGroup(configuration: .init(services: [elector], logger: Logger(label: "test")))
            self.group = group
            task = Task { try await group.run() }
        }
        func stop() async {
            await group.triggerGracefulShutdown()
            _ = try? await task.value
        }
    }

    func elector(_ store: any LeaderStore, node: String, clock: ManualClock) -> LeaderElector {
        var config = LeaderElector.Configuration(node: node)
        config.ttl = .seconds(15)
        config.renewInterval = .seconds(5)
        return LeaderElector(configuration: config, store: store, clock: clock, logger: Logger(label: "test"))
    }

    @Test("two nodes: exactly one leads; when it stops, the other takes over at its next round", arguments: StoreKind.shared)
    func handOver(_ kind: StoreKind) async throws {
        try await kind.withStores(2) { nodes in
            let clock = ManualClock()
            let a = Running(elector(try #require(nodes[0] as? any LeaderStore), node: "a", clock: clock))
            try await eventually("a leads") { a.elector.leadership.isLeader(at: clock.now()) }
            let b = Running(elector(try #require(nodes[1] as? any LeaderStore), node: "b", clock: clock))
            defer { b.task.cancel() }
            try await eventually("both asleep") { clock.sleeperCount >= 2 }
            #expect(!b.elector.leadership.isLeader(at: clock.now()), "one leader at a time")
            for _ in 0..<3 {  // a renews; b keeps trying and losing
                clock.advance(by: .seconds(5))
                try await eventually("both asleep again") { clock.sleeperCount >= 2 }
                #expect(a.elector.leadership.isLeader(at: clock.now()) && !b.elector.leadership.isLeader(at: clock.now()))
            }
            await a.stop()  // a graceful stop resigns at once
            #expect(!a.elector.leadership.isLeader(at: clock.now()))
            clock.advance(by: .seconds(5))  // b's next round, long before a's lease would lapse
            try await eventually("b leads") { b.elector.leadership.isLeader(at: clock.now()) }
        }
    }

    @Test("a leader cut off from the database stops leading when its own window ends")
    func noLeaderWhileAway() async throws {
        let clock = ManualClock()
        let store = FlakyLeaderStore()
        let a = Running(elector(store, node: "a", clock: clock))
        defer { a.task.cancel() }
        try await eventually("a leads") { a.elector.leadership.isLeader(at: clock.now()) }
        store.reachable(false)
        for _ in 0..<2 {
            clock.advance(by: .seconds(5))
            try await eventually("a's round tried") { clock.sleeperCount >= 1 }
        }
        #expect(a.elector.leadership.isLeader(at: clock.now()), "10 s in: still inside the 15 s window it holds")
        clock.advance(by: .seconds(5))
        #expect(!a.elector.leadership.isLeader(at: clock.now()), "the window ended; the store could not renew it")
        store.reachable(true)
        try await eventually("a's next round") { clock.sleeperCount >= 1 }
        clock.advance(by: .seconds(5))
        try await eventually("leads again once the store is back") { a.elector.leadership.isLeader(at: clock.now()) }
    }

    @Test("lapsed leases are rescued only by the leader's engine", arguments: StoreKind.shared)
    func rescueOnlyOnLeader(_ kind: StoreKind) async throws {
        try await kind.withLocation { location in
            let clock = ManualClock()
            let follower = Leadership()  // never elected
            let now = clock.now()
            let task = Fixtures.task("x", schedule: Schedule(.once(at: now)), at: now)
            try await location.withStore { store in  // a node that died holding the run
                try await Fixtures.create([task], in: store, now: now)
                #expect(try await store.claimDue(limit: 1, now: now, node: "dead-node", leaseUntil: now.adding(seconds: 10)).count == 1)
            }
            try await EngineHarness.with(location: location, clock: clock, configure: { $0.leadership = follower; $0.rescueInterval = .seconds(5) }) { h in
                try await h.settle(sleepers: 2)
                clock.advance(by: .seconds(60))
                try await h.settle(sleepers: 2)
                let left = try #require(try await h.runs(of: task).first)
                #expect(left.status == .active, "not the leader: the lapsed lease is left alone (\(left.status.rawValue), \(left.error?.message ?? "-"), node \(left.node ?? "-"))")
                let elected = Running(LeaderElector(
                    configuration: .init(node: h.engine.configuration.node), store: try #require(h.store as? any LeaderStore),
                    leadership: follower, clock: clock, logger: Logger(label: "test")))
                defer { elected.task.cancel() }
                try await eventually("elected") { follower.isLeader(at: clock.now()) }
                clock.advance(by: .seconds(5))
                try await eventually("rescued by the leader") { try await h.runs(of: task).first?.error?.code == "lease_expired" }
            }
        }
    }

    @Test("only the leader prunes", arguments: StoreKind.shared)
    func pruneOnlyOnLeader(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let clock = ManualClock()
            let now = clock.now()
            let task = Fixtures.task(schedule: Schedule(.once(at: now.adding(seconds: 86_400))), at: now)
            try await Fixtures.create([task], in: store, now: now)
            let old = now.adding(seconds: -30 * 86_400)
            let run = try await store.insertRun(task.manualRun(id: IDGenerator().make(at: old), now: old, performedBy: nil))
            _ = try await store.claimDue(limit: 1, now: old, node: "n", leaseUntil: old.adding(seconds: 30))
            _ = try await store.record(RecordBatch(outcomes: [RunOutcome(runID: run.id, end: .complete(result: nil), at: old)]), node: "n", now: old)
            let leadership = Leadership()
            var config = Pruner.Configuration()
            config.leadership = leadership
            config.interval = .seconds(60)
            let pruner = Pruner(configuration: config, store: store, clock: clock, logger: Logger(label: "test"))
            let pruning = Task { try await pruner.run() }
            defer { pruning.cancel() }
            try await eventually("pruner asleep") { clock.sleeperCount >= 1 }
            clock.advance(by: .seconds(5))
            try await eventually("pruner asleep again") { clock.sleeperCount >= 1 }
            #expect(try await store.run(id: run.id, project: nil).status == .complete, "a follower keeps history")
            let elected = Running(LeaderElector(
                configuration: .init(node: "p"), store: try #require(store as? any LeaderStore), leadership: leadership, clock: clock,
                logger: Logger(label: "test")))
            defer { elected.task.cancel() }
            try await eventually("elected") { leadership.isLeader(at: clock.now()) }
            clock.advance(by: .seconds(5))
            try await eventually("pruned by the leader") { (try? await store.run(id: run.id, project: nil)) == nil }
        }
    }
}

/// A leader store whose database can be taken away (an outage is outside the node's control).
final class FlakyLeaderStore: LeaderStore, Sendable {
    private let state = Locked((up: true, holder: String?.none, until: Int64.min))

    func reachable(_ up: Bool) { state.withLock { $0.up = up } }

    func claimLeadership(_ name: String, node: String, now: Timestamp, until: Timestamp) async throws -> Bool {
        let answer: Bool? = state.withLock { s in
            guard s.up else { return nil }
            guard s.holder == nil || s.holder == node || s.until < now.microseconds else { return false }
            s.holder = node
            s.until = until.microseconds
            return true
        }
        guard let answer else { throw OrreryError(.unavailable, "the database is unreachable") }
        return answer
    }

    func resignLeadership(_ name: String, node: String) async throws {
        state.withLock { if $0.holder == node { $0.holder = nil } }
    }
}
