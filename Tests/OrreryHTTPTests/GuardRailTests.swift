import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OrreryCore
import OrreryHTTP
import OrreryTesting
import Testing

/// Bugs a new user hit, each with the behaviour they expected, on both stores.
@Suite("Guard rails", .timeLimit(.minutes(5)))
struct GuardRailTests {
    @Test("an undeclared method on a known path is a 405 naming the allowed ones; an unknown path stays a 404", arguments: StoreKind.enabled)
    func methodNotAllowed(kind: StoreKind) async throws {
        try await InProcessServer.with(store: kind) { api, _ in
            let trace = try await api.call(.TRACE, "/v1/tasks")
            #expect(trace.status == 405 && trace["code"] == .string("method_not_allowed"))
            let created = try await api.post("/v1/tasks", #"{"name":"m","module":"noop","schedule":{"type":"interval","every_sec":3600}}"#)
            let id = try require(created["id"]?.stringValue)
            let put = try await api.call(.PUT, "/v1/tasks/\(id)")
            #expect(put.status == 405)
            #expect(try await api.call(.TRACE, "/v1/no-such-thing").status == 404)
            var request = HTTPClientRequest(url: api.baseURL + "/v1/tasks")
            request.method = .TRACE
            request.headers.add(name: "Authorization", value: "Bearer \(api.token ?? "")")
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
            let allow = response.headers.first(name: "Allow") ?? ""
            #expect(Set(allow.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }).isSuperset(of: ["GET", "POST"]))
        }
    }

    @Test("a scheduled run's updated_at is when its row last changed, not its due time", arguments: StoreKind.enabled)
    func updatedAt(kind: StoreKind) async throws {
        try await InProcessServer.with(store: kind) { api, _ in
            let before = SystemClock().now()
            let created = try await api.post("/v1/tasks", #"{"name":"far","module":"noop","schedule":{"type":"cron","expression":"0 0 1 1 *"}}"#)
            let id = try require(created["id"]?.stringValue)
            let run = try require(try await api.get("/v1/runs?task_id=\(id)").items.first)
            let updated = try require(run["updated_at"]?.stringValue.flatMap(Timestamp.init(rfc3339:)))
            let due = try require(run["scheduled_at"]?.stringValue.flatMap(Timestamp.init(rfc3339:)))
            #expect(due > before.adding(seconds: 86_400), "due next new year")
            #expect(updated >= before.adding(seconds: -1) && updated <= SystemClock().now(), "updated now, not at \(due.rfc3339)")
        }
    }

    @Test("the last active admin token cannot be revoked or its user disabled: 409 saying why; with another admin it can", arguments: StoreKind.enabled)
    func lastAdmin(kind: StoreKind) async throws {
        try await InProcessServer.with(store: kind) { api, _ in
            let tokens = try await api.get("/v1/tokens").items
            let own = try require(tokens.first { $0["role"] == .string("admin") }?["id"]?.stringValue)
            let refused = try await api.call(.DELETE, "/v1/tokens/\(own)")
            #expect(refused.status == 409 && refused["code"] == .string("conflict"))
            #expect(refused["detail"]?.stringValue?.contains("last active admin token") == true)
            #expect(try await api.get("/v1/tasks").status == 200, "still an admin")
            // An admin user whose token is the only other admin token.
            let user = try await api.post("/v1/users", #"{"name":"root2","role":"admin"}"#)
            let userID = try require(user["id"]?.stringValue)
            let issued = try await api.post("/v1/tokens", #"{"user":"root2"}"#)
            var second = api
            second.token = try require(issued["token"]?.stringValue)
            #expect(try await second.call(.DELETE, "/v1/tokens/\(own)").status == 204, "another admin remains")
            #expect(try await api.get("/v1/tasks").status == 401)
            let disable = try await second.call(.DELETE, "/v1/users/\(userID)")
            #expect(disable.status == 409, "disabling the user would leave no admin")
            #expect(try await second.get("/v1/tasks").status == 200)
        }
    }

    @Test("ORRERY_ADMIN_TOKEN restores admin access on start, whatever happened to that token", arguments: StoreKind.enabled)
    func adminRecovery(kind: StoreKind) async throws {
        try await kind.withStore { store in
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let now = SystemClock().now()
            let secret = "recovery-\(UUID().uuidString)"
            #expect(try await AdminToken.ensure(store: store, environmentToken: secret, dataDir: dir.path, now: now) == .fromEnvironment)
            let envToken = try require(try await store.tokenRole(hash: TokenHash.of(secret), now: now)?.tokenID)
            // Another admin revoked it, then that admin's own token expired: nobody is admin now.
            try await store.insertToken(StoredToken(
                id: "other", hash: "other-hash", name: "x", role: "admin", project: "default", createdAt: now, expiresAt: now.adding(seconds: 60)))
            try await store.revokeToken(id: envToken, now: now)
            let later = now.adding(seconds: 120)
            #expect(try await store.tokenRole(hash: TokenHash.of(secret), now: later) == nil)
            #expect(try await store.tokenRole(hash: "other-hash", now: later) == nil)
            // The documented recovery: restart with ORRERY_ADMIN_TOKEN set.
            #expect(try await AdminToken.ensure(store: store, environmentToken: secret, dataDir: dir.path, now: later) == .fromEnvironment)
            #expect(try await store.tokenRole(hash: TokenHash.of(secret), now: later)?.role == "admin")
        }
    }

    @Test("an unknown query parameter is a 400 naming it on every listing, not silently ignored", arguments: StoreKind.enabled)
    func unknownParameters(kind: StoreKind) async throws {
        try await InProcessServer.with(store: kind) { api, _ in
            let task = try require(try await api.post("/v1/tasks", #"{"name":"q","module":"noop","schedule":{"type":"once"}}"#)["id"]?.stringValue)
            let run = try require(try await api.get("/v1/runs?task_id=\(task)").items.first?["id"]?.stringValue)
            for path in ["/v1/tasks", "/v1/runs", "/v1/modules", "/v1/tokens", "/v1/users", "/v1/audit",
                         "/v1/runs/\(run)/logs", "/v1/tasks/\(task)/upcoming"] {
                let answer = try await api.get(path + "?limt=5")
                #expect(answer.status == 400 && answer["field"] == .string("limt"), "\(path): \(answer.status)")
            }
        }
    }

    @Test("a NUL character (U+0000) in a filter or in a task's text is a 400, never a 500 (found by Schemathesis on PostgreSQL), and nothing is written",
          arguments: StoreKind.enabled)
    func nulCharacters(kind: StoreKind) async throws {
        try await InProcessServer.with(store: kind) { api, _ in
            for path in ["/v1/runs?resource_id=s%00", "/v1/tasks?resource_id=a%00b", "/v1/events?resource_id=%00"] {
                let answer = try await api.get(path)
                #expect(answer.status == 400 && answer["field"] == .string("resource_id"), "\(path): \(answer.status) \(answer.json.jsonText)")
            }
            let made = try await api.post("/v1/tasks", #"{"name":"nul\u0000name","module":"noop","schedule":{"type":"once"},"description":"a\u0000b"}"#)
            switch kind {
            case .sqlite:
                // SQLite holds U+0000: the text comes back as it was sent.
                #expect(made.status == 201 && made["description"] == .string("a\u{0}b"), "\(made.status) \(made.json.jsonText)")
            case .postgres:
                // PostgreSQL's text cannot: refused, and nothing written.
                #expect(made.status == 400, "\(made.status) \(made.json.jsonText)")
                #expect(try await api.get("/v1/tasks").items.isEmpty, "a refused task was not written")
            }
        }
    }
}
