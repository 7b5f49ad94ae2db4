import Foundation
import NIOHTTP1
import OrreryCore
import OrreryTesting
import Testing

@Suite("Profile 001: task API by integer id", .timeLimit(.minutes(5)))
struct TaskAPIProfileTests {
    static func seq(_ task: JSONValue) throws -> Int64 { try require(task["seq"]?.intValue) }

    @Test("GET /api/task/{id}: the _user envelope, structured schedules, email recipients, status new then scheduled")
    func getTask() async throws {
        try await InProcessServer.with { admin, _ in
            let task = try await admin.task(#"""
                {"name":"report","description":"weekly report","module":"noop","timeout_sec":60,
                 "notify":{"email":[{"address":"ops@example.com","problems_only":true}]},
                 "schedule":{"type":"calendar","minutes":[0],"hours":[9],"days_of_month":[],"months":[],"weekdays":["monday","friday"],"timezone":"Asia/Shanghai"}}
                """#)
            let answer = try await admin.get("/api/task/\(try Self.seq(task))")
            #expect(answer.status == 200 && answer.json.keys == ["_user", "task"])
            #expect(answer["_user"]?["_basetype"] == .string("user"))
            #expect(answer["_user"]?["user"]?["_generated_displayname"] == .string("admin") && answer["_user"]?["user"]?["_id"]?.intValue != nil)
            let body = try require(answer["task"])
            #expect(body.keys == ["_id", "created_at", "description", "email", "frontend_prefs", "next_run_at", "run_canceled_at",
                                  "run_finished_at", "run_started_at", "schedules", "state", "status", "status_msg", "status_percent",
                                  "task_module", "task_params", "task_timeout_sec", "updated_at", "version"])
            #expect(body["_id"] == task["seq"] && body["description"] == .string("weekly report") && body["task_module"] == .string("noop"))
            #expect(body["status"] == .string("scheduled") && body["task_timeout_sec"] == .int(60) && body["version"] == .int(1))
            #expect(body["email"] == .object(["recipients": .array([.object(["email": .string("ops@example.com"), "problems_only": .bool(true)])])]))
            #expect(body["schedules"] == .array([.object([
                "days_of_month": .array([]), "hours": .array([.int(9)]), "minutes": .array([.int(0)]),
                "timezone": .string("Asia/Shanghai"), "weekdays": .array([.string("monday"), .string("friday")]),
            ])]))
            #expect(body["next_run_at"] == task["next_run_at"])

            let cron = try await admin.task(#"{"name":"c","module":"noop","schedule":{"type":"cron","expression":"30 2 1 * *","timezone":"UTC"}}"#)
            let cronBody = try await admin.get("/api/task/\(try Self.seq(cron))")["task"]
            #expect(cronBody?["schedules"]?.arrayValue?.first?["days_of_month"] == .array([.int(1)]))
            #expect(cronBody?["schedules"]?.arrayValue?.first?["minutes"] == .array([.int(30)]))
            let paused = try await admin.task(#"{"name":"p","module":"noop","enabled":false,"schedule":{"type":"interval","every_sec":60}}"#)
            let pausedBody = try await admin.get("/api/task/\(try Self.seq(paused))")["task"]
            #expect(pausedBody?["status"] == .string("new") && pausedBody?["schedules"] == .array([]))
        }
    }

    @Test("a finished task: status finished, run times, status_percent and status_msg; its log with offset and limit")
    func finishedAndLog() async throws {
        try await InProcessServer.with { admin, _ in
            let task = try await admin.task(#"{"name":"echo","module":"shell","params":{"command":["/usr/bin/env","sh","-c","echo one; echo two; echo three"]},"schedule":{"type":"once"}}"#)
            try await admin.waitForRun(of: task, "complete")
            let body = try require(try await admin.get("/api/task/\(try Self.seq(task))")["task"])
            #expect(body["status"] == .string("finished"))
            #expect(body["run_started_at"]?.stringValue != nil && body["run_finished_at"]?.stringValue != nil && body["run_canceled_at"] == .null)
            let log = try await admin.get("/api/task/\(try Self.seq(task))/log")
            #expect(log.status == 200)
            let entries = log.json.arrayValue ?? []
            #expect(entries.compactMap { $0["msg"]?.stringValue } == ["one", "two", "three"])
            #expect(entries.first?.keys == ["idx", "level", "msg", "status_percent", "timestamp"])
            let page = try await admin.get("/api/task/\(try Self.seq(task))/log?offset=1&limit=1").json.arrayValue ?? []
            #expect(page.compactMap { $0["msg"]?.stringValue } == ["two"])
            #expect(try await admin.get("/api/task/\(try Self.seq(task))/log?offset=3").json == .array([]))

            let sleeper = try await admin.task(#"{"name":"nap","module":"sleep","params":{"seconds":0},"schedule":{"type":"once"}}"#)
            try await admin.waitForRun(of: sleeper, "complete")
            let napped = try require(try await admin.get("/api/task/\(try Self.seq(sleeper))")["task"])
            #expect(napped["status_percent"] == .int(100) && napped["status_msg"] == .string("done"))
            let bad = try await admin.task(#"{"name":"bad","module":"shell","params":{"command":["/usr/bin/env","false"]},"schedule":{"type":"once"}}"#)
            try await admin.waitForRun(of: bad, "failed")
            let failed = try require(try await admin.get("/api/task/\(try Self.seq(bad))")["task"])
            #expect(failed["status"] == .string("failed") && failed["status_msg"]?.stringValue?.isEmpty == false)
        }
    }

    @Test("cancel and delete answer acknowledged ok; a viewer gets 403 and nothing changes")
    func cancelAndDelete() async throws {
        try await InProcessServer.with { admin, _ in
            let viewer = try await admin.token("viewer")
            let op = try await admin.token("operator")
            let task = try await op.task(#"{"name":"later","module":"noop","schedule":{"type":"once","at":"\#(Future.y2030)"}}"#)
            let id = try Self.seq(task)
            let denied = try await viewer.post("/api/task/\(id)/cancel")
            #expect(denied.status == 403 && denied["error"]?["code"] == .string("forbidden"))
            #expect(try await admin.get("/api/task/\(id)")["task"]?["status"] == .string("scheduled"))
            let canceled = try await op.post("/api/task/\(id)/cancel")
            #expect(canceled.status == 200 && canceled.json == .object(["acknowledged": .string("ok")]))
            let after = try require(try await op.get("/api/task/\(id)")["task"])
            #expect(after["status"] == .string("canceled") && after["run_canceled_at"]?.stringValue != nil)
            #expect(try await op.post("/api/task/\(id)/cancel").status == 409, "nothing left to cancel")

            #expect(try await viewer.call(.DELETE, "/api/task/\(id)").status == 403)
            #expect(try await viewer.get("/api/task/\(id)").status == 200)
            let deleted = try await op.call(.DELETE, "/api/task/\(id)")
            #expect(deleted.status == 200 && deleted.json == .object(["acknowledged": .string("ok")]))
            let gone = try await op.get("/api/task/\(id)")
            #expect(gone.status == 404 && gone["error"]?["code"] == .string("not_found"))
            #expect(try await op.call(.DELETE, "/api/task/\(id)").status == 404)
        }
    }

    @Test("GET /api/task/modules: localized descriptions, parameters with group, position, type, default, required right")
    func modules() async throws {
        try await InProcessServer.with { admin, _ in
            let viewer = try await admin.token("viewer")
            let answer = try await viewer.get("/api/task/modules")
            #expect(answer.status == 200 && answer.json.keys == ["modules"])
            let modules = answer["modules"]?.arrayValue ?? []
            #expect(modules.compactMap { $0["name"]?.stringValue } == ["http", "noop", "shell", "sleep"])
            let sleep = try require(modules.first { $0["name"] == .string("sleep") })
            #expect(sleep["description"]?["de-DE"]?.stringValue?.isEmpty == false && sleep["description"]?["en-US"] != nil)
            let seconds = try require(sleep["params"]?.arrayValue?.first)
            #expect(seconds.keys == ["group", "name", "parameters", "require_system_right", "unauthenticated_visible"])
            #expect(seconds["name"] == .string("seconds") && seconds["parameters"]?["type"] == .string("number"))
            #expect(seconds["parameters"]?["position"] == .int(0) && seconds["require_system_right"] == .null)
            let shell = try require(modules.first { $0["name"] == .string("shell") })
            #expect(shell["params"]?.arrayValue?.allSatisfy { $0["require_system_right"] == .string("shell") } == true)
        }
    }

    @Test("GET /api/tasks lists the caller's tasks as envelopes; ids, tokens and projects are checked")
    func listAndErrors() async throws {
        try await InProcessServer.with { admin, _ in
            let mine = try await admin.task(#"{"name":"mine","module":"noop","schedule":{"type":"once","at":"\#(Future.y2030)"}}"#)
            let other = try await admin.token("operator", project: "other")
            let theirs = try await other.task(#"{"name":"theirs","module":"noop","schedule":{"type":"once","at":"\#(Future.y2030)"}}"#)
            let theirList = try await other.get("/api/tasks")
            #expect(theirList.status == 200)
            #expect(theirList.json.arrayValue?.compactMap { $0["task"]?["_id"] } == [theirs["seq"]!])
            #expect(theirList.json.arrayValue?.first?["_user"]?["user"]?["_generated_displayname"] == .string("operator-other"))
            let all = try await admin.get("/api/tasks").json.arrayValue?.compactMap { $0["task"]?["_id"] } ?? []
            #expect(Set(all) == [mine["seq"]!, theirs["seq"]!], "an admin sees every project")

            let hidden = try await other.get("/api/task/\(try Self.seq(mine))")
            #expect(hidden.status == 404 && hidden["task"] == nil)
            #expect(try await other.post("/api/task/\(try Self.seq(mine))/cancel").status == 404)
            #expect(try await other.call(.DELETE, "/api/task/\(try Self.seq(mine))").status == 404)
            for path in ["/api/task/abc", "/api/task/0", "/api/task/-3", "/api/task/1/log?limit=0", "/api/task/1/log?offset=-1"] {
                let bad = try await admin.get(path)
                #expect(bad.status == 400 && bad["error"]?["message"]?.stringValue?.isEmpty == false, "\(path)")
            }
            #expect(try await admin.get("/api/task/999999").status == 404)
            let anonymous = try await admin.raw(.GET, "/api/tasks")
            #expect(anonymous.status == 401 && anonymous["error"]?["code"] == .string("unauthorized"))
            #expect(try await admin.raw(.GET, "/api/task/modules", headers: [("Authorization", "Bearer nope")]).status == 401)
        }
    }
}
