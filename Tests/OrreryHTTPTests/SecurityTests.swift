import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OrreryCore
import OrreryTesting
import Testing

/// Guessing tokens, seen from a client's side (issue 17's security list).
@Suite("Security", .timeLimit(.minutes(2)))
struct SecurityTests {
    @Test("after N failed authentications an address gets 429 with Retry-After on every surface, until the window ends")
    func failedAuthLimit() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let token = "security-test-token"
        let server = try await ServerProcess.start(
            dataDir: dir.file("data"), token: token, log: dir.file("server.log"), extraArguments: ["--auth-failures-per-minute", "5"])
        defer { server.process.terminate(); server.process.waitUntilExit() }
        #expect(try await server.api(token).get("/v1/tasks").status == 200)
        let guess = server.api("orr_guess")
        for _ in 0..<3 { #expect(try await guess.get("/v1/tasks").status == 401) }
        // Profiles count too: a wrong X-Auth-Token on the Workspace profile.
        for _ in 0..<2 {
            #expect(try await guess.call(.GET, "/v2/default/scheduled-tasks?offset=0&limit=10", headers: [("X-Auth-Token", "nope")]).status == 401)
        }
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(server.port)/v1/tasks")
        request.headers.add(name: "Authorization", value: "Bearer orr_another_guess")
        let blocked = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        #expect(blocked.status.code == 429)
        let wait = Int(blocked.headers.first(name: "Retry-After") ?? "") ?? 0
        #expect((1...60).contains(wait), "Retry-After: \(wait)")
        let answer = try await guess.get("/v1/tasks")
        #expect(answer.status == 429 && answer["code"] == .string("too_many_failed_authentications"))
        #expect(try await server.api(token).get("/healthz").status == 429, "the address is blocked whatever it presents")
    }
}

@Suite("Bearer tokens as clients send them", .timeLimit(.minutes(2)))
struct BearerSchemeTests {
    /// RFC 9110: the scheme's name is case-insensitive; spaces around the token are not part
    /// of it. Anything else is not a bearer token.
    @Test("the Bearer scheme is read in any case and the token without surrounding spaces; other schemes and broken forms are 401")
    func schemeAndSpaces() async throws {
        try await InProcessServer.with { api, _ throws in
            let anonymous = APIClient(baseURL: api.baseURL, token: nil)
            let token = InProcessServer.adminToken
            for header in ["Bearer \(token)", "bearer \(token)", "BEARER \(token)", "bEaReR \(token)", "Bearer   \(token)  ", "Bearer \t\(token)"] {
                #expect(try await anonymous.call(.GET, "/v1/tasks", headers: [("Authorization", header)]).status == 200, "\(header)")
            }
            for header in ["Basic \(token)", "Bearer", "Bearer ", "Bearer\(token)", "Bearerx \(token)", "Bearer x\(token)", "Bearer \(token)x"] {
                #expect(try await anonymous.call(.GET, "/v1/tasks", headers: [("Authorization", header)]).status == 401, "\(header)")
            }
        }
    }
}

@Suite("Audit log and token prefixes", .timeLimit(.minutes(5)))
struct AuditTests {
    @Test("admin actions are in the audit log, newest first, for admins only; a token's prefix identifies it, never more", arguments: StoreKind.enabled)
    func audit(kind: StoreKind) async throws {
        try await InProcessServer.with(store: kind) { admin, _ in
            let made = try await admin.post("/v1/tokens", #"{"role":"viewer","name":"reader"}"#)
            let secret = try require(made["token"]?.stringValue)
            let tokenID = try require(made["id"]?.stringValue)
            #expect(made["prefix"] == .string(String(secret.prefix(8))) && secret.count > 40)
            let listed = try require(try await admin.get("/v1/tokens").items.first { $0["id"]?.stringValue == tokenID })
            #expect(listed["prefix"] == .string(String(secret.prefix(8))) && listed["token"] == nil, "the prefix, never the secret")
            let user = try await admin.post("/v1/users", #"{"name":"bob","role":"viewer"}"#)
            let userID = try require(user["id"]?.stringValue)
            #expect(try await admin.call(.DELETE, "/v1/users/\(userID)").status == 204)
            #expect(try await admin.call(.DELETE, "/v1/tokens/\(tokenID)").status == 204)
            #expect(try await admin.call(.DELETE, "/v1/tokens/no-such").status == 404)
            let log = try await admin.get("/v1/audit?limit=3")
            #expect(log.status == 200)
            #expect(log.items.map { $0["action"]?.stringValue ?? "" } == ["token.revoke", "user.disable", "user.create"], "newest first; a failed revoke is not an action")
            #expect(log.items.allSatisfy { $0["actor"] == .string("admin") && $0["at"]?.stringValue != nil })
            let next = try require(log["next_cursor"]?.stringValue)
            let older = try await admin.get("/v1/audit?limit=3&cursor=\(next)")
            #expect(older.items.map { $0["action"]?.stringValue ?? "" } == ["token.create"] && older.items.first?["target"] == .string(tokenID))
            var viewer = admin
            viewer.token = try require(try await admin.post("/v1/tokens", #"{"role":"viewer"}"#)["token"]?.stringValue)
            #expect(try await viewer.get("/v1/audit").status == 403)
            #expect(try await admin.get("/v1/audit?bogus=1").status == 400)
        }
    }
}
