import Foundation
import NIOHTTP1
import OrreryCore
import OrrerySQLite
import OrreryTesting
import Testing

@Suite("Roles and tokens", .timeLimit(.minutes(5)))
struct RoleTests {
    @Test("viewers read, operators manage tasks and runs, only admins manage tokens and use shell; revoked tokens are 401", arguments: StoreKind.enabled)
    func roles(kind: StoreKind) async throws {
        try await InProcessServer.with(store: kind) { admin, _ in
            func token(_ role: String) async throws -> (APIClient, String) {
                let made = try await admin.post("/v1/tokens", #"{"role":"\#(role)","name":"\#(role)-1"}"#)
                #expect(made.status == 201 && made["role"] == .string(role) && made["project"] == .string("default"))
                var client = admin
                client.token = try require(made["token"]?.stringValue)
                return (client, try require(made["id"]?.stringValue))
            }
            let (viewer, viewerID) = try await token("viewer")
            let (op, _) = try await token("operator")

            #expect(try await viewer.get("/v1/tasks").status == 200)
            let denied = try await viewer.post("/v1/tasks", #"{"name":"v","module":"noop","schedule":{"type":"once"}}"#)
            #expect(denied.status == 403 && denied["code"] == .string("forbidden"))
            #expect(denied["detail"] == .string("a viewer token cannot create tasks; it needs the operator role"))

            let task = try await op.post("/v1/tasks", #"{"name":"o","module":"noop","schedule":{"type":"interval","every_sec":3600}}"#)
            #expect(task.status == 201 && task["owner"] == .string("operator-1"))
            let id = try require(task["id"]?.stringValue)
            #expect(try await viewer.post("/v1/tasks/\(id)/pause").status == 403)
            #expect(try await op.post("/v1/tasks/\(id)/pause").status == 200)
            let shell = try await op.post("/v1/tasks", #"{"name":"s","module":"shell","params":{"command":["true"]},"schedule":{"type":"once"}}"#)
            #expect(shell.status == 403 && shell["field"] == .string("module"))
            #expect(try await op.get("/v1/tokens").status == 403)
            #expect(try await viewer.post("/v1/tokens", #"{"role":"admin"}"#).status == 403)

            let list = try await admin.get("/v1/tokens")
            #expect(list.items.count >= 3 && list.items.allSatisfy { $0["token"] == nil }, "secrets are never listed")
            #expect(try await admin.post("/v1/tokens", #"{"role":"root"}"#)["field"] == .string("role"))
            #expect(try await admin.call(.DELETE, "/v1/tokens/\(viewerID)").status == 204)
            #expect(try await viewer.get("/v1/tasks").status == 401, "revoked")
            #expect(try await admin.call(.DELETE, "/v1/tokens/nope").status == 404)
        }
    }

    @Test("an expired token no longer authenticates", arguments: StoreKind.enabled)
    func expiry(kind: StoreKind) async throws {
        try await kind.withStore { store in
        let now = Timestamp(rfc3339: "2026-01-01T00:00:00Z")!
        try await store.insertToken(StoredToken(id: "t", hash: "h", name: "n", role: "viewer", project: "default", createdAt: now, expiresAt: now.adding(seconds: 60)))
        #expect(try await store.tokenRole(hash: "h", now: now.adding(seconds: 59)) != nil)
        #expect(try await store.tokenRole(hash: "h", now: now.adding(seconds: 60)) == nil)
        }
    }

    @Test("orrery token create prints the token alone; list shows it without its secret; revoke ends it")
    func cli() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        func orrery(_ args: [String]) throws -> (status: Int32, out: String) {
            let finished = try ChildProcess.run(ServerProcess.binary, args + ["--data-dir", dir.file("data")])
            return (finished.status, finished.output)
        }
        let created = try orrery(["token", "create", "--role", "operator", "--name", "deploy", "--expires-in", "30d"])
        #expect(created.status == 0)
        let secret = created.out.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(secret.hasPrefix("orr_") && !secret.contains("\n"))
        let listed = try JSONValue.parse(Array(try orrery(["token", "list", "--json"]).out.utf8))
        let item = try require(listed["items"]?.arrayValue?.first)
        #expect(item["role"] == .string("operator") && item["name"] == .string("deploy") && item["expires_at"] != .null)
        #expect(!listed.jsonText.contains(secret))
        #expect(try orrery(["token", "revoke", try require(item["id"]?.stringValue)]).status == 0)
        #expect(try orrery(["token", "revoke", "nope"]).status != 0)
        #expect(try orrery(["token", "create", "--role", "root"]).status != 0)
    }
}
