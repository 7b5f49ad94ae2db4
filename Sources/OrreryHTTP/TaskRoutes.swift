import Foundation
import Hummingbird
import HTTPTypes
import OrreryCore
import OrreryEngine

/// `/v1/tasks`: create, list, get, update, delete, run now, pause and resume.
struct TaskRoutes {
    let service: TaskService

    func add(to group: RouterGroup<OrreryRequestContext>) {
        group.post("tasks") { request, context in
            let caller = try context.requireCaller()
            try caller.require(.operator, to: "create tasks")
            let body = try await request.jsonBody(context: context)
            let input = try TaskInput(json: body, now: service.clock.now(), modules: service.modules.descriptors)
            var idempotency: (key: String, requestHash: String)?
            if let key = request.headers[HTTPField.Name("Idempotency-Key")!] {
                guard (1...255).contains(key.count), key.allSatisfy({ $0.isASCII && !$0.isWhitespace && !$0.isNewline }) else {
                    throw OrreryError(.invalidField, "must be 1-255 visible ASCII characters", field: "Idempotency-Key")
                }
                idempotency = (key, TokenHash.of(body.jsonText))
            }
            let created = try await service.createTask(input, by: caller, idempotency: idempotency)
            var response = json(created.task.json, status: .created)
            if created.replayed { response.headers[HTTPField.Name("Idempotent-Replayed")!] = "true" }
            return response
        }
        group.get("tasks") { request, context in
            let caller = try context.requireCaller()
            let q = Query(request)
            try q.allowOnly([
                "project", "module", "resource_id", "last_status", "enabled", "name", "name_contains", "schedule_type",
                "event", "labels", "owner", "limit", "cursor", "count",
            ])
            var filter = TaskFilter()
            filter.project = try q.project()
            filter.module = try q.string("module", maxLength: 100)
            filter.resourceID = try q.string("resource_id", maxLength: 500)
            filter.lastStatus = try q.statuses("last_status")
            filter.enabled = try q.bool("enabled")
            filter.name = try q.string("name", maxLength: TaskInput.maxNameLength)
            filter.nameContains = try q.string("name_contains", maxLength: TaskInput.maxNameLength)
            filter.scheduleTypes = try q.words("schedule_type", ScheduleTypeWord.self).map(\.rawValue)
            filter.triggerEvent = try q.string("event", maxLength: 200)
            filter.labels = try q.labels("labels")
            filter.owner = try q.string("owner", maxLength: 200)
            filter.limit = try q.int("limit", default: 100, in: 1...1000)
            filter.cursor = q.string("cursor")
            filter.countTotal = try q.bool("count") ?? false
            return json(try await service.listTasks(filter, by: caller).json(\.json))
        }
        group.get("tasks/:id") { _, context in
            let caller = try context.requireCaller()
            return json(try await service.task(try context.parameters.require("id"), by: caller).json)
        }
        group.patch("tasks/:id") { request, context in
            let caller = try context.requireCaller()
            let ifMatch = try Self.ifMatch(request)
            let body = try await request.jsonBody(context: context)
            let task = try await service.updateTask(try context.parameters.require("id"), with: body, ifMatch: ifMatch, by: caller)
            return json(task.json)
        }
        group.delete("tasks/:id") { request, context in
            let caller = try context.requireCaller()
            try await service.deleteTask(try context.parameters.require("id"), ifMatch: try Self.ifMatch(request), by: caller)
            return Response(status: .noContent)
        }
        group.post("tasks/:id/run") { _, context in
            let caller = try context.requireCaller()
            return json(try await service.runNow(try context.parameters.require("id"), by: caller).json, status: .created)
        }
        group.get("tasks/:id/upcoming") { request, context in
            let caller = try context.requireCaller()
            let q = Query(request)
            try q.allowOnly(["count"])
            let count = try q.int("count", default: 5, in: 1...1000)
            let items = try await service.upcoming(try context.parameters.require("id"), count: count, by: caller)
            return json(.object(["items": .array(items.map(fireTimeJSON))]))
        }
        group.post("schedules/preview") { request, context in
            _ = try context.requireCaller()
            let preview = try service.preview(try await request.jsonBody(context: context))
            return json(.object(["items": .array(preview.items.map(fireTimeJSON)), "description": .string(preview.description)]))
        }
        group.post("tasks/:id/pause") { _, context in
            let caller = try context.requireCaller()
            return json(try await service.setEnabled(try context.parameters.require("id"), false, by: caller).json)
        }
        group.post("tasks/:id/resume") { _, context in
            let caller = try context.requireCaller()
            return json(try await service.setEnabled(try context.parameters.require("id"), true, by: caller).json)
        }
    }
}

extension TaskRoutes {
    /// `If-Match: 3` (or `"3"`, `W/"3"`): the task version a write expects.
    static func ifMatch(_ request: Request) throws -> Int64? {
        guard let header = request.headers[.ifMatch] else { return nil }
        let trimmed = header.trimmingCharacters(in: CharacterSet(charactersIn: "\" W/"))
        guard let version = Int64(trimmed) else {
            throw OrreryError(.invalidField, "must be the task version (an integer), not \"\(header)\"", field: "If-Match")
        }
        return version
    }
}

/// One fire time as previews show it: the instant in UTC and the local reading with its offset.
func fireTimeJSON(_ item: (at: Timestamp, offsetSeconds: Int)) -> JSONValue {
    .object(["at": .string(item.at.rfc3339), "local": .string(item.at.rfc3339(offsetSeconds: item.offsetSeconds))])
}
