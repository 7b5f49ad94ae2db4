import OrreryCore
import OrreryTesting
import Testing

/// The store half of the live event stream (`RunChangeFeed`), on every store.
@Suite("Store change feed", .timeLimit(.minutes(5)))
struct ChangeFeedStoreTests {
    let t0 = Timestamp(rfc3339: "2026-03-01T12:00:00Z")!

    @Test("runs changed after a position come oldest change first, by (updated_at, seq), bounded by the limit", arguments: StoreKind.enabled)
    func runsChanged(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let feed = try #require(store as? any RunChangeFeed)
            let tasks = (0..<3).map { Fixtures.task("t\($0)", schedule: Schedule(.once(at: t0)), at: t0) }
            try await Fixtures.create(tasks, in: store, now: t0)
            let start = ChangePosition(updatedAt: t0.adding(microseconds: -1))
            let created = try await feed.runsChanged(after: start, limit: 10)
            #expect(created.count == 3 && created.map(\.status) == [.scheduled, .scheduled, .scheduled])
            #expect(created.map(\.seq) == created.map(\.seq).sorted())
            #expect(try await feed.runsChanged(after: start, limit: 2).map(\.id) == Array(created.prefix(2).map(\.id)))
            #expect(try await feed.runsChanged(after: ChangePosition(after: created[0]), limit: 10).map(\.id) == created.dropFirst().map(\.id),
                    "runs changed in the same microsecond continue by seq")
            #expect(try await feed.runsChanged(after: ChangePosition(after: created[2]), limit: 10).isEmpty)

            let t1 = t0.adding(seconds: 1)
            let claimed = try await store.claimDue(limit: 10, now: t1, node: "n1", leaseUntil: t1.adding(seconds: 30))
            #expect(claimed.count == 3)
            let active = try await feed.runsChanged(after: ChangePosition(after: created[2]), limit: 10)
            #expect(active.count == 3 && active.allSatisfy { $0.status == .active && $0.updatedAt == t1 })

            let t2 = t1.adding(seconds: 1)
            let first = created[0].id
            _ = try await store.record(RecordBatch(outcomes: [RunOutcome(runID: first, end: .complete(result: nil), at: t2)]), node: "n1", now: t2)
            let ended = try await feed.runsChanged(after: ChangePosition(updatedAt: t1, seq: .max), limit: 10)
            #expect(ended.map(\.id) == [first] && ended.first?.status == .complete)
        }
    }

    @Test("new log lines of several runs in one call, from each run's position; and where each log ends", arguments: StoreKind.enabled)
    func logsFromPositions(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let feed = try #require(store as? any RunChangeFeed)
            let tasks = (0..<3).map { Fixtures.task("t\($0)", schedule: Schedule(.once(at: t0)), at: t0) }
            try await Fixtures.create(tasks, in: store, now: t0)
            let runs = try await store.claimDue(limit: 10, now: t0, node: "n1", leaseUntil: t0.adding(seconds: 30)).map(\.run.id).sorted()
            let (a, b, c) = (runs[0], runs[1], runs[2])
            let lines = (0..<5).map { LogEntry(runID: a, idx: Int64($0), level: .info, message: "a\($0)", timestamp: t0) }
                + (0..<2).map { LogEntry(runID: b, idx: Int64($0), level: .warning, message: "b\($0)", timestamp: t0) }
            _ = try await store.record(RecordBatch(logs: lines), node: "n1", now: t0)

            let read = try await feed.logs(from: [a: 2, b: 0, c: 0], limit: 100)
            #expect(read.map(\.message) == ["a2", "a3", "a4", "b0", "b1"])
            #expect(try await feed.logs(from: [a: 2, b: 0], limit: 3).map(\.message) == ["a2", "a3", "a4"])
            #expect(try await feed.logs(from: [:], limit: 10).isEmpty)
            #expect(try await feed.logEnds(runIDs: [a, b, c]) == [a: 5, b: 2, c: 0])
        }
    }
}
