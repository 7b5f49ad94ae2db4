import Foundation
import OrreryCore
import Synchronization
import OrreryTesting
import Testing

/// What each store guarantees by itself, inside its own transactions, on SQLite and
/// PostgreSQL: compare-and-swap on versions, the last admin token, cancel requests that
/// reach the node executing a run, held runs that are released.
@Suite("Store guarantees", .timeLimit(.minutes(5)))
struct StoreGuaranteeTests {
    let t0 = Timestamp(rfc3339: "2026-03-01T12:00:00Z")!

    @Test("a stale expectedVersion is refused by the store itself, for an update and for a delete", arguments: StoreKind.enabled)
    func compareAndSwap(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let task = try #require(try await Fixtures.create([Fixtures.task(schedule: Schedule(.interval(everySec: 60)), at: t0)], in: store, now: t0).first)
            var renamed = task
            renamed.name = "renamed"
            renamed.version = task.version + 1
            let stored = try await store.updateTask(renamed, expectedVersion: task.version, reschedule: nil)
            #expect(stored.version == task.version + 1)
            var stale = task
            stale.name = "stale"
            await #expect(throws: OrreryError.self) { try await store.updateTask(stale, expectedVersion: task.version, reschedule: nil) }
            do {
                try await store.deleteTask(id: task.id, project: nil, expectedVersion: task.version, now: t0)
                Issue.record("a delete at a stale version went through")
            } catch let error as OrreryError {
                #expect(error.code == .versionMismatch && error.field == "If-Match")
            }
            let after = try await store.task(id: task.id, project: nil)
            #expect(after.name == "renamed" && after.deletedAt == nil, "neither stale write changed anything")
            try await store.deleteTask(id: task.id, project: nil, expectedVersion: stored.version, now: t0)
            await #expect(throws: OrreryError.notFound("task", task.id)) { try await store.task(id: task.id, project: nil) }
        }
    }

    @Test("racing writers at one version: exactly one update or delete wins", arguments: StoreKind.enabled)
    func racingWriters(_ kind: StoreKind) async throws {
        try await kind.withStores(2) { nodes in
            for round in 0..<5 {
                let task = try #require(try await Fixtures.create([Fixtures.task("r\(round)", schedule: Schedule(.interval(everySec: 60)), at: t0)], in: nodes[0], now: t0).first)
                let wins = try await withThrowingTaskGroup(of: Bool.self) { group in
                    for (i, node) in nodes.enumerated() {
                        group.addTask {
                            do {
                                if i == 0 || round % 2 == 0 {
                                    var changed = task
                                    changed.name = "by-\(i)"
                                    changed.version = task.version + 1
                                    _ = try await node.updateTask(changed, expectedVersion: task.version, reschedule: nil)
                                } else {
                                    try await node.deleteTask(id: task.id, project: nil, expectedVersion: task.version, now: t0)
                                }
                                return true
                            } catch let error as OrreryError where error.code == .versionMismatch || error.code == .notFound {
                                return false  // lost to the other writer (an update finds a deleted task gone)
                            }
                        }
                    }
                    return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
                }
                #expect(wins == 1, "round \(round): one winner; the other is refused")
            }
        }
    }

    @Test("the last active admin token cannot be revoked, nor its user disabled; another admin makes it possible", arguments: StoreKind.enabled)
    func lastAdmin(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let admin = StoredToken(id: "A1", hash: "h1", name: "admin", role: "admin", project: "default", createdAt: t0)
            let viewer = StoredToken(id: "V1", hash: "h2", name: "viewer", role: "viewer", project: "default", createdAt: t0)
            let expired = StoredToken(id: "A0", hash: "h0", name: "old", role: "admin", project: "default", createdAt: t0, expiresAt: t0)
            for token in [admin, viewer, expired] { try await store.insertToken(token) }
            await #expect(throws: OrreryError.lastAdmin("token \"A1\"")) { try await store.revokeToken(id: "A1", now: t0.adding(seconds: 1)) }
            #expect(try await store.tokenRole(hash: "h1", now: t0.adding(seconds: 1)) != nil, "still usable")
            try await store.revokeToken(id: "V1", now: t0.adding(seconds: 1))  // other tokens come and go
            // An admin user holding the only other admin token cannot be disabled once A1 is gone.
            try await store.insertUser(StoredUser(id: "U1", name: "alice", role: "admin", project: "default", createdAt: t0))
            try await store.insertToken(StoredToken(id: "A2", hash: "h3", name: "alice", role: "admin", project: "default", createdAt: t0, userID: "U1"))
            try await store.revokeToken(id: "A1", now: t0.adding(seconds: 2))
            await #expect(throws: OrreryError.self) { try await store.disableUser(id: "U1", now: t0.adding(seconds: 3)) }
            #expect(try await store.tokenRole(hash: "h3", now: t0.adding(seconds: 3))?.role == "admin")
        }
    }

    @Test("two nodes revoking the two last admin tokens at once leave one standing", arguments: StoreKind.shared)
    func lastAdminRace(_ kind: StoreKind) async throws {
        for round in 0..<3 {
            try await kind.withStores(2) { nodes in
                let ids = ["X", "Y"]
                for id in ids {
                    try await nodes[0].insertToken(StoredToken(id: id, hash: "hash-\(id)", name: id, role: "admin", project: "default", createdAt: t0))
                }
                let results = await withTaskGroup(of: Bool.self) { group in
                    for (node, id) in zip(nodes, ids) {
                        group.addTask { (try? await node.revokeToken(id: id, now: t0)) != nil }
                    }
                    return await group.reduce(into: [Bool]()) { $0.append($1) }
                }
                #expect(results.filter { $0 }.count == 1, "round \(round): exactly one revoke succeeds")
                #expect(try await nodes[0].listTokens().filter { $0.revokedAt == nil }.count == 1)
            }
        }
    }

    @Test("reinstating the environment's admin token makes a revoked or demoted token an admin again", arguments: StoreKind.enabled)
    func reinstate(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let bootstrap = try #require(store as? any TokenBootstrapStore)
            try await store.insertToken(StoredToken(id: "A1", hash: "env", name: "admin", role: "admin", project: "default", createdAt: t0))
            try await store.insertToken(StoredToken(id: "A2", hash: "other", name: "admin2", role: "admin", project: "default", createdAt: t0))
            try await store.revokeToken(id: "A1", now: t0)
            #expect(try await store.tokenRole(hash: "env", now: t0) == nil)
            try await bootstrap.reinstateAdminToken(StoredToken(id: "new", hash: "env", name: "admin", role: "admin", project: "default", createdAt: t0))
            #expect(try await store.tokenRole(hash: "env", now: t0)?.role == "admin")
            try await bootstrap.reinstateAdminToken(StoredToken(id: "fresh", hash: "brand-new", name: "admin", role: "admin", project: "default", createdAt: t0))
            #expect(try await store.tokenRole(hash: "brand-new", now: t0)?.role == "admin")
        }
    }

    @Test("lease renewal reports the runs whose cancellation was asked, so their node stops them", arguments: StoreKind.enabled)
    func renewalReportsCancels(_ kind: StoreKind) async throws {
        try await kind.withStore { store in
            let tasks = (0..<2).map { i in Fixtures.task("t\(i)", schedule: Schedule(.once(at: t0)), at: t0) }
            try await Fixtures.create(tasks, in: store, now: t0)
            let claimed = try await store.claimDue(limit: 10, now: t0, node: "n", leaseUntil: t0.adding(seconds: 30)).map(\.run.id)
            #expect(try await store.renewLeases(node: "n", runIDs: claimed, until: t0.adding(seconds: 60)).isEmpty)
            _ = try await store.cancel(runID: claimed[1], project: nil, now: t0.adding(seconds: 1))
            #expect(try await store.renewLeases(node: "n", runIDs: claimed, until: t0.adding(seconds: 90)) == [claimed[1]])
            #expect(try await store.run(id: claimed[0], project: nil).leaseExpiresAt == t0.adding(seconds: 90), "leases still renewed")
        }
    }

    @Test("a cancel asked through one node reaches another node's listener at once", arguments: StoreKind.shared)
    func cancelNotice(_ kind: StoreKind) async throws {
        try await kind.withStores(2) { nodes in
            let task = Fixtures.task("t", schedule: Schedule(.once(at: t0)), at: t0)
            try await Fixtures.create([task], in: nodes[0], now: t0)
            let run = try #require(try await nodes[0].claimDue(limit: 1, now: t0, node: "n0", leaseUntil: t0.adding(seconds: 30)).first?.run)
            let listener = try #require(nodes[0] as? any NotifyingStore)
            let heard = Heard()
            let listening = Task { await listener.listenForCancelRequests { heard.add($0) } }
            defer { listening.cancel() }
            try await eventually(timeout: .seconds(10), "the notice") {
                _ = try await nodes[1].cancel(runID: run.id, project: nil, now: t0)  // again until the listener is connected
                return heard.contains(run.id)
            }
        }
    }
}

/// Ids a listener heard, shared with the test.
final class Heard: Sendable {
    private let ids = Mutex<[String]>([])
    func add(_ id: String) { ids.withLock { $0.append(id) } }
    func contains(_ id: String) -> Bool { ids.withLock { $0.contains(id) } }
}
