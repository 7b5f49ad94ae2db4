import Foundation
import NIOHTTP1
import OrreryCore
import OrreryTesting
import Testing

/// `POST /v1/events` and `GET /v1/events` over real HTTP (issue 12), answers checked against the OpenAPI document.
@Suite("Events API", .timeLimit(.minutes(5)))
struct EventAPITests {
    @Test("an event fires trigger tasks: 202 with the event id and the runs, which show trigger event and event_id; an array gets an array", arguments: StoreKind.enabled)
    func postAndFire(store: StoreKind) async throws {
        try await InProcessServer.with(store: store) { api, _ in
            let validator = SchemaValidator(document: try await api.get("/openapi.json").json)
            func conforms(_ method: String, _ path: String, _ response: APIResponse) {
                let problems = validator.check(method: method, path: path, status: response.status, contentType: response.contentType, body: response.json)
                #expect(problems.isEmpty, "\(method) \(path) \(response.status): \(problems)")
            }
            let task = try require(try await api.post(
                "/v1/tasks", #"{"name":"on-start","module":"noop","schedule":{"type":"trigger","event":"vm.start","resource_id":"vm-1","delay_sec":3600,"priority":5}}"#
            )["id"]?.stringValue)
            let one = try await api.post("/v1/events", #"{"type":"vm.start","resource_id":"vm-1","payload":{"a":1},"id":"ev-1"}"#)
            #expect(one.status == 202 && one["id"] == .string("ev-1"))
            conforms("POST", "/v1/events", one)
            let runID = try require(one["fired"]?.arrayValue?.first?.stringValue)
            let run = try await api.get("/v1/runs/\(runID)")
            #expect(run["trigger"] == .string("event") && run["event_id"] == .string("ev-1") && run["task_id"] == .string(task))
            #expect(run["status"] == .string("scheduled") && run["resource_id"] == .string("vm-1"))
            conforms("GET", "/v1/runs/\(runID)", run)
            #expect(try await api.get("/v1/runs?task_id=\(task)").items.first?["event_id"] == .string("ev-1"))

            let many = try await api.post("/v1/events", #"[{"type":"vm.start","resource_id":"vm-2"},{"type":"vm.start","resource_id":"vm-1"}]"#)
            #expect(many.status == 202 && many.json.arrayValue?.map { $0["fired"]?.arrayValue?.count } == [0, 1])
            conforms("POST", "/v1/events", many)
            let replay = try await api.post("/v1/events", #"{"type":"vm.start","resource_id":"vm-1","id":"ev-1"}"#)
            #expect(replay.status == 202 && replay.json == one.json, "the first answer again")
            #expect(try await api.get("/v1/runs?task_id=\(task)").items.count == 2, "the replay fired nothing")
            let listed = try await api.get("/v1/events")
            conforms("GET", "/v1/events", listed)
            #expect(listed.items.count == 3 && listed.items.last?["payload"] == .object(["a": .int(1)]))
        }
    }

    @Test("bounds: 101 events, a long type, a 64 KiB payload, a 1 MiB body, an unknown field — 400/413 naming the field, nothing stored", arguments: StoreKind.enabled)
    func bounds(store: StoreKind) async throws {
        try await InProcessServer.with(store: store) { api, _ in
            let validator = SchemaValidator(document: try await api.get("/openapi.json").json)
            _ = try await api.post("/v1/tasks", #"{"name":"t","module":"noop","schedule":{"type":"trigger","event":"x"}}"#)
            func refused(_ body: String, _ status: Int, field: String) async throws {
                let response = try await api.post("/v1/events", body)
                #expect(response.status == status && response["field"] == .string(field), "\(response.json.jsonText.prefix(300))")
                let problems = validator.check(method: "POST", path: "/v1/events", status: response.status, contentType: response.contentType, body: response.json)
                #expect(problems.isEmpty, "\(problems)")
            }
            let event = #"{"type":"x"}"#
            try await refused("[" + Array(repeating: event, count: 101).joined(separator: ",") + "]", 400, field: "events")
            try await refused("[]", 400, field: "events")
            try await refused(#"[{"type":"x"},{"typo":"x"}]"#, 400, field: "[1].type")
            try await refused(#"{"type":"x","colour":"red"}"#, 400, field: "colour")
            try await refused(#"{"type":"\#(String(repeating: "t", count: 201))"}"#, 400, field: "type")
            try await refused(#"[{"type":"x"},{"type":"x","payload":"\#(String(repeating: "p", count: 65_536))"}]"#, 413, field: "[1].payload")
            let huge = try await api.post("/v1/events", #"{"type":"x","payload":""# + String(repeating: "p", count: 1 << 20) + #""}"#)
            #expect(huge.status == 413)
            #expect(try await api.get("/v1/events").items.isEmpty, "no event stored")
            #expect(try await api.get("/v1/runs").items.isEmpty, "no run stored")
            #expect(try await api.post("/v1/events", "[" + Array(repeating: event, count: 100).joined(separator: ",") + "]").status == 202)
            #expect(try await api.get("/v1/runs?limit=1000").items.count == 100)
            let unknown = try await api.get("/v1/events?colour=red")
            #expect(unknown.status == 400 && unknown["field"] == .string("colour"))
        }
    }

    @Test("listing: type, resource and time filters; cursor pages newest first", arguments: StoreKind.enabled)
    func listing(store: StoreKind) async throws {
        try await InProcessServer.with(store: store) { api, _ in
            for i in 0..<7 {
                let body = #"{"type":"\#(i % 2 == 0 ? "even" : "odd")","resource_id":"r\#(i % 3)","id":"e\#(i)"}"#
                #expect(try await api.post("/v1/events", body).status == 202)
            }
            #expect(try await api.get("/v1/events?type=even").items.compactMap { $0["id"]?.stringValue } == ["e6", "e4", "e2", "e0"])
            #expect(try await api.get("/v1/events?resource_id=r1").items.compactMap { $0["id"]?.stringValue } == ["e4", "e1"])
            var seen: [String] = []
            var path = "/v1/events?limit=3"
            while true {
                let page = try await api.get(path)
                seen += page.items.compactMap { $0["id"]?.stringValue }
                guard let cursor = page["next_cursor"]?.stringValue else { break }
                path = "/v1/events?limit=3&cursor=\(cursor)"
            }
            #expect(seen == (0..<7).reversed().map { "e\($0)" })
            let all = try await api.get("/v1/events").items
            let middle = try require(all[3]["received_at"]?.stringValue)
            let before = try await api.get("/v1/events?before=\(middle)").items.compactMap { $0["id"]?.stringValue }
            let after = try await api.get("/v1/events?after=\(middle)").items.compactMap { $0["id"]?.stringValue }
            // Times are shown to the millisecond and stored to the microsecond: e3 is not before its own time.
            #expect(!before.contains("e3") && after.contains("e3"), "before: \(before), after: \(after)")
            #expect(Set(before).isDisjoint(with: after) && Set(before + after) == Set((0..<7).map { "e\($0)" }))
            #expect(try await api.get("/v1/events?after=yesterday")["field"] == .string("after"))
        }
    }

    @Test("roles and projects: viewers read but may not post; an event fires only its own project's tasks, and other projects' events are invisible", arguments: StoreKind.enabled)
    func rolesAndProjects(store: StoreKind) async throws {
        try await InProcessServer.with(store: store) { admin, _ in
            func token(_ role: String, _ project: String) async throws -> APIClient {
                var client = admin
                client.token = try require(try await admin.post("/v1/tokens", #"{"role":"\#(role)","project":"\#(project)","name":"\#(role)-\#(project)"}"#)["token"]?.stringValue)
                return client
            }
            let viewer = try await token("viewer", "blue")
            let blue = try await token("operator", "blue")
            let red = try await token("operator", "red")
            let blueTask = try require(try await blue.post("/v1/tasks", #"{"name":"b","module":"noop","schedule":{"type":"trigger","event":"go"}}"#)["id"]?.stringValue)
            let redTask = try require(try await red.post("/v1/tasks", #"{"name":"r","module":"noop","schedule":{"type":"trigger","event":"go"}}"#)["id"]?.stringValue)
            let denied = try await viewer.post("/v1/events", #"{"type":"go"}"#)
            #expect(denied.status == 403)
            let fired = try await blue.post("/v1/events", #"{"type":"go","id":"shared-id"}"#)
            #expect(fired.status == 202 && fired["fired"]?.arrayValue?.count == 1)
            #expect(try await admin.get("/v1/runs?task_id=\(blueTask)").items.count == 1)
            #expect(try await admin.get("/v1/runs?task_id=\(redTask)").items.isEmpty, "another project's trigger is not fired")
            // The same id in another project is another event.
            let redFired = try await red.post("/v1/events", #"{"type":"go","id":"shared-id"}"#)
            #expect(redFired["fired"]?.arrayValue?.count == 1 && redFired["fired"] != fired["fired"])
            #expect(try await viewer.get("/v1/events").items.compactMap { $0["project"]?.stringValue } == ["blue"])
            let peek = try await red.get("/v1/events?project=blue")
            #expect(peek.status == 200 && peek.items.allSatisfy { $0["project"] == .string("red") }, "confined to its own project")
            #expect(try await blue.post("/v1/events?project=red", #"{"type":"go"}"#).status == 403)
            #expect(try await admin.post("/v1/events?project=red", #"{"type":"go"}"#)["fired"]?.arrayValue?.count == 1)
            #expect(try await admin.get("/v1/events").items.count == 3)
        }
    }
}
