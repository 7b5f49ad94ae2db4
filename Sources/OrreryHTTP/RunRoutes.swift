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
            try q.allowOnly([
                "project", "task_id", "module", "resource_id", "status", "trigger", "labels", "performed_by",
                "scheduled_before", "scheduled_after", "started_before", "started_after", "finished_before",
                "finished_after", "dismissed", "limit", "cursor", "count",
            ])
            var filter = RunFilter()
            filter.project = try q.project()
            filter.taskID = try q.string("task_id", maxLength: 100)
            filter.module = try q.string("module", maxLength: 100)
            filter.resourceID = try q.string("resource_id", maxLength: 500)
            filter.statuses = try q.statuses("status")
            filter.triggers = try q.words("trigger", RunTrigger.self)
            filter.labels = try q.labels("labels")
            filter.performedBy = try q.string("performed_by", maxLength: 200)
            filter.scheduledBefore = try q.time("scheduled_before")
            filter.scheduledAfter = try q.time("scheduled_after")
            filter.startedBefore = try q.time("started_before")
            filter.startedAfter = try q.time("started_after")
            filter.finishedBefore = try q.time("finished_before")
            filter.finishedAfter = try q.time("finished_after")
            filter.dismissed = try q.bool("dismissed")
            filter.limit = try q.int("limit", default: 100, in: 1...1000)
            filter.cursor = q.string("cursor")
            filter.countTotal = try q.bool("count") ?? false
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
            try q.allowOnly(["offset", "limit"])
            let offset = try q.int("offset", default: 0, in: 0...Int(Int32.max))
            let limit = try q.int("limit", default: 100, in: 1...1000)
            let entries = try await service.logs(runID: try context.parameters.require("id"), offset: offset, limit: limit, by: caller)
            return json(.object(["items": .array(entries.map(\.json))]))
        }
    }
}
