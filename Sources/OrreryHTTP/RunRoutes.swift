import Hummingbird
import OrreryCore
import OrreryEngine

/// `/v1/runs`: list, get, cancel, dismiss, logs.
struct RunRoutes {
    let service: TaskService

    func add(to group: RouterGroup<OrreryRequestContext>) {
        group.get("runs") { request, context in
            let caller = try context.requireCaller()
            let q = Query(request)
            var filter = RunFilter()
            filter.taskID = q.string("task_id")
            filter.module = q.string("module")
            filter.resourceID = q.string("resource_id")
            filter.statuses = try q.statuses("status")
            filter.scheduledBefore = try q.time("scheduled_before")
            filter.scheduledAfter = try q.time("scheduled_after")
            filter.dismissed = try q.bool("dismissed")
            filter.limit = try q.int("limit", default: 100, in: 1...1000)
            filter.cursor = q.string("cursor")
            return json(try await service.listRuns(filter, by: caller).json(\.json))
        }
        group.get("runs/:id") { _, context in
            let caller = try context.requireCaller()
            return json(try await service.run(try context.parameters.require("id"), by: caller).json)
        }
        group.post("runs/:id/cancel") { _, context in
            let caller = try context.requireCaller()
            return json(try await service.cancelRun(try context.parameters.require("id"), by: caller).json)
        }
        group.post("runs/:id/dismiss") { _, context in
            let caller = try context.requireCaller()
            return json(try await service.dismissRun(try context.parameters.require("id"), by: caller).json)
        }
        group.get("runs/:id/logs") { request, context in
            let caller = try context.requireCaller()
            let q = Query(request)
            let offset = try q.int("offset", default: 0, in: 0...Int(Int32.max))
            let limit = try q.int("limit", default: 100, in: 1...1000)
            let entries = try await service.logs(runID: try context.parameters.require("id"), offset: offset, limit: limit, by: caller)
            return json(.object(["items": .array(entries.map(\.json))]))
        }
    }
}
