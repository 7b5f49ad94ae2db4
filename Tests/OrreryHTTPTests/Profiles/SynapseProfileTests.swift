import Foundation
import NIOHTTP1
import OrreryCore
import OrreryTesting
import Testing

@Suite("Profile 000: Synapse admin scheduled_tasks", .timeLimit(.minutes(5)))
struct SynapseProfileTests {
    static let path = "/_synapse/admin/v1/scheduled_tasks"

    @Test("the document's request answers its shape: id, action, Synapse status, timestamp_ms, resource_id, result, error")
    func exampleShape() async throws {
        try await InProcessServer.with { admin, _ in
            let done = try await admin.task(#"{"name":"purge","module":"noop","resource_id":"!roomid","schedule":{"type":"once"}}"#)
            let run = try await admin.waitForRun(of: done, "complete")
            let answer = try await admin.get(Self.path)
            #expect(answer.status == 200 && answer.contentType == "application/json")
            #expect(answer.json.keys == ["scheduled_tasks"])
            let item = try require(answer["scheduled_tasks"]?.arrayValue?.first { $0["id"] == run["id"] })
            #expect(item.keys == ["action", "error", "id", "resource_id", "result", "status", "timestamp_ms"])
            #expect(item["action"] == .string("noop") && item["status"] == .string("complete"))
            #expect(item["resource_id"] == .string("!roomid") && item["error"] == .null)
            let updated = try require(run["updated_at"]?.stringValue.flatMap(Timestamp.init(rfc3339:)))
            #expect(item["timestamp_ms"] == .int(updated.microseconds / 1_000), "a finished run's timestamp is its last change")
        }
    }

    @Test("filters: action_name, resource_id, status (Synapse words), max_timestamp (ms, strictly before)")
    func filters() async throws {
        try await InProcessServer.with { admin, _ in
            let pending = try await admin.task(#"{"name":"later","module":"noop","resource_id":"r1","schedule":{"type":"once","at":"\#(Future.y2030)"}}"#)
            let failing = try await admin.task(#"{"name":"bad","module":"shell","params":{"command":["/usr/bin/env","false"]},"resource_id":"r2","schedule":{"type":"once"}}"#)
            let canceled = try await admin.task(#"{"name":"stop","module":"noop","resource_id":"r1","schedule":{"type":"once","at":"\#(Future.y2031)"}}"#)
            let failedRun = try await admin.waitForRun(of: failing, "failed")
            let toCancel = try await admin.waitForRun(of: canceled, "scheduled")
            #expect(try await admin.post("/v1/runs/\(try require(toCancel["id"]?.stringValue))/cancel").status == 200)
            let pendingRun = try await admin.waitForRun(of: pending, "scheduled")

            func ids(_ query: String) async throws -> Set<String> {
                let answer = try await admin.get(Self.path + query)
                #expect(answer.status == 200, "\(query): \(answer.json.jsonText)")
                return Set((answer["scheduled_tasks"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue })
            }
            let (p, f, c) = (try require(pendingRun["id"]?.stringValue), try require(failedRun["id"]?.stringValue), try require(toCancel["id"]?.stringValue))
            #expect(try await ids("") == [p, f, c])
            #expect(try await ids("?action_name=shell") == [f])
            #expect(try await ids("?action_name=noop&resource_id=r1") == [p, c])
            #expect(try await ids("?resource_id=r2") == [f])
            #expect(try await ids("?status=scheduled") == [p])
            #expect(try await ids("?status=failed") == [f])
            #expect(try await ids("?status=cancelled") == [c])
            #expect(try await ids("?status=complete").isEmpty)
            #expect(try await ids("?max_timestamp=\(Future.y2030ms)") == [f, c], "the pending run's timestamp is its scheduled time, not before itself")
            #expect(try await ids("?max_timestamp=\(Future.y2030ms + 1)") == [p, f, c])
            #expect(try await ids("?max_timestamp=0").isEmpty)

            let all = try await admin.get(Self.path + "?resource_id=r2")
            let failedItem = try require(all["scheduled_tasks"]?.arrayValue?.first)
            #expect(failedItem["status"] == .string("failed") && failedItem["error"]?.stringValue?.isEmpty == false)
            let cancelledItem = try require(try await admin.get(Self.path + "?status=cancelled")["scheduled_tasks"]?.arrayValue?.first)
            #expect(cancelledItem["status"] == .string("cancelled"))
            let scheduledItem = try require(try await admin.get(Self.path + "?status=scheduled")["scheduled_tasks"]?.arrayValue?.first)
            #expect(scheduledItem["timestamp_ms"] == .int(Future.y2030ms) && scheduledItem["result"] == .null)
        }
    }

    @Test("errors: M_MISSING_TOKEN, M_UNKNOWN_TOKEN (401), M_FORBIDDEN for non-admins (403), M_INVALID_PARAM (400)")
    func errors() async throws {
        try await InProcessServer.with { admin, _ in
            let missing = try await admin.raw(.GET, Self.path)
            #expect(missing.status == 401 && missing["errcode"] == .string("M_MISSING_TOKEN") && missing["error"]?.stringValue != nil)
            let unknown = try await admin.raw(.GET, Self.path, headers: [("Authorization", "Bearer nope")])
            #expect(unknown.status == 401 && unknown["errcode"] == .string("M_UNKNOWN_TOKEN"))
            #expect(try await admin.raw(.GET, Self.path + "?access_token=nope")["errcode"] == .string("M_UNKNOWN_TOKEN"))
            for role in ["viewer", "operator"] {
                let client = try await admin.token(role)
                let denied = try await client.get(Self.path)
                #expect(denied.status == 403 && denied["errcode"] == .string("M_FORBIDDEN") && denied["scheduled_tasks"] == nil)
            }
            for query in ["?status=bogus", "?status=canceled", "?max_timestamp=soon", "?max_timestamp=-1", "?max_timestamp=1.5"] {
                let bad = try await admin.get(Self.path + query)
                #expect(bad.status == 400 && bad["errcode"] == .string("M_INVALID_PARAM"), "\(query)")
                #expect(bad.json.keys == ["errcode", "error"])
            }
        }
    }

    @Test("the access_token query parameter authenticates; an admin sees every project")
    func accessTokenAndProjects() async throws {
        try await InProcessServer.with { admin, _ in
            let other = try await admin.token("operator", project: "other")
            let theirs = try await other.task(#"{"name":"elsewhere","module":"noop","schedule":{"type":"once","at":"\#(Future.y2030)"}}"#)
            let run = try await other.waitForRun(of: theirs, "scheduled")
            let token = try require(admin.token)
            let answer = try await admin.raw(.GET, Self.path + "?access_token=\(token)")
            #expect(answer.status == 200)
            #expect(answer["scheduled_tasks"]?.arrayValue?.contains { $0["id"] == run["id"] } == true)
            let both = try await admin.raw(.GET, Self.path + "?access_token=\(token)", headers: [("Authorization", "Bearer nope")])
            #expect(both.status == 401 && both["errcode"] == .string("M_UNKNOWN_TOKEN"), "the header wins over the query parameter")
        }
    }
}
