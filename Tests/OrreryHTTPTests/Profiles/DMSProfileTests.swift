import Foundation
import NIOHTTP1
import OrreryCore
import OrreryTesting
import Testing

@Suite("Profile 004: Huawei DMS instance scheduled-tasks", .timeLimit(.minutes(5)))
struct DMSProfileTests {
    static func list(_ client: APIClient, _ query: String, project: String = "default", instance: String = "inst-1",
                     spelling: String = "scheduled-tasks") async throws -> APIResponse {
        try await client.raw(.GET, "/v2/\(project)/instances/\(instance)/\(spelling)?\(query)", headers: [("X-Auth-Token", try require(client.token))])
    }

    static func ids(_ answer: APIResponse) -> Set<String> {
        Set((answer["jobs"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue })
    }

    /// Runs on instance `inst-1` in every DMS state, plus one on `inst-2`; returns run ids by state.
    static func seed(_ admin: APIClient) async throws -> [String: String] {
        let pending = try await admin.task(#"{"name":"reassign","module":"noop","params":{},"resource_id":"inst-1","schedule":{"type":"once","at":"\#(Future.y2030)"}}"#)
        let done = try await admin.task(#"{"name":"jobName","module":"sleep","params":{"seconds":0},"resource_id":"inst-1","schedule":{"type":"once"}}"#)
        let failing = try await admin.task(#"{"name":"broken","module":"shell","params":{"command":["/usr/bin/env","false"]},"resource_id":"inst-1","schedule":{"type":"once"}}"#)
        let canceled = try await admin.task(#"{"name":"called off","module":"noop","resource_id":"inst-1","schedule":{"type":"once","at":"\#(Future.y2031)"}}"#)
        let deleted = try await admin.task(#"{"name":"gone","module":"noop","resource_id":"inst-1","schedule":{"type":"once"}}"#)
        let elsewhere = try await admin.task(#"{"name":"other instance","module":"noop","resource_id":"inst-2","schedule":{"type":"once"}}"#)
        var ids: [String: String] = [:]
        ids["CREATED"] = try require(try await admin.waitForRun(of: pending, "scheduled")["id"]?.stringValue)
        ids["SUCCESS"] = try require(try await admin.waitForRun(of: done, "complete")["id"]?.stringValue)
        ids["FAILED"] = try require(try await admin.waitForRun(of: failing, "failed")["id"]?.stringValue)
        let toCancel = try require(try await admin.waitForRun(of: canceled, "scheduled")["id"]?.stringValue)
        #expect(try await admin.post("/v1/runs/\(toCancel)/cancel").status == 200)
        ids["CANCELLED"] = toCancel
        ids["DELETED"] = try require(try await admin.waitForRun(of: deleted, "complete")["id"]?.stringValue)
        #expect(try await admin.call(.DELETE, "/v1/tasks/\(try require(deleted["id"]?.stringValue))").status == 204)
        ids["other"] = try require(try await admin.waitForRun(of: elsewhere, "complete")["id"]?.stringValue)
        return ids
    }

    @Test("the document's example shape: job_count and jobs with id, name, user, params as text, DMS status words")
    func example() async throws {
        try await InProcessServer.with { admin, _ in
            let ids = try await Self.seed(admin)
            let answer = try await Self.list(admin, "start=0&limit=10")
            #expect(answer.status == 200 && answer.json.keys == ["job_count", "jobs"])
            #expect(answer["job_count"] == .int(5) && Self.ids(answer) == Set(ids.filter { $0.key != "other" }.values))
            let jobs = answer["jobs"]?.arrayValue ?? []
            for job in jobs {
                #expect(job.keys == ["created_at", "id", "name", "params", "schedule_at", "status", "updated_at", "user_id", "user_name"])
            }
            let statusByID = Dictionary(uniqueKeysWithValues: jobs.map { ($0["id"]?.stringValue ?? "", $0["status"]?.stringValue ?? "") })
            for (word, id) in ids where word != "other" { #expect(statusByID[id] == word, "\(word)") }
            let done = try require(jobs.first { $0["id"] == .string(ids["SUCCESS"]!) })
            #expect(done["name"] == .string("jobName") && done["params"] == .string(#"{"seconds":0}"#))
            #expect(done["user_name"] == .string("admin") && done["user_id"] == .string("admin"))
            #expect(done["created_at"]?.stringValue.flatMap(Timestamp.init(rfc3339:)) != nil)
            let pending = try require(jobs.first { $0["id"] == .string(ids["CREATED"]!) })
            #expect(pending["schedule_at"] == .string("\(Future.year)-01-01T00:00:00.000Z"))
        }
    }

    @Test("the example request as printed (schedule-tasks, beginTime/endTime) and begin_time/end_time bound schedule_at, inclusive")
    func timeWindow() async throws {
        try await InProcessServer.with { admin, _ in
            let ids = try await Self.seed(admin)
            let printed = try await Self.list(admin, "start=0&limit=10&beginTime=19700101000000&endTime=20240101000000", spelling: "schedule-tasks")
            #expect(printed.status == 200 && printed["job_count"] == .int(0) && printed["jobs"] == .array([]))
            let future = try await Self.list(admin, "start=0&limit=10&begin_time=\(Future.y2030dms)")
            #expect(Self.ids(future) == [ids["CREATED"]!, ids["CANCELLED"]!])
            let exactly = try await Self.list(admin, "start=0&limit=10&begin_time=\(Future.y2030dms)&end_time=\(Future.y2030dms)")
            #expect(Self.ids(exactly) == [ids["CREATED"]!])
            let now = try await Self.list(admin, "limit=10&end_time=20291231235959")
            #expect(Self.ids(now) == [ids["SUCCESS"]!, ids["FAILED"]!, ids["DELETED"]!] && now["job_count"] == .int(3))
            #expect(Self.ids(try await Self.list(admin, "limit=10", instance: "inst-2")) == [ids["other"]!])
            #expect(try await Self.list(admin, "limit=10", instance: "nothing-here")["job_count"] == .int(0))
        }
    }

    @Test("paging: start skips jobs, limit (1-100) bounds them, job_count stays the total")
    func paging() async throws {
        try await InProcessServer.with { admin, _ in
            _ = try await Self.seed(admin)
            var seen: [String] = []
            for start in [0, 2, 4] {
                let page = try await Self.list(admin, "start=\(start)&limit=2")
                #expect(page["job_count"] == .int(5))
                seen += (page["jobs"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue }
            }
            #expect(seen.count == 5 && Set(seen).count == 5)
            #expect(try await Self.list(admin, "start=5&limit=2")["jobs"] == .array([]))
            #expect(try await Self.list(admin, "")["jobs"]?.arrayValue?.count == 5, "defaults: start 0, limit 10")
            #expect(try await Self.list(admin, "limit=100").status == 200)
        }
    }

    @Test("bad input is a 400 with error_code and error_msg; tokens and projects are checked")
    func errors() async throws {
        try await InProcessServer.with { admin, _ in
            for query in ["limit=0", "limit=101", "limit=ten", "start=-1", "begin_time=2024-01-01", "begin_time=20241301000000", "begin_time=20230229000000", "end_time=20240101246000",
                          "end_time=2024010100000", "begin_time=20240102000000&end_time=20240101000000", "beginTime=yesterday"] {
                let bad = try await Self.list(admin, query)
                #expect(bad.status == 400 && bad["error_code"]?.stringValue?.hasPrefix("DMS.") == true, "\(query)")
                #expect(bad["error_msg"]?.stringValue?.isEmpty == false)
            }
            let missing = try await admin.raw(.GET, "/v2/default/instances/inst-1/scheduled-tasks")
            #expect(missing.status == 401 && missing["error_code"] == .string("APIGW.0301"))
            let op = try await admin.token("operator", project: "other")
            let theirs = try await op.task(#"{"name":"theirs","module":"noop","resource_id":"inst-1","schedule":{"type":"once","at":"\#(Future.y2030)"}}"#)
            let theirRun = try await op.waitForRun(of: theirs, "scheduled")
            let denied = try await Self.list(op, "limit=10", project: "default")
            #expect(denied.status == 403 && denied["jobs"] == nil)
            let own = try await Self.list(op, "limit=10", project: "other")
            #expect(Self.ids(own) == [try require(theirRun["id"]?.stringValue)])
            #expect(try await Self.list(admin, "limit=10")["job_count"] == .int(0), "the default project's inst-1 has none of project other's jobs")
        }
    }

    @Test("user_name is who started a run by hand, else the task's owner; the task list's performed_by agrees")
    func users() async throws {
        try await InProcessServer.with { admin, _ in
            let olga = try await admin.token("operator", name: "olga")
            let task = try await olga.task(#"{"name":"owned","module":"noop","resource_id":"inst-7","labels":{"configuration_id":"70"},"schedule":{"type":"once","at":"\#(Future.y2030)"}}"#)
            let id = try require(task["id"]?.stringValue)
            let manual = try require(try await admin.post("/v1/tasks/\(id)/run")["id"]?.stringValue)
            try await eventually("the manual run completes") {
                try await admin.get("/v1/runs/\(manual)")["status"] == .string("complete")
            }
            let jobs = try await Self.list(admin, "limit=10", instance: "inst-7")["jobs"]?.arrayValue ?? []
            let users = Dictionary(uniqueKeysWithValues: jobs.map { ($0["id"]?.stringValue ?? "", $0["user_name"]?.stringValue ?? "") })
            #expect(users.count == 2 && users[manual] == "admin")
            #expect(users.filter { $0.key != manual }.values.allSatisfy { $0 == "olga" }, "the pending scheduled run: its owner")
            let rpc = try await admin.post("/rpc/task/list", #"{"params":{"configuration_id":70}}"#)["result"]?["tasks"]?.arrayValue ?? []
            #expect(rpc.count == 1 && rpc.first?["performed_by"] == .string("admin"))
        }
    }
}
