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
            let task = try await service.createTask(try await request.jsonBody(context: context), by: caller)
            return json(task.json, status: .created)
        }
        group.get("tasks") { request, context in
            let caller = try context.requireCaller()
            let q = Query(request)
            var filter = TaskFilter()
            filter.module = q.string("module")
            filter.resourceID = q.string("resource_id")
            filter.lastStatus = try q.statuses("last_status")
            filter.enabled = try q.bool("enabled")
            filter.limit = try q.int("limit", default: 100, in: 1...1000)
            filter.cursor = q.string("cursor")
            return json(try await service.listTasks(filter, by: caller).json(\.json))
        }
        group.get("tasks/:id") { _, context in
            let caller = try context.requireCaller()
            return json(try await service.task(try context.parameters.require("id"), by: caller).json)
        }
        group.patch("tasks/:id") { request, context in
            let caller = try context.requireCaller()
            var ifMatch: Int64?
            if let header = request.headers[.ifMatch] {
                let trimmed = header.trimmingCharacters(in: CharacterSet(charactersIn: "\" W/"))
                guard let version = Int64(trimmed) else {
                    throw OrreryError(.invalidField, "must be the task version (an integer), not \"\(header)\"", field: "If-Match")
                }
                ifMatch = version
            }
            let body = try await request.jsonBody(context: context)
            let task = try await service.updateTask(try context.parameters.require("id"), with: body, ifMatch: ifMatch, by: caller)
            return json(task.json)
        }
        group.delete("tasks/:id") { _, context in
            let caller = try context.requireCaller()
            try await service.deleteTask(try context.parameters.require("id"), by: caller)
            return Response(status: .noContent)
        }
        group.post("tasks/:id/run") { _, context in
            let caller = try context.requireCaller()
            return json(try await service.runNow(try context.parameters.require("id"), by: caller).json, status: .created)
        }
        group.get("tasks/:id/upcoming") { request, context in
            let caller = try context.requireCaller()
            let count = try Query(request).int("count", default: 5, in: 1...1000)
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

/// One fire time as previews show it: the instant in UTC and the local reading with its offset.
func fireTimeJSON(_ item: (at: Timestamp, offsetSeconds: Int)) -> JSONValue {
    .object(["at": .string(item.at.rfc3339), "local": .string(item.at.rfc3339(offsetSeconds: item.offsetSeconds))])
}
