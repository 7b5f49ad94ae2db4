import Foundation
import NIOHTTP1
import OrreryCore
import OrreryTesting
import Testing

@Suite("HTTP API end to end (real server, real SQLite file, loopback)", .timeLimit(.minutes(5)))
struct APITests {
    @Test("an interval task's runs complete, and the task shows last_status and next_run_at", arguments: StoreKind.enabled)
    func intervalCompletes(kind: StoreKind) async throws {
        try await InProcessServer.with(store: kind) { api, _ in
            let now = Timestamp(secondsSinceEpoch: Date().timeIntervalSince1970)
            let created = try await api.post("/v1/tasks", """
                {"name":"tick","module":"noop","overlap":"allow","schedule":{"type":"interval","every_sec":1,"start_at":"\(now.rfc3339)"}}
                """)
            #expect(created.status == 201)
            let id = try require(created["id"]?.stringValue)
            #expect(created["version"] == .int(1) && created["next_run_at"]?.stringValue != nil)
            try await eventually("two complete runs") {
                try await api.get("/v1/runs?task_id=\(id)&status=complete").items.count >= 2
            }
            let task = try await api.get("/v1/tasks/\(id)")
            #expect(task["last_status"] == .string("complete"))
            let next = try require(task["next_run_at"]?.stringValue.flatMap(Timestamp.init(rfc3339:)))
            #expect(next > now)
            let run = try await api.get("/v1/runs?task_id=\(id)&status=complete&limit=1").items[0]
            #expect(run["trigger"] == .string("schedule") && run["attempt"] == .int(1) && run["node"] == .string("test"))
            #expect(run["finished_at"]?.stringValue != nil && run["error"] == .null)
        }
    }

    @Test("a shell task's output appears in its run's log", arguments: StoreKind.enabled)
    func shellLog(kind: StoreKind) async throws {
        try await InProcessServer.with(store: kind) { api, _ in
            let created = try await api.post("/v1/tasks", #"""
                {"name":"hi","module":"shell","params":{"command":["/usr/bin/env","sh","-c","echo hello; echo world"]},"schedule":{"type":"once"}}
                """#)
            let id = try require(created["id"]?.stringValue)
            try await eventually("run complete") {
                try await api.get("/v1/runs?task_id=\(id)&status=complete").items.count == 1
            }
            let runID = try require(try await api.get("/v1/runs?task_id=\(id)").items[0]["id"]?.stringValue)
            let logs = try await api.get("/v1/runs/\(runID)/logs?offset=0&limit=100")
            #expect(logs.items.compactMap { $0["msg"]?.stringValue } == ["hello", "world"])
            #expect(logs.items.first?["level"] == .string("info") && logs.items.first?["idx"] == .int(0))
            #expect(try await api.get("/v1/runs/\(runID)/logs?offset=1").items.count == 1)
        }
    }

    @Test("bad input is a 4xx problem naming the field, and nothing is written", arguments: StoreKind.enabled)
    func badInput(kind: StoreKind) async throws {
        let cases: [(body: String, status: Int, code: String, field: String?)] = [
            ("{not json", 400, "invalid_json", nil),
            ("", 400, "invalid_json", nil),
            (#"[1,2]"#, 400, "invalid_field", nil),
            (#"{"module":"noop","schedule":{"type":"once"}}"#, 400, "missing_field", "name"),
            (#"{"name":7,"module":"noop","schedule":{"type":"once"}}"#, 400, "invalid_field", "name"),
            (#"{"name":"x","module":"teleport","schedule":{"type":"once"}}"#, 400, "unknown_module", "module"),
            (#"{"name":"x","module":"noop","schedule":{"type":"interval","every_sec":0}}"#, 400, "invalid_schedule", "schedule.every_sec"),
            (#"{"name":"x","module":"noop","schedule":{"type":"interval","every_sec":-10}}"#, 400, "invalid_schedule", "schedule.every_sec"),
            (#"{"name":"x","module":"noop","schedule":{"type":"interval","every_sec":10,"start_at":"2026-06-01T00:00:00Z","end_at":"2026-05-01T00:00:00Z"}}"#, 400, "invalid_schedule", "schedule.end_at"),
            (#"{"name":"x","module":"shell","params":{"command":"rm -rf /"},"schedule":{"type":"once"}}"#, 400, "invalid_params", "params.command"),
            (#"{"name":"x","module":"noop","schedule":{"type":"once"},"extra":true}"#, 400, "unknown_field", "extra"),
            (#"{"name":"x","module":"noop","schedule":{"type":"once"},"priority":1.5}"#, 400, "invalid_field", "priority"),
        ]
        try await InProcessServer.with(store: kind) { api, _ in
            for c in cases {
                let response = try await api.post("/v1/tasks", c.body)
                #expect(response.status == c.status, "\(c.body)")
                #expect(response.contentType == "application/problem+json")
                #expect(response["code"] == .string(c.code), "\(c.body): \(response.json)")
                #expect(response["field"] == (c.field.map(JSONValue.string) ?? nil), "\(c.body): \(response.json)")
                #expect(response["status"] == .int(Int64(c.status)))
                #expect((response["detail"]?.stringValue ?? "").isEmpty == false)
            }
            let huge = "{\"name\":\"" + String(repeating: "a", count: 2 << 20) + "\"}"
            let tooBig = try await api.post("/v1/tasks", huge)
            #expect(tooBig.status == 413 && tooBig["code"] == .string("body_too_large"))
            #expect(try await api.get("/v1/tasks?count=true")["total_count"] == .int(0), "nothing was written")
            #expect(try await api.get("/v1/runs?count=true")["total_count"] == .int(0))
            let badQuery = try await api.get("/v1/runs?status=finished")
            #expect(badQuery.status == 400 && badQuery["field"] == .string("status"))
            #expect(try await api.get("/v1/runs?limit=0")["field"] == .string("limit"))
            #expect(try await api.get("/v1/runs?cursor=zzz")["field"] == .string("cursor"))
            #expect(try await api.get("/v1/runs?scheduled_after=yesterday")["field"] == .string("scheduled_after"))
        }
    }

    @Test("a missing or wrong token is a 401; health needs none", arguments: StoreKind.enabled)
    func auth(kind: StoreKind) async throws {
        try await InProcessServer.with(store: kind) { api, _ in
            var anonymous = api
            anonymous.token = nil
            var wrong = api
            wrong.token = "orr_not-a-real-token"
            for client in [anonymous, wrong] {
                for path in ["/v1/tasks", "/v1/runs", "/v1/modules", "/v1/tasks/x"] {
                    let r = try await client.get(path)
                    #expect(r.status == 401 && r["code"] == .string("unauthorized"), "\(path)")
                }
                #expect(try await client.post("/v1/tasks", #"{"name":"x","module":"noop","schedule":{"type":"once"}}"#).status == 401)
            }
            #expect(try await api.get("/v1/tasks?count=true")["total_count"] == .int(0))
            #expect(try await anonymous.get("/healthz").status == 200)
            #expect(try await anonymous.get("/readyz").status == 200)
        }
    }

    @Test("unknown ids are 404s; run now, pause, resume, cancel, dismiss, stale If-Match, delete", arguments: StoreKind.enabled)
    func lifecycle(kind: StoreKind) async throws {
        try await InProcessServer.with(store: kind) { api, _ in
            for path in ["/v1/tasks/nope", "/v1/runs/nope", "/v1/runs/nope/logs"] {
                let r = try await api.get(path)
                #expect(r.status == 404 && r["code"] == .string("not_found"), "\(path)")
            }
            #expect(try await api.post("/v1/runs/nope/cancel").status == 404)
            let task = try await api.post("/v1/tasks", #"{"name":"later","module":"noop","schedule":{"type":"once","at":"\#(Future.y2030)"}}"#)
            let id = try require(task["id"]?.stringValue)
            let manual = try await api.post("/v1/tasks/\(id)/run")
            #expect(manual.status == 201 && manual["trigger"] == .string("manual") && manual["performed_by"] == .string("admin"))
            let manualID = try require(manual["id"]?.stringValue)
            try await eventually("manual run complete") { try await api.get("/v1/runs/\(manualID)")["status"] == .string("complete") }
            let again = try await api.post("/v1/runs/\(manualID)/cancel")
            #expect(again.status == 409 && again["detail"] == .string("the run already ended complete"))
            let dismissed = try await api.post("/v1/runs/\(manualID)/dismiss")
            #expect(dismissed["dismissed_by"] == .string("admin"))
            #expect(try await api.get("/v1/runs?task_id=\(id)&count=true")["total_count"] == .int(1), "dismissed runs are hidden by default")
            #expect(try await api.get("/v1/runs?task_id=\(id)&dismissed=true&count=true")["total_count"] == .int(1))

            let scheduled = try await api.get("/v1/runs?task_id=\(id)&status=scheduled").items[0]
            let canceled = try await api.post("/v1/runs/\(try require(scheduled["id"]?.stringValue))/cancel")
            #expect(canceled["status"] == .string("canceled") && canceled["canceled_at"]?.stringValue != nil)

            let paused = try await api.post("/v1/tasks/\(id)/pause")
            #expect(paused["enabled"] == .bool(false) && paused["version"] == .int(2) && paused["next_run_at"] == .null)
            let resumed = try await api.post("/v1/tasks/\(id)/resume")
            #expect(resumed["enabled"] == .bool(true) && resumed["version"] == .int(3))
            let stale = try await api.call(.PATCH, "/v1/tasks/\(id)", body: #"{"priority":3}"#, headers: [("If-Match", "1")])
            #expect(stale.status == 412 && stale["code"] == .string("version_mismatch"))
            let patched = try await api.call(.PATCH, "/v1/tasks/\(id)", body: #"{"priority":3,"schedule":{"type":"interval","every_sec":3600}}"#, headers: [("If-Match", "3")])
            #expect(patched.status == 200 && patched["priority"] == .int(3) && patched["version"] == .int(4))
            #expect(try await api.get("/v1/tasks?module=noop&count=true")["total_count"] == .int(1))
            #expect(try await api.get("/v1/modules").items.compactMap { $0["name"]?.stringValue } == ["http", "noop", "shell", "sleep"])

            #expect(try await api.call(.DELETE, "/v1/tasks/\(id)").status == 204)
            #expect(try await api.get("/v1/tasks/\(id)").status == 404)
            #expect(try await api.get("/v1/runs/\(manualID)").status == 200, "history stays readable")
            #expect(try await api.get("/v1/runs?task_id=\(id)&status=scheduled&count=true")["total_count"] == .int(0), "no future runs")
        }
    }
}
