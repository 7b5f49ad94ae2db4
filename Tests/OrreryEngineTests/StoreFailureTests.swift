import Foundation
import Logging
import OrreryCore
import OrreryEngine
import OrreryModules
import OrreryTesting
import Synchronization
import Testing

/// The engine when its store fails (a database outage is outside its control, so the store
/// is wrapped to fail on demand; everything else is a real SQLite store).
@Suite("Store failures", .timeLimit(.minutes(5)))
struct StoreFailureTests {
    @Test("claims back off while the store fails (no hot loop), and the engine resumes by itself when it is back")
    func backOff() async throws {
        try await StoreKind.sqlite.withLocation { location in
            let clock = ManualClock()
            let now = clock.now()
            let task = Fixtures.task("x", schedule: Schedule(.once(at: now)), at: now)
            try await location.withStore { try await Fixtures.create([task], in: $0, now: now) }
            try await location.withStore(exclusive: true) { real in
                let store = OutageStore(real)
                store.down(true)
                var config = Engine.Configuration(node: "n")
                config.exclusiveStore = true
                let engine = Engine(configuration: config, store: store, modules: ModuleRegistry(BuiltinModules.all()), clock: clock, logger: Logger(label: "test"))
                let running = Task { try await engine.run() }
                defer { running.cancel() }
                // Claim attempts come 50, 100, 150 … ms apart on the engine's clock.
                try await eventually("first attempt") { store.claims == 1 }
                var expected = 1
                for backOff in [50, 100, 150, 200] {
                    try await eventually("asleep") { clock.sleeperCount >= 3 }
                    clock.advance(by: .milliseconds(backOff - 1))
                    try await eventually("asleep") { clock.sleeperCount >= 3 }
                    #expect(store.claims == expected, "no attempt before the back-off ends")
                    clock.advance(by: .milliseconds(1))
                    expected += 1
                    try await eventually("attempt \(expected)") { store.claims == expected }
                }
                store.down(false)
                try await eventually("asleep") { clock.sleeperCount >= 3 }
                clock.advance(by: .milliseconds(250))
                try await eventually("the run completes once the store is back") {
                    try await real.listRuns(RunFilter()).items.first?.status == .complete
                }
            }
        }
    }

    @Test("a burst claimed two batches at a time: when one of the two claims fails, the other's runs start all the same")
    func oneOfTwoClaimsFails() async throws {
        try await StoreKind.sqlite.withLocation { location in
            let clock = ManualClock()
            let now = clock.now()
            let tasks = (0..<600).map { Fixtures.task("t\($0)", schedule: Schedule(.once(at: now)), at: now) }
            try await location.withStore { try await Fixtures.create(tasks, in: $0, now: now) }
            try await location.withStore(exclusive: true) { real in
                // The first claim takes one full batch; then two claims go at once, and the first
                // of those two fails.
                let store = OutageStore(real, concurrentClaims: 2, failingClaim: 2)
                var config = Engine.Configuration(node: "n")
                config.exclusiveStore = true
                config.claimBatch = 100
                config.concurrency = 1_000
                let engine = Engine(configuration: config, store: store, modules: ModuleRegistry(BuiltinModules.all()), clock: clock, logger: Logger(label: "test"))
                let running = Task { try await engine.run() }
                defer { running.cancel() }
                try await eventually("the failed pair of claims") { store.claims >= 3 }
                var complete = RunFilter()
                complete.statuses = [.complete]
                complete.limit = 1
                try await eventually("the first batch and the claim that did not fail run, during the back-off") {
                    try await real.listRuns(complete).totalCount == 200
                }
                try await eventually("every run completes: none is left active under a lease nobody holds") {
                    clock.advance(by: .milliseconds(50))  // the back-off, once the dispatcher sleeps in it
                    return try await real.listRuns(complete).totalCount == tasks.count
                }
                #expect(engine.stats.claimed == tasks.count, "each run claimed once")
            }
        }
    }

    @Test("an engine canceled while its claim is in flight still gets that claim's runs, and hands back the ones waiting for their time: none stays active under a lease nobody holds",
          arguments: StoreKind.enabled)
    func canceledMidClaim(kind: StoreKind) async throws {
        try await kind.withLocation { location in
            let clock = ManualClock()
            let now = clock.now()
            let due = now.adding(microseconds: 30_000)
            try await location.withStore { try await Fixtures.create([Fixtures.task("later", schedule: Schedule(.once(at: due)), at: now)], in: $0, now: now) }
            try await location.withStore(exclusive: false) { real in
                let gate = Gate()
                let store = OutageStore(real, holdingClaims: gate)
                var config = Engine.Configuration(node: "n")
                config.claimAhead = .milliseconds(50)
                config.leaseDuration = .seconds(3600)
                let engine = Engine(configuration: config, store: store, modules: ModuleRegistry(BuiltinModules.all()), clock: clock, logger: Logger(label: "test"))
                let running = Task { try await engine.run() }
                try await eventually("the run claimed ahead of its time") { store.committed == 1 }
                #expect(try await real.listRuns(RunFilter()).items.first?.status == .active)
                running.cancel()
                await gate.open()
                _ = try? await running.value
                let run = try #require(try await real.listRuns(RunFilter()).items.first)
                #expect(run.status == .scheduled && run.scheduledAt == due && run.startedAt == nil && run.node == nil,
                        "handed back for its time: \(run.status) at \(run.scheduledAt) on \(run.node ?? "no node")")
                #expect(engine.stats.claimed == 1)
            }
        }
    }
}

/// A run queue that fails while `down` (an outage), else forwards to a real store.
/// `failingClaim`: that claim call (1 for the first) fails, as one of two claims made at
/// once can (`concurrentClaims`). `holdingClaims`: a claim that took runs, once committed,
/// waits for the gate and then answers a canceled caller with `CancellationError`, as a
/// store may (PostgreSQL's answers a canceled caller at once, whatever the database did).
final class OutageStore: RunQueue, Sendable {
    let real: any RunQueue
    let concurrentClaims: Int
    let failingClaim: Int?
    let holdingClaims: Gate?
    private let state = Mutex((down: false, claims: 0, committed: 0))
    init(_ real: any RunQueue, concurrentClaims: Int = 1, failingClaim: Int? = nil, holdingClaims: Gate? = nil) {
        self.real = real
        self.concurrentClaims = concurrentClaims
        self.failingClaim = failingClaim
        self.holdingClaims = holdingClaims
    }

    func down(_ down: Bool) { state.withLock { $0.down = down } }
    var claims: Int { state.withLock { $0.claims } }
    /// Claims that took runs and were committed.
    var committed: Int { state.withLock { $0.committed } }

    private func check() throws {
        if state.withLock({ $0.down }) { throw OrreryError(.unavailable, "the database is unreachable") }
    }

    func claimDue(limit: Int, now: Timestamp, dueBy: Timestamp, node: String, leaseUntil: Timestamp, limits: ClaimLimits) async throws -> [ClaimedRun] {
        let number = state.withLock { $0.claims += 1; return $0.claims }
        try check()
        if number == failingClaim { throw OrreryError(.unavailable, "the database is unreachable") }
        let claimed = try await real.claimDue(limit: limit, now: now, dueBy: dueBy, node: node, leaseUntil: leaseUntil, limits: limits)
        if let holdingClaims, !claimed.isEmpty {
            state.withLock { $0.committed += 1 }
            await holdingClaims.wait()
            try Task.checkCancellation()
        }
        return claimed
    }
    func nextDueTime(limits: ClaimLimits) async throws -> Timestamp? { try check(); return try await real.nextDueTime(limits: limits) }
    func dueCount(by dueBy: Timestamp) async throws -> Int { try check(); return try await real.dueCount(by: dueBy) }
    func record(_ batch: RecordBatch, node: String, now: Timestamp) async throws -> RecordSummary {
        try check(); return try await real.record(batch, node: node, now: now)
    }
    func renewLeases(node: String, runIDs: [String], until: Timestamp, expiringBefore: Timestamp?) async throws -> [String] {
        try check(); return try await real.renewLeases(node: node, runIDs: runIDs, until: until, expiringBefore: expiringBefore)
    }
    func rescueExpired(expiredBefore: Timestamp, exceptNode: String?, now: Timestamp) async throws -> RecordSummary {
        try check(); return try await real.rescueExpired(expiredBefore: expiredBefore, exceptNode: exceptNode, now: now)
    }
}
