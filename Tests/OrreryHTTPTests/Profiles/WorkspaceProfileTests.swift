import Foundation
import NIOHTTP1
import OrreryCore
import OrreryTesting
import Testing

@Suite("Profile 002: Huawei Workspace scheduled-tasks", .timeLimit(.minutes(5)))
struct WorkspaceProfileTests {
    static func list(_ client: APIClient, _ query: String, project: String = "default") async throws -> APIResponse {
        try await client.raw(.GET, "/v2/\(project)/scheduled-tasks?\(query)", headers: [("X-Auth-Token", try require(client.token))])
    }

    static func names(_ answer: APIResponse) -> [String] {
        (answer["scheduled_tasks"]?.arrayValue ?? []).compactMap { $0["task_name"]?.stringValue }.sorted()
    }

    /// One task of each period, in the default project.
    static func seed(_ admin: APIClient) async throws {
        try await admin.task(#"{"name":"Test task","description":"A description.","module":"noop","priority":3,"schedule":{"type":"once","at":"\#(Future.year)-01-01T09:00:00Z"}}"#)
        try await admin.task(#"{"name":"nightly","module":"noop","schedule":{"type":"cron","expression":"0 3 * * *","timezone":"Europe/Berlin"}}"#)
        try await admin.task(#"{"name":"monday report","module":"noop","schedule":{"type":"cron","expression":"0 9 * * MON","timezone":"Asia/Shanghai"}}"#)
        try await admin.task(#"{"name":"payroll","module":"noop","schedule":{"type":"calendar","minutes":[0],"hours":[8],"days_of_month":[1],"timezone":"UTC"}}"#)
        try await admin.task(#"{"name":"hourly ping","module":"http","params":{"url":"http://127.0.0.1:9/"},"enabled":false,"schedule":{"type":"interval","every_sec":3600}}"#)
        try await admin.task(#"{"name":"weekly sweep","module":"noop","schedule":{"type":"interval","every_sec":604800}}"#)
        try await admin.task(#"{"name":"on create","module":"noop","schedule":{"type":"trigger","event":"desktop.created","delay_sec":30,"priority":5}}"#)
        try await admin.task(#"{"name":"on custom","module":"noop","schedule":{"type":"trigger","event":"vm.resized"}}"#)
    }

    @Test("the document's example: every field, FIXED_TIME, next_execution_time as yyyy-MM-dd HH:mm:ss, total_count")
    func example() async throws {
        try await InProcessServer.with { admin, _ in
            try await Self.seed(admin)
            let answer = try await Self.list(admin, "offset=0&limit=50&task_name=Test")
            #expect(answer.status == 200 && answer.json.keys == ["scheduled_tasks", "total_count"])
            #expect(answer["total_count"] == .int(1))
            let item = try require(answer["scheduled_tasks"]?.arrayValue?.first)
            #expect(item.keys == ["description", "enable", "id", "last_status", "life_cycle_type", "next_execution_time", "priority",
                                  "scheduled_type", "task_name", "task_type", "time_zone", "wait_time"])
            #expect(item["task_name"] == .string("Test task") && item["task_type"] == .string("NOOP"))
            #expect(item["scheduled_type"] == .string("FIXED_TIME") && item["next_execution_time"] == .string("\(Future.year)-01-01 09:00:00"))
            #expect(item["enable"] == .bool(true) && item["description"] == .string("A description.") && item["priority"] == .int(3))
            #expect(item["time_zone"] == .string("UTC") && item["wait_time"] == .int(0) && item["last_status"] == .null)
        }
    }

    @Test("scheduled_type is derived from the schedule; triggered tasks appear only for LIFE_CYCLE; times in the task's zone")
    func scheduledTypes() async throws {
        try await InProcessServer.with { admin, _ in
            try await Self.seed(admin)
            let all = try await Self.list(admin, "offset=0&limit=50")
            #expect(Self.names(all) == ["Test task", "hourly ping", "monday report", "nightly", "payroll", "weekly sweep"])
            #expect(all["total_count"] == .int(6))
            let types = Dictionary(uniqueKeysWithValues: (all["scheduled_tasks"]?.arrayValue ?? []).map {
                ($0["task_name"]?.stringValue ?? "", $0["scheduled_type"]?.stringValue ?? "")
            })
            #expect(types == ["Test task": "FIXED_TIME", "nightly": "DAY", "hourly ping": "DAY", "monday report": "WEEK",
                              "weekly sweep": "WEEK", "payroll": "MONTH"])
            #expect(Self.names(try await Self.list(admin, "offset=0&limit=50&scheduled_type=DAY")) == ["hourly ping", "nightly"])
            #expect(Self.names(try await Self.list(admin, "offset=0&limit=50&scheduled_type=WEEK")) == ["monday report", "weekly sweep"])
            #expect(Self.names(try await Self.list(admin, "offset=0&limit=50&scheduled_type=MONTH")) == ["payroll"])
            #expect(Self.names(try await Self.list(admin, "offset=0&limit=50&scheduled_type=FIXED_TIME")) == ["Test task"])
            let triggered = try await Self.list(admin, "offset=0&limit=50&scheduled_type=LIFE_CYCLE")
            #expect(Self.names(triggered) == ["on create", "on custom"])
            let onCreate = try require(triggered["scheduled_tasks"]?.arrayValue?.first { $0["task_name"] == .string("on create") })
            #expect(onCreate["life_cycle_type"] == .string("POST_CREATE_DESKTOP_SUCCESS") && onCreate["wait_time"] == .int(30))
            #expect(onCreate["priority"] == .int(5) && onCreate["next_execution_time"] == .null)
            let monday = try require(all["scheduled_tasks"]?.arrayValue?.first { $0["task_name"] == .string("monday report") })
            #expect(monday["time_zone"] == .string("Asia/Shanghai"))
            #expect(monday["next_execution_time"]?.stringValue?.hasSuffix(" 09:00:00") == true, "Shanghai wall clock, not UTC (01:00)")
            let nightly = try require(all["scheduled_tasks"]?.arrayValue?.first { $0["task_name"] == .string("nightly") })
            #expect(nightly["time_zone"] == .string("Europe/Berlin") && nightly["next_execution_time"]?.stringValue?.hasSuffix(" 03:00:00") == true)
            let hourly = try require(all["scheduled_tasks"]?.arrayValue?.first { $0["task_name"] == .string("hourly ping") })
            #expect(hourly["enable"] == .bool(false) && hourly["task_type"] == .string("HTTP"))
        }
    }

    @Test("filters: task_name (substring), task_type, life_cycle_type (Huawei word or event), last_status")
    func filters() async throws {
        try await InProcessServer.with { admin, _ in
            try await Self.seed(admin)
            let ok = try await admin.task(#"{"name":"ok now","module":"noop","schedule":{"type":"once"}}"#)
            let bad = try await admin.task(#"{"name":"bad now","module":"shell","params":{"command":["/usr/bin/env","false"]},"schedule":{"type":"once"}}"#)
            try await admin.waitForRun(of: ok, "complete")
            try await admin.waitForRun(of: bad, "failed")
            #expect(Self.names(try await Self.list(admin, "offset=0&limit=50&task_name=now")) == ["bad now", "ok now"])
            #expect(Self.names(try await Self.list(admin, "offset=0&limit=50&task_type=SHELL")) == ["bad now"])
            #expect(Self.names(try await Self.list(admin, "offset=0&limit=50&task_type=HTTP")) == ["hourly ping"])
            #expect(Self.names(try await Self.list(admin, "offset=0&limit=50&life_cycle_type=POST_CREATE_DESKTOP_SUCCESS")) == ["on create"])
            #expect(Self.names(try await Self.list(admin, "offset=0&limit=50&life_cycle_type=vm.resized")) == ["on custom"])
            #expect(Self.names(try await Self.list(admin, "offset=0&limit=50&life_cycle_type=POST_DESKTOP_DISCONNECTED")).isEmpty)
            try await eventually("last_status is written") {
                Self.names(try await Self.list(admin, "offset=0&limit=50&last_status=SUCCESS")) == ["ok now"]
            }
            let failed = try await Self.list(admin, "offset=0&limit=50&last_status=FAIL")
            #expect(Self.names(failed) == ["bad now"] && failed["scheduled_tasks"]?.arrayValue?.first?["last_status"] == .string("FAIL"))
            #expect(Self.names(try await Self.list(admin, "offset=0&limit=50&last_status=SKIP")).isEmpty)
        }
    }

    @Test("paging: offset and limit (0-50), total_count counts every match, limit=0 answers only the count")
    func paging() async throws {
        try await InProcessServer.with { admin, _ in
            try await Self.seed(admin)
            var seen: [String] = []
            for offset in stride(from: 0, to: 6, by: 4) {
                let page = try await Self.list(admin, "offset=\(offset)&limit=4")
                #expect(page["total_count"] == .int(6))
                seen += (page["scheduled_tasks"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue }
            }
            #expect(seen.count == 6 && Set(seen).count == 6, "two pages cover every task once")
            let none = try await Self.list(admin, "offset=0&limit=0")
            #expect(none.status == 200 && none["scheduled_tasks"] == .array([]) && none["total_count"] == .int(6))
            let past = try await Self.list(admin, "offset=6&limit=50")
            #expect(past["scheduled_tasks"] == .array([]) && past["total_count"] == .int(6))
            let dayPage = try await Self.list(admin, "offset=1&limit=1&scheduled_type=DAY")
            #expect(dayPage["total_count"] == .int(2) && dayPage["scheduled_tasks"]?.arrayValue?.count == 1)
            #expect(try await Self.list(admin, "offset=0&limit=50")["scheduled_tasks"]?.arrayValue?.count == 6)
        }
    }

    @Test("bad input and bad tokens: 400 and 401 with error_code and error_msg")
    func errors() async throws {
        try await InProcessServer.with { admin, _ in
            for query in ["limit=10", "offset=0", "offset=0&limit=51", "offset=0&limit=-1", "offset=-1&limit=10", "offset=x&limit=10",
                          "offset=0&limit=10&scheduled_type=YEAR", "offset=0&limit=10&last_status=OK",
                          "offset=0&limit=10&task_type=TELEPORT"] {
                let bad = try await Self.list(admin, query)
                #expect(bad.status == 400, "\(query)")
                #expect(bad["error_code"]?.stringValue?.hasPrefix("WKS.") == true && bad["error_msg"]?.stringValue?.isEmpty == false, "\(query)")
            }
            let missing = try await admin.raw(.GET, "/v2/default/scheduled-tasks?offset=0&limit=10")
            #expect(missing.status == 401 && missing["error_code"] == .string("APIGW.0301"))
            let wrong = try await admin.raw(.GET, "/v2/default/scheduled-tasks?offset=0&limit=10", headers: [("X-Auth-Token", "nope")])
            #expect(wrong.status == 401 && wrong["error_msg"]?.stringValue != nil)
        }
    }

    @Test("a project's path shows only that project; another project's token gets 403 and nothing else")
    func isolation() async throws {
        try await InProcessServer.with { admin, _ in
            try await Self.seed(admin)
            let other = try await admin.token("viewer", project: "other")
            let otherOp = try await admin.token("operator", project: "other")
            try await otherOp.task(#"{"name":"theirs","module":"noop","schedule":{"type":"once","at":"\#(Future.y2030)"}}"#)
            let denied = try await Self.list(other, "offset=0&limit=50", project: "default")
            #expect(denied.status == 403 && denied["scheduled_tasks"] == nil && denied["error_code"]?.stringValue != nil)
            #expect(Self.names(try await Self.list(other, "offset=0&limit=50", project: "other")) == ["theirs"])
            #expect(Self.names(try await Self.list(admin, "offset=0&limit=50", project: "other")) == ["theirs"], "an admin reads any project")
            #expect(try await Self.list(admin, "offset=0&limit=50", project: "default")["total_count"] == .int(6))
            let bearer = try await other.raw(.GET, "/v2/other/scheduled-tasks?offset=0&limit=5", headers: [("Authorization", "Bearer \(try require(other.token))")])
            #expect(bearer.status == 200, "an Orrery bearer token works too")
        }
    }
}
