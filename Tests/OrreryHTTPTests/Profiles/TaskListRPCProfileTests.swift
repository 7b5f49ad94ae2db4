import Foundation
import NIOHTTP1
import OrreryCore
import OrreryTesting
import Testing

@Suite("Profile 003: task list RPC", .timeLimit(.minutes(5)))
struct TaskListRPCProfileTests {
    static func list(_ client: APIClient, _ params: String) async throws -> APIResponse {
        try await client.post("/rpc/task/list", params)
    }

    static func tasks(_ answer: APIResponse) -> [JSONValue] { answer["result"]?["tasks"]?.arrayValue ?? [] }

    @Test("the document's request: runs of configuration 1 with messages, state words and the result envelope")
    func example() async throws {
        try await InProcessServer.with { admin, _ in
            let echo = try await admin.task(#"""
                {"name":"deploy config 1","module":"shell","labels":{"configuration_id":"1","configuration_name":"edge"},
                 "params":{"command":["/usr/bin/env","sh","-c","echo starting; echo done"]},"schedule":{"type":"once"}}
                """#)
            let fail = try await admin.task(#"{"name":"check config 1","module":"shell","labels":{"configuration_id":"1"},"params":{"command":["/usr/bin/env","false"]},"schedule":{"type":"once"}}"#)
            let elsewhere = try await admin.task(#"{"name":"config 2","module":"noop","labels":{"configuration_id":"2"},"schedule":{"type":"once"}}"#)
            try await admin.task(#"{"name":"later","module":"noop","labels":{"configuration_id":"1"},"schedule":{"type":"once","at":"\#(Future.y2030)"}}"#)
            try await admin.waitForRun(of: echo, "complete")
            try await admin.waitForRun(of: fail, "failed")
            try await admin.waitForRun(of: elsewhere, "complete")

            let answer = try await Self.list(admin, #"{ "params": { "configuration_id": 1, "show_hidden": false } }"#)
            #expect(answer.status == 200 && answer.json.keys == ["result", "successful"] && answer["successful"] == .bool(true))
            let tasks = Self.tasks(answer)
            #expect(tasks.count == 2, "runs not started yet are not listed; configuration 2 is not")
            for task in tasks {
                #expect(task.keys == ["configuration_id", "configuration_name", "finished", "hidden_by", "messages", "performed_by",
                                      "started", "state", "task_id", "title", "updated"])
                #expect(task["configuration_id"] == .int(1) && task["task_id"]?.intValue != nil && task["hidden_by"] == .string(""))
                #expect(task["performed_by"] == .string("admin"))
            }
            let deployed = try require(tasks.first { $0["title"] == .string("deploy config 1") })
            #expect(deployed["state"] == .string("End") && deployed["configuration_name"] == .string("edge"))
            #expect(deployed["messages"]?.arrayValue?.compactMap { $0["message"]?.stringValue } == ["starting", "done"])
            #expect(deployed["messages"]?.arrayValue?.first?["time"]?.stringValue.flatMap(Timestamp.init(rfc3339:)) != nil)
            #expect(deployed["finished"]?.stringValue.flatMap(Timestamp.init(rfc3339:)) != nil)
            let failed = try require(tasks.first { $0["title"] == .string("check config 1") })
            #expect(failed["state"] == .string("Failed") && failed["configuration_name"] == .string(""))

            let everything = Self.tasks(try await Self.list(admin, #"{"params":{}}"#))
            #expect(everything.count == 3, "without configuration_id: every started run")
            #expect(Self.tasks(try await Self.list(admin, #"{}"#)).count == 3, "params may be omitted")
        }
    }

    @Test("show_hidden: dismissed runs are hidden by default, shown as Dismissed with hidden_by")
    func hidden() async throws {
        try await InProcessServer.with { admin, _ in
            let op = try await admin.token("operator", name: "olga")
            let task = try await op.task(#"{"name":"dismiss me","module":"noop","labels":{"configuration_id":"5"},"schedule":{"type":"once"}}"#)
            let run = try await op.waitForRun(of: task, "complete")
            #expect(try await op.post("/v1/runs/\(try require(run["id"]?.stringValue))/dismiss").status == 200)
            #expect(Self.tasks(try await Self.list(op, #"{"params":{"configuration_id":5}}"#)).isEmpty)
            #expect(Self.tasks(try await Self.list(op, #"{"params":{"configuration_id":5,"show_hidden":false}}"#)).isEmpty)
            let shown = Self.tasks(try await Self.list(op, #"{"params":{"configuration_id":5,"show_hidden":true}}"#))
            #expect(shown.count == 1 && shown.first?["state"] == .string("Dismissed") && shown.first?["hidden_by"] == .string("olga"))
            #expect(shown.first?["performed_by"] == .string("olga"), "the task's owner, for a scheduled run")
        }
    }

    @Test("an active run is In Progress with no finished time; a deleted task's runs have configuration_id 0")
    func inProgressAndDeleted() async throws {
        try await InProcessServer.with { admin, _ in
            let slow = try await admin.task(#"{"name":"slow","module":"sleep","params":{"seconds":60},"labels":{"configuration_id":"9"},"schedule":{"type":"once"}}"#)
            let active = try await admin.waitForRun(of: slow, "active")
            let listed = Self.tasks(try await Self.list(admin, #"{"params":{"configuration_id":9}}"#))
            #expect(listed.first?["state"] == .string("In Progress") && listed.first?["finished"] == .string(""))
            #expect(try await admin.post("/v1/runs/\(try require(active["id"]?.stringValue))/cancel").status == 200)
            try await admin.waitForRun(of: slow, "canceled")
            #expect(try await admin.call(.DELETE, "/v1/tasks/\(try require(slow["id"]?.stringValue))").status == 204)
            let after = Self.tasks(try await Self.list(admin, #"{"params":{"configuration_id":9}}"#))
            #expect(after.count == 1 && after.first?["state"] == .string("Failed") && after.first?["configuration_id"] == .int(0))
        }
    }

    @Test("bad input: 400 with {error: {message}, successful: false}; 401 in the same shape; projects are isolated")
    func errors() async throws {
        try await InProcessServer.with { admin, _ in
            for body in [#"{"params":{"configuration_id":-1}}"#, #"{"params":{"configuration_id":"one"}}"#, #"{"params":{"configuration_id":1.5}}"#,
                         #"{"params":{"show_hidden":"yes"}}"#, #"{"params":{"configuration":1}}"#, #"{"params":[1]}"#, #"{"parms":{}}"#,
                         "{not json", ""] {
                let bad = try await Self.list(admin, body)
                #expect(bad.status == 400, "\(body)")
                #expect(bad.json.keys == ["error", "successful"] && bad["successful"] == .bool(false), "\(body)")
                #expect(bad["error"]?["message"]?.stringValue?.isEmpty == false)
            }
            let anonymous = try await admin.raw(.POST, "/rpc/task/list", body: #"{"params":{}}"#)
            #expect(anonymous.status == 401 && anonymous["successful"] == .bool(false) && anonymous["error"]?["message"] != nil)

            let mine = try await admin.task(#"{"name":"mine","module":"noop","labels":{"configuration_id":"3"},"schedule":{"type":"once"}}"#)
            try await admin.waitForRun(of: mine, "complete")
            let stranger = try await admin.token("viewer", project: "other")
            let seen = try await Self.list(stranger, #"{"params":{"configuration_id":3}}"#)
            #expect(seen.status == 200 && Self.tasks(seen).isEmpty)
        }
    }
}
