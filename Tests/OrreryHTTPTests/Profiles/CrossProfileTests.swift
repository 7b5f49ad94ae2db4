import Foundation
import NIOHTTP1
import OrreryCore
import OrreryTesting
import Testing

@Suite("Profiles: one store, five views", .timeLimit(.minutes(5)))
struct CrossProfileTests {
    @Test("tasks and runs made through /v1 tell the same story through all five profiles")
    func sameStory() async throws {
        try await InProcessServer.with { admin, _ in
            let ok = try await admin.task(#"{"name":"backup ok","module":"noop","resource_id":"vm-1","labels":{"configuration_id":"4"},"schedule":{"type":"once"}}"#)
            let bad = try await admin.task(#"{"name":"backup bad","module":"shell","params":{"command":["/usr/bin/env","false"]},"resource_id":"vm-1","labels":{"configuration_id":"4"},"schedule":{"type":"once"}}"#)
            let later = try await admin.task(#"{"name":"backup later","module":"noop","resource_id":"vm-1","labels":{"configuration_id":"4"},"schedule":{"type":"once","at":"\#(Future.y2030)"}}"#)
            let okRun = try require(try await admin.waitForRun(of: ok, "complete")["id"]?.stringValue)
            let badRun = try require(try await admin.waitForRun(of: bad, "failed")["id"]?.stringValue)
            let laterRun = try require(try await admin.waitForRun(of: later, "scheduled")["id"]?.stringValue)
            let token = try require(admin.token)

            // 000: every run, in Synapse's words.
            let synapse = try await admin.get("/_synapse/admin/v1/scheduled_tasks?resource_id=vm-1")["scheduled_tasks"]?.arrayValue ?? []
            let synapseStatus = Dictionary(uniqueKeysWithValues: synapse.map { ($0["id"]?.stringValue ?? "", $0["status"]?.stringValue ?? "") })
            #expect(synapseStatus == [okRun: "complete", badRun: "failed", laterRun: "scheduled"])

            // 004: the same runs as jobs of instance vm-1.
            let dms = try await admin.raw(.GET, "/v2/default/instances/vm-1/scheduled-tasks?limit=100", headers: [("X-Auth-Token", token)])
            let dmsStatus = Dictionary(uniqueKeysWithValues: (dms["jobs"]?.arrayValue ?? []).map { ($0["id"]?.stringValue ?? "", $0["status"]?.stringValue ?? "") })
            #expect(dmsStatus == [okRun: "SUCCESS", badRun: "FAILED", laterRun: "CREATED"] && dms["job_count"] == .int(3))

            // 003: the started runs of configuration 4.
            let rpc = try await admin.post("/rpc/task/list", #"{"params":{"configuration_id":4}}"#)["result"]?["tasks"]?.arrayValue ?? []
            let rpcState = Dictionary(uniqueKeysWithValues: rpc.map { ($0["title"]?.stringValue ?? "", $0["state"]?.stringValue ?? "") })
            #expect(rpcState == ["backup ok": "End", "backup bad": "Failed"])

            // 001: each task by its integer id.
            for (task, status) in [(ok, "finished"), (bad, "failed"), (later, "scheduled")] {
                let seq = try require(task["seq"]?.intValue)
                #expect(try await admin.get("/api/task/\(seq)")["task"]?["status"] == .string(status), "\(task["name"]!)")
            }

            // 002: the tasks, with their last status.
            let workspace = try await admin.raw(.GET, "/v2/default/scheduled-tasks?offset=0&limit=50&task_name=backup", headers: [("X-Auth-Token", token)])
            let lastStatus = Dictionary(uniqueKeysWithValues: (workspace["scheduled_tasks"]?.arrayValue ?? []).map {
                ($0["task_name"]?.stringValue ?? "", $0["last_status"] ?? .null)
            })
            #expect(lastStatus == ["backup ok": .string("SUCCESS"), "backup bad": .string("FAIL"), "backup later": .null])
            #expect(workspace["total_count"] == .int(3))
        }
    }

    @Test("a path or method a profile does not have is answered in that profile's error format, not problem+json")
    func unknownRoutes() async throws {
        try await InProcessServer.with { admin, _ in
            let token = try require(admin.token)
            let synapse = try await admin.get("/_synapse/admin/v1/scheduled_task")
            #expect(synapse.status == 404 && synapse["errcode"] == .string("M_UNRECOGNIZED") && synapse["error"] != nil)
            let synapsePost = try await admin.post("/_synapse/admin/v1/scheduled_tasks", "{}")
            #expect(synapsePost.status == 404 && synapsePost["errcode"] == .string("M_UNRECOGNIZED"))
            let taskAPI = try await admin.get("/api/task/1/logs")
            #expect(taskAPI.status == 404 && taskAPI["error"]?["code"]?.stringValue != nil && taskAPI.contentType == "application/json")
            let workspace = try await admin.raw(.POST, "/v2/default/scheduled-tasks", headers: [("X-Auth-Token", token)], body: "{}")
            #expect(workspace.status == 404 && workspace["error_code"] == .string("WKS.00404001"))
            let dms = try await admin.raw(.DELETE, "/v2/default/instances/i/scheduled-tasks", headers: [("X-Auth-Token", token)])
            #expect(dms.status == 404 && dms["error_code"] == .string("DMS.00404001"))
            let rpc = try await admin.get("/rpc/task/list")
            #expect(rpc.status == 404 && rpc["successful"] == .bool(false) && rpc["error"]?["message"] != nil)
            let native = try await admin.get("/v1/nothing")
            #expect(native.status == 404 && native.contentType == "application/problem+json", "the native API keeps its problems")
        }
    }

    @Test("a run skipped by the overlap policy: Synapse complete with a skipped result, DMS SUCCESS, task list End")
    func skippedRun() async throws {
        try await InProcessServer.with { admin, _ in
            let task = try await admin.task(#"{"name":"overlapping","module":"sleep","params":{"seconds":30},"resource_id":"vm-9","overlap":"skip","schedule":{"type":"interval","every_sec":1}}"#)
            let skipped = try require(try await admin.waitForRun(of: task, "skipped")["id"]?.stringValue)
            let id = try require(task["id"]?.stringValue)
            #expect(try await admin.post("/v1/tasks/\(id)/pause").status == 200)
            for run in try await admin.runs(of: task) where run["status"] == .string("active") {
                _ = try await admin.post("/v1/runs/\(try require(run["id"]?.stringValue))/cancel")
            }

            let synapse = try await admin.get("/_synapse/admin/v1/scheduled_tasks?resource_id=vm-9")["scheduled_tasks"]?.arrayValue ?? []
            let item = try require(synapse.first { $0["id"] == .string(skipped) })
            #expect(item["status"] == .string("complete") && item["result"] == .object(["skipped": .bool(true)]))
            let completes = try await admin.get("/_synapse/admin/v1/scheduled_tasks?resource_id=vm-9&status=complete")["scheduled_tasks"]?.arrayValue ?? []
            #expect(completes.contains { $0["id"] == .string(skipped) })

            let dms = try await admin.raw(.GET, "/v2/default/instances/vm-9/scheduled-tasks?limit=100", headers: [("X-Auth-Token", try require(admin.token))])
            #expect(dms["jobs"]?.arrayValue?.first { $0["id"] == .string(skipped) }?["status"] == .string("SUCCESS"))

            let rpc = try await admin.post("/rpc/task/list", #"{"params":{}}"#)["result"]?["tasks"]?.arrayValue ?? []
            #expect(rpc.contains { $0["state"] == .string("End") && $0["title"] == .string("overlapping") && $0["finished"] != .string("") })
        }
    }
}
