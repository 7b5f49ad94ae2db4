import Foundation
import NIOHTTP1
import OrreryCore
import OrreryTesting
import Testing

@Suite("API contract: idempotency, versions, limits, users, projects", .timeLimit(.minutes(5)))
struct ContractTests {
    @Test("the same Idempotency-Key and body return the first task; another body is a 409 that creates nothing", arguments: StoreKind.enabled)
    func idempotency(kind: StoreKind) async throws {
        try await InProcessServer.with(store: kind) { api, _ in
            let body = #"{"name":"once-only","module":"noop","schedule":{"type":"interval","every_sec":3600}}"#
            let first = try await api.call(.POST, "/v1/tasks", body: body, headers: [("Idempotency-Key", "k-1")])
            #expect(first.status == 201)
            // Same body with other spacing and key order: the same request.
            let again = try await api.call(
                .POST, "/v1/tasks", body: #"{ "schedule": {"every_sec": 3600, "type": "interval"}, "module": "noop", "name": "once-only" }"#,
                headers: [("Idempotency-Key", "k-1")])
            #expect(again.status == 201 && again["id"] == first["id"])
            let clash = try await api.call(.POST, "/v1/tasks", body: body.replacingOccurrences(of: "3600", with: "60"), headers: [("Idempotency-Key", "k-1")])
            #expect(clash.status == 409 && clash["field"] == .string("Idempotency-Key"), "\(clash.json.jsonText)")
            let other = try await api.call(.POST, "/v1/tasks", body: body, headers: [("Idempotency-Key", "k-2")])
            #expect(other.status == 201 && other["id"] != first["id"])
            #expect(try await api.get("/v1/tasks?name=once-only&count=true")["total_count"] == .int(2))
            #expect(try await api.get("/v1/runs?status=scheduled&count=true")["total_count"] == .int(2), "a replay inserts no run")
            let bad = try await api.call(.POST, "/v1/tasks", body: body, headers: [("Idempotency-Key", String(repeating: "k", count: 256))])
            #expect(bad.status == 400 && bad["field"] == .string("Idempotency-Key"))
        }
    }

    @Test("If-Match with a stale version is a 412 that changes nothing; the current one succeeds", arguments: StoreKind.enabled)
    func optimisticConcurrency(kind: StoreKind) async throws {
        try await InProcessServer.with(store: kind) { api, _ in
            let task = try await api.post("/v1/tasks", #"{"name":"v","module":"noop","schedule":{"type":"interval","every_sec":60}}"#)
            let id = try require(task["id"]?.stringValue)
            #expect(task["version"] == .int(1))
            let ok = try await api.call(.PATCH, "/v1/tasks/\(id)", body: #"{"description":"a"}"#, headers: [("If-Match", "\"1\"")])
            #expect(ok.status == 200 && ok["version"] == .int(2))
            let stale = try await api.call(.PATCH, "/v1/tasks/\(id)", body: #"{"description":"b"}"#, headers: [("If-Match", "1")])
            #expect(stale.status == 412 && stale["code"] == .string("version_mismatch"))
            #expect(try await api.get("/v1/tasks/\(id)")["description"] == .string("a"))
            #expect(try await api.call(.DELETE, "/v1/tasks/\(id)", headers: [("If-Match", "1")]).status == 412)
            #expect(try await api.get("/v1/tasks/\(id)").status == 200)
            #expect(try await api.call(.PATCH, "/v1/tasks/\(id)", body: "{}", headers: [("If-Match", "two")]).status == 400)
            #expect(try await api.call(.DELETE, "/v1/tasks/\(id)", headers: [("If-Match", "2")]).status == 204)
        }
    }

    @Test("limits: body size, string lengths, label counts, list bounds — each a 4xx naming the field", arguments: StoreKind.enabled)
    func limits(kind: StoreKind) async throws {
        try await InProcessServer.with(store: kind) { api, _ in
            let huge = String(repeating: "x", count: 1 << 20)
            let tooBig = try await api.post("/v1/tasks", #"{"name":"big","module":"noop","schedule":{"type":"once"},"description":"\#(huge)"}"#)
            #expect(tooBig.status == 413)
            let longName = try await api.post("/v1/tasks", #"{"name":"\#(String(repeating: "n", count: 201))","module":"noop","schedule":{"type":"once"}}"#)
            #expect(longName.status == 400 && longName["field"] == .string("name"))
            let labels = (0..<65).map { "\"k\($0)\":\"v\"" }.joined(separator: ",")
            let manyLabels = try await api.post("/v1/tasks", #"{"name":"l","module":"noop","schedule":{"type":"once"},"labels":{\#(labels)}}"#)
            #expect(manyLabels.status == 400 && manyLabels["field"] == .string("labels"), "\(manyLabels.json.jsonText)")
            let longLabel = try await api.post("/v1/tasks", #"{"name":"l","module":"noop","schedule":{"type":"once"},"labels":{"k":"\#(String(repeating: "v", count: 1001))"}}"#)
            #expect(longLabel.status == 400 && longLabel["field"]?.stringValue?.hasPrefix("labels") == true, "\(longLabel.json.jsonText)")
            #expect(try await api.get("/v1/runs?limit=1001")["field"] == .string("limit"))
            #expect(try await api.get("/v1/runs/x/logs?limit=0")["field"] == .string("limit"))
            #expect(try await api.get("/v1/tasks?count=true").json["total_count"] == .int(0), "nothing was written")
        }
    }

    @Test("admins see and create in every project; others only in their own, where other projects are 404", arguments: StoreKind.enabled)
    func projects(kind: StoreKind) async throws {
        try await InProcessServer.with(store: kind) { admin, _ in
            let inBeta = try await admin.post("/v1/tasks", #"{"project":"beta","name":"b","module":"noop","schedule":{"type":"interval","every_sec":3600}}"#)
            #expect(inBeta.status == 201 && inBeta["project"] == .string("beta"))
            let betaID = try require(inBeta["id"]?.stringValue)
            _ = try await admin.post("/v1/tasks", #"{"name":"d","module":"noop","schedule":{"type":"interval","every_sec":3600}}"#)
            #expect(try await admin.get("/v1/tasks?count=true")["total_count"] == .int(2))
            #expect(try await admin.get("/v1/tasks?project=beta&count=true")["total_count"] == .int(1))
            #expect(try await admin.get("/v1/runs?project=beta&count=true")["total_count"] == .int(1))

            var alpha = admin
            alpha.token = try require(try await admin.post("/v1/tokens", #"{"role":"operator","project":"alpha"}"#)["token"]?.stringValue)
            #expect(try await alpha.get("/v1/tasks?count=true")["total_count"] == .int(0))
            #expect(try await alpha.get("/v1/tasks?project=beta&count=true")["total_count"] == .int(0), "naming another project shows nothing")
            #expect(try await alpha.get("/v1/tasks/\(betaID)").status == 404)
            #expect(try await alpha.get("/v1/runs?task_id=\(betaID)&count=true")["total_count"] == .int(0))
            let created = try await alpha.post("/v1/tasks", #"{"name":"a","module":"noop","schedule":{"type":"interval","every_sec":3600}}"#)
            #expect(created["project"] == .string("alpha"))
            let elsewhere = try await alpha.post("/v1/tasks", #"{"project":"beta","name":"a","module":"noop","schedule":{"type":"once"}}"#)
            #expect(elsewhere.status == 403 && elsewhere["field"] == .string("project"))
            let move = try await admin.call(.PATCH, "/v1/tasks/\(betaID)", body: #"{"project":"alpha"}"#)
            #expect(move.status == 400 && move["field"] == .string("project"))
        }
    }

    @Test("the shell module needs the shell right: an operator token issued with it may use shell, one without may not", arguments: StoreKind.enabled)
    func rights(kind: StoreKind) async throws {
        try await InProcessServer.with(store: kind) { admin, _ in
            let body = #"{"name":"sh","module":"shell","params":{"command":["/bin/true"]},"schedule":{"type":"interval","every_sec":3600}}"#
            var plain = admin
            plain.token = try require(try await admin.post("/v1/tokens", #"{"role":"operator"}"#)["token"]?.stringValue)
            let refused = try await plain.post("/v1/tasks", body)
            #expect(refused.status == 403 && refused["field"] == .string("module"))
            let issued = try await admin.post("/v1/tokens", #"{"role":"operator","rights":["shell"]}"#)
            #expect(issued["rights"] == .array([.string("shell")]))
            var shell = admin
            shell.token = try require(issued["token"]?.stringValue)
            #expect(try await shell.post("/v1/tasks", body).status == 201)
            #expect(try await admin.post("/v1/tokens", #"{"role":"operator","rights":["Shell!"]}"#)["field"] == .string("rights"))
            #expect(try await admin.get("/v1/tasks?module=shell&count=true")["total_count"] == .int(1), "the refused create wrote nothing")
        }
    }

    @Test("users: admins create them, tokens issued to a user act as it (owner, performed_by) and die when it is disabled", arguments: StoreKind.enabled)
    func users(kind: StoreKind) async throws {
        try await InProcessServer.with(store: kind) { admin, _ in
            let user = try await admin.post("/v1/users", #"{"name":"alice","role":"operator","project":"ops"}"#)
            #expect(user.status == 201 && user["role"] == .string("operator") && user["disabled_at"] == .null)
            #expect(try await admin.post("/v1/users", #"{"name":"alice","role":"viewer"}"#).status == 409)
            #expect(try await admin.post("/v1/users", #"{"name":"bob","role":"root"}"#)["field"] == .string("role"))
            let issued = try await admin.post("/v1/tokens", #"{"user":"alice"}"#)
            #expect(issued.status == 201 && issued["project"] == .string("ops") && issued["role"] == .string("operator") && issued["name"] == .string("alice"))
            #expect(try await admin.post("/v1/tokens", #"{"user":"alice","role":"admin"}"#)["field"] == .string("role"), "never above the user's role")
            #expect(try await admin.post("/v1/tokens", #"{"user":"nobody"}"#).status == 404)

            var alice = admin
            alice.token = try require(issued["token"]?.stringValue)
            let task = try await alice.post("/v1/tasks", #"{"name":"mine","module":"noop","schedule":{"type":"interval","every_sec":3600}}"#)
            #expect(task["owner"] == .string("alice") && task["project"] == .string("ops"))
            let run = try await alice.post("/v1/tasks/\(try require(task["id"]?.stringValue))/run")
            #expect(run["performed_by"] == .string("alice"))

            #expect(try await admin.get("/v1/users").items.map { $0["name"] } == [.string("alice")])
            #expect(try await admin.call(.DELETE, "/v1/users/\(try require(user["id"]?.stringValue))").status == 204)
            #expect(try await alice.get("/v1/tasks").status == 401, "a disabled user's tokens no longer work")
            #expect(try await admin.get("/v1/users").items.first?["disabled_at"] != .null)
            #expect(try await admin.post("/v1/tokens", #"{"user":"alice"}"#).status == 400)
            #expect(try await alice.get("/v1/users").status == 401)
        }
    }

    @Test("ten clients racing with one Idempotency-Key and body create exactly one task; all get it", arguments: StoreKind.enabled)
    func idempotencyRace(kind: StoreKind) async throws {
        try await InProcessServer.with(store: kind) { api, _ in
            let body = #"{"name":"once-only","module":"noop","schedule":{"type":"once"}}"#
            let answers = try await withThrowingTaskGroup(of: APIResponse.self) { group in
                for _ in 0..<10 { group.addTask { try await api.call(.POST, "/v1/tasks", body: body, headers: [("Idempotency-Key", "race-1")]) } }
                return try await group.reduce(into: [APIResponse]()) { $0.append($1) }
            }
            #expect(answers.allSatisfy { [200, 201].contains($0.status) }, "\(answers.map(\.status))")
            #expect(Set(answers.compactMap { $0["id"]?.stringValue }).count == 1, "every client got the same task")
            #expect(try await api.get("/v1/tasks?name=once-only&count=true")["total_count"] == .int(1))
        }
    }
}
