import Hummingbird
import HTTPTypes
import OrreryCore
import OrreryEngine

/// `/v1/events`: post events (they fire trigger tasks) and list the stored ones.
struct EventRoutes {
    let service: TaskService

    func add(to group: RouterGroup<OrreryRequestContext>) {
        group.post("events") { request, context in
            let caller = try context.requireCaller()
            try caller.require(.operator, to: "post events")
            let q = Query(request)
            try q.allowOnly(["project"])
            let body = try await request.jsonBody(context: context)
            var key: String?
            if let header = request.headers[HTTPField.Name("Idempotency-Key")!] {
                guard (1...200).contains(header.count), header.allSatisfy({ $0.isASCII && !$0.isWhitespace && !$0.isNewline }) else {
                    throw OrreryError(.invalidField, "must be 1-200 visible ASCII characters", field: "Idempotency-Key")
                }
                key = header
            }
            let posted = try await service.postEvents(body, project: try q.project(), idempotencyKey: key, by: caller)
            let answers = posted.answers.map { JSONValue.object(["id": .string($0.id), "fired": .array($0.fired.map(JSONValue.string))]) }
            var response = json(posted.wasArray ? .array(answers) : answers[0], status: .accepted)
            if posted.answers.allSatisfy(\.replayed) { response.headers[HTTPField.Name("Idempotent-Replayed")!] = "true" }
            return response
        }
        group.get("events") { request, context in
            let caller = try context.requireCaller()
            let q = Query(request)
            try q.allowOnly(["project", "type", "resource_id", "after", "before", "limit", "cursor"])
            var filter = EventFilter()
            filter.project = try q.project()
            filter.type = try q.string("type", maxLength: IncomingEvent.maxTypeLength)
            filter.resourceID = try q.string("resource_id", maxLength: 500)
            filter.after = try q.time("after")
            filter.before = try q.time("before")
            filter.limit = try q.int("limit", default: 100, in: 1...1000)
            filter.cursor = q.string("cursor")
            let page = try await service.listEvents(filter, by: caller)
            return json(.object([
                "items": .array(page.items.map(\.json)), "next_cursor": page.nextCursor.map(JSONValue.string) ?? .null,
            ]))
        }
    }
}

extension StoredEvent {
    var json: JSONValue {
        .object([
            "id": .string(id), "project": .string(project), "type": .string(type),
            "resource_id": resourceID.map(JSONValue.string) ?? .null, "payload": payload ?? .null,
            "received_at": .time(receivedAt), "caused_by_run": causedByRun.map(JSONValue.string) ?? .null,
            "depth": .int(depth), "fired": .array(fired.map(JSONValue.string)),
        ])
    }
}
