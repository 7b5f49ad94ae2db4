import Foundation
import NIOHTTP1
import OrreryCore
import OrreryTesting
import Testing

/// The notification endpoints and the notify block over HTTP (real server, loopback).
@Suite("Notifications over HTTP: notify validation, deliveries by run, seed 001 POST /api/tasks", .timeLimit(.minutes(5)))
struct NotificationAPITests {
    @Test("a bad notify block is a 400 naming the field, and nothing is stored", arguments: StoreKind.enabled)
    func badNotify(store: StoreKind) async throws {
        try await InProcessServer.with(store: store) { api, _ in
            for (notify, field) in [
                (#"{"email":[{"address":"nope"}]}"#, "notify.email[0].address"),
                (#"{"webhooks":[{"url":"gopher://x.example/","secret":"0123456789abcdef"}]}"#, "notify.webhooks[0].url"),
                (#"{"webhooks":[{"url":"https://x.example/","secret":"too-short"}]}"#, "notify.webhooks[0].secret"),
                (#"{"webhooks":[{"url":"https://x.example/","secret":"0123456789abcdef","events":["run.done"]}]}"#, "notify.webhooks[0].events[0]"),
            ] {
                let answer = try await api.post("/v1/tasks", #"{"name":"n","module":"noop","schedule":{"type":"once"},"notify":\#(notify)}"#)
                #expect(answer.status == 400 && answer["field"] == .string(field), "\(notify): \(answer.json)")
            }
            #expect(try await api.get("/v1/tasks").items.isEmpty, "nothing stored")
        }
    }

    @Test("a webhook secret is write-only: the task shows a placeholder, a PATCH sending the block back keeps the stored secret, a placeholder for a new url is a 400", arguments: StoreKind.enabled)
    func secretIsWriteOnly(store: StoreKind) async throws {
        try await InProcessServer.with(store: store) { api, stored in
            let secret = "0123456789abcdef-the-real-secret"
            let created = try await api.post("/v1/tasks", """
                {"name":"hooked","module":"noop","schedule":{"type":"cron","expression":"0 3 * * *"},
                 "notify":{"webhooks":[{"url":"https://hooks.example.com/a","secret":"\(secret)"}]}}
                """)
            #expect(created.status == 201)
            let id = try require(created["id"]?.stringValue)
            let shown = try await api.get("/v1/tasks/\(id)")
            #expect(!String(describing: shown.json).contains(secret) && !String(describing: created.json).contains(secret), "never shown")
            let notify = try require(shown["notify"])
            #expect(notify["webhooks"]?.arrayValue?.first?["secret"] == .string(NotifyPolicy.redactedSecret))

            // A client that edits the task as it read it (the dashboard's JSON editor does) keeps the secret.
            let renamed = try await api.call(.PATCH, "/v1/tasks/\(id)", body: #"{"name":"hooked-2","notify":\#(notify.jsonText)}"#)
            #expect(renamed.status == 200, "\(renamed.json)")
            let kept = try await stored.task(id: id, project: nil).notify
            #expect(kept?["webhooks"]?.arrayValue?.first?["secret"] == .string(secret), "the stored secret is unchanged")

            // The placeholder cannot move to another url (nor become a secret of its own).
            let moved = try await api.call(.PATCH, "/v1/tasks/\(id)", body: """
                {"notify":{"webhooks":[{"url":"https://elsewhere.example.com/b","secret":"\(NotifyPolicy.redactedSecret)"}]}}
                """)
            #expect(moved.status == 400 && moved["field"] == .string("notify.webhooks[0].secret"), "\(moved.json)")
            #expect(try await stored.task(id: id, project: nil).name == "hooked-2", "nothing changed by the refused PATCH")
        }
    }

    @Test("GET /v1/runs/{id}/notifications lists a run's deliveries without secrets; another project's run is a 404", arguments: StoreKind.enabled)
    func deliveriesByRun(store: StoreKind) async throws {
        try await InProcessServer.with(store: store) { admin, _ in
            func token(_ role: String, _ project: String) async throws -> APIClient {
                var client = admin
                client.token = try require(try await admin.post("/v1/tokens", #"{"role":"\#(role)","project":"\#(project)","name":"\#(role)-\#(project)"}"#)["token"]?.stringValue)
                return client
            }
            let blue = try await token("viewer", "blue")
            let blueViewer = try await token("viewer", "blue")
            let red = try await token("viewer", "red")
            // The shell module needs the shell right: the admin creates the task in project blue.
            let task = try require(try await admin.post("/v1/tasks", """
                {"name":"fails","project":"blue","module":"shell","params":{"command":["/bin/sh","-c","exit 5"]},"schedule":{"type":"once"},
                 "notify":{"email":[{"address":"ops@example.com","problems_only":true}],
                           "webhooks":[{"url":"https://hooks.example.com/x","events":["run.failed"],"secret":"0123456789abcdef-secret"}]}}
                """)["id"]?.stringValue)
            var runID = ""
            try await eventually("the run failed") {
                let runs = try await blue.get("/v1/runs?task_id=\(task)&status=failed").items
                runID = runs.first?["id"]?.stringValue ?? ""
                return !runID.isEmpty
            }
            let answer = try await blueViewer.get("/v1/runs/\(runID)/notifications")
            #expect(answer.status == 200)
            #expect(Set(answer.items.compactMap { $0["target"]?.stringValue }) == ["ops@example.com", "https://hooks.example.com/x"])
            #expect(answer.items.allSatisfy { $0["event"] == .string("run.failed") && $0["secret"] == nil && $0["attempts"] == .array([]) })
            #expect(!String(describing: answer.json).contains("0123456789abcdef-secret"), "the secret is never shown")
            #expect(try await red.get("/v1/runs/\(runID)/notifications").status == 404, "another project's run")
            #expect(try await red.get("/v1/notifications").items.isEmpty)
            #expect(try await blueViewer.get("/v1/notifications?task_id=\(task)&status=pending").items.count == 2)
            #expect(try await blueViewer.get("/v1/notifications?status=sent")["field"] == .string("status"))
        }
    }

    @Test("seed 001: POST /api/tasks creates an array of tasks in that API's shape (200, no content); email.recipients round-trips; a bad one stores nothing", arguments: StoreKind.enabled)
    func seedCreate(store: StoreKind) async throws {
        try await InProcessServer.with(store: store) { api, _ in
            let created = try await api.post("/api/tasks", """
                [{"task_module":"noop","description":"nightly report","task_params":{},"task_timeout_sec":120,
                  "schedules":[{"days_of_month":[],"hours":[2],"minutes":[30],"timezone":"Europe/Berlin","weekdays":["monday"]}],
                  "email":{"recipients":[{"email":"ops@example.com","problems_only":true}]}},
                 {"task_module":"noop","description":"adhoc"}]
                """)
            #expect(created.status == 200 && created.json == .null)
            let tasks = try await api.get("/api/tasks").json.arrayValue ?? []
            #expect(tasks.count == 2)
            let report = try require(tasks.first { $0["task"]?["description"] == .string("nightly report") }?["task"])
            #expect(report["email"] == .object(["recipients": .array([.object(["email": .string("ops@example.com"), "problems_only": .bool(true)])])]))
            #expect(report["task_timeout_sec"] == .int(120) && report["schedules"]?.arrayValue?.first?["hours"] == .array([.int(2)]))

            let bad = try await api.post("/api/tasks", """
                [{"task_module":"noop","description":"fine"},{"task_module":"noop","email":{"recipients":[{"email":"not an address"}]}}]
                """)
            #expect(bad.status == 400 && bad["error"]?["message"] != nil, "\(bad.json)")
            #expect(try await api.get("/api/tasks").json.arrayValue?.count == 2, "the good first task was not stored either")
            #expect(try await api.post("/api/tasks", #"{"task_module":"noop"}"#).status == 400, "the body is an array")

            // An operator without the shell right: the shell task refuses the whole request.
            var op = api
            op.token = try require(try await api.post("/v1/tokens", #"{"role":"operator","name":"op"}"#)["token"]?.stringValue)
            let mixed = try await op.post("/api/tasks", """
                [{"task_module":"noop","description":"harmless"},{"task_module":"shell","task_params":{"command":["/bin/true"]}}]
                """)
            #expect(mixed.status == 403, "\(mixed.json)")
            #expect(try await api.get("/api/tasks").json.arrayValue?.count == 2, "the harmless first task was not stored either")
        }
    }
}
