import OrreryCore
import OrreryTesting
import Testing

/// The probes' store reads (`InspectableStore`) on every store: queue depth for `/metrics`,
/// pending migrations for `/readyz`.
@Suite("Store inspection conformance", .timeLimit(.minutes(5)))
struct InspectionConformanceTests {
    let t0 = Timestamp(rfc3339: "2026-03-01T12:00:00Z")!

    @Test("queue depth counts scheduled, due and active runs, and never finished ones", arguments: StoreKind.enabled)
    func queueDepth(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let inspect = try #require(store as? any InspectableStore, "\(kind) store is inspectable")
            #expect(try await inspect.queueDepth(now: t0) == QueueDepth())
            let a = Fixtures.task("a", schedule: Schedule(.once(at: t0)), at: t0)
            let b = Fixtures.task("b", schedule: Schedule(.once(at: t0)), at: t0)
            let later = Fixtures.task("later", schedule: Schedule(.once(at: t0.adding(seconds: 100))), at: t0)
            try await Fixtures.create([a, b, later], in: store, now: t0)
            let now = t0.adding(seconds: 1)
            #expect(try await inspect.queueDepth(now: now) == QueueDepth(scheduled: 3, due: 2, active: 0))

            let claimed = try await store.claimDue(limit: 1, now: now, node: "n1", leaseUntil: now.adding(seconds: 30))
            #expect(try await inspect.queueDepth(now: now) == QueueDepth(scheduled: 2, due: 1, active: 1))

            _ = try await store.record(
                RecordBatch(outcomes: [RunOutcome(runID: claimed[0].run.id, end: .complete(result: nil), at: now)]), node: "n1", now: now)
            #expect(try await inspect.queueDepth(now: now) == QueueDepth(scheduled: 2, due: 1, active: 0))
            #expect(try await inspect.queueDepth(now: t0.adding(seconds: 200)) == QueueDepth(scheduled: 2, due: 2, active: 0))
        }
    }

    @Test("a freshly opened store has no pending migrations", arguments: StoreKind.enabled)
    func migrationsCurrent(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let inspect = try #require(store as? any InspectableStore, "\(kind) store is inspectable")
            #expect(try await inspect.pendingMigrations() == [])
        }
    }
}
