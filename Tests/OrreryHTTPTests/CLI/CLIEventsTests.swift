import Foundation
import OrreryCore
import OrreryTesting
import Testing

/// `orrery events send` against a real server (issue 12): the events fire trigger tasks.
@Suite("CLI events send", .timeLimit(.minutes(5)))
struct CLIEventsTests {
    @Test("events send --type --resource --payload --id fires the trigger task; the same id again fires nothing; --file sends an array")
    func send() async throws {
        try await CLIServer.with { server, cli in
            let api = server.api(CLIServer.token)
            let task = try #require(try await api.post(
                "/v1/tasks", #"{"name":"on-start","module":"noop","schedule":{"type":"trigger","event":"vm.start","resource_id":"vm-1","delay_sec":3600}}"#
            )["id"]?.stringValue)
            let sent = try await cli.run(["events", "send", "--type", "vm.start", "--resource", "vm-1", "--payload", #"{"by":"ops"}"#, "--id", "ev-1"])
            #expect(sent.status == 0 && sent.stdout.contains("event ev-1 accepted; fired 1 run"), "\(sent)")
            let run = try #require(try await api.get("/v1/runs?task_id=\(task)").items.first)
            #expect(run["event_id"] == .string("ev-1") && run["trigger"] == .string("event"))
            let event = try #require(try await api.get("/v1/events?type=vm.start").items.first)
            #expect(event["payload"] == .object(["by": .string("ops")]) && event["resource_id"] == .string("vm-1"))

            let again = try await cli.run(["events", "send", "--type", "vm.start", "--resource-id", "vm-1", "--id", "ev-1", "-o", "json"])
            #expect(again.status == 0 && again.json?["id"] == .string("ev-1") && again.json?["fired"] == run["id"].map { .array([$0]) })
            #expect(try await api.get("/v1/runs?task_id=\(task)").items.count == 1, "the replay fired nothing")

            let batch = try await cli.run(["events", "send", "--file", "-"],
                                          stdin: #"[{"type":"vm.start","resource_id":"vm-1"},{"type":"vm.stop","payload":[1,2]}]"#)
            #expect(batch.status == 0 && batch.lines.count == 2 && batch.lines[0].contains("fired 1 run") && batch.lines[1].contains("fired 0 runs"), "\(batch)")
            #expect(try await api.get("/v1/runs?task_id=\(task)").items.count == 2)
        }
    }
}
