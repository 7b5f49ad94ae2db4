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
}

/// A run queue that fails while `down` (an outage), else forwards to a real store.
final class OutageStore: RunQueue, Sendable {
    let real: any RunQueue
    private let state = Mutex((down: false, claims: 0))
    init(_ real: any RunQueue) { self.real = real }

    func down(_ down: Bool) { state.withLock { $0.down = down } }
    var claims: Int { state.withLock { $0.claims } }

    private func check() throws {
        if state.withLock({ $0.down }) { throw OrreryError(.unavailable, "the database is unreachable") }
    }

    func claimDue(limit: Int, now: Timestamp, dueBy: Timestamp, node: String, leaseUntil: Timestamp, limits: ClaimLimits) async throws -> [ClaimedRun] {
        state.withLock { $0.claims += 1 }
        try check()
        return try await real.claimDue(limit: limit, now: now, dueBy: dueBy, node: node, leaseUntil: leaseUntil, limits: limits)
    }
    func nextDueTime(limits: ClaimLimits) async throws -> Timestamp? { try check(); return try await real.nextDueTime(limits: limits) }
    func record(_ batch: RecordBatch, node: String, now: Timestamp) async throws -> RecordSummary {
        try check(); return try await real.record(batch, node: node, now: now)
    }
    func renewLeases(node: String, runIDs: [String], until: Timestamp) async throws -> [String] {
        try check(); return try await real.renewLeases(node: node, runIDs: runIDs, until: until)
    }
    func rescueExpired(expiredBefore: Timestamp, exceptNode: String?, now: Timestamp) async throws -> RecordSummary {
        try check(); return try await real.rescueExpired(expiredBefore: expiredBefore, exceptNode: exceptNode, now: now)
    }
}
