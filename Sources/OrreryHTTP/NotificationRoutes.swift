import Hummingbird
import OrreryCore
import OrreryEngine

/// `GET /v1/runs/{id}/notifications` and `GET /v1/notifications`: the deliveries of run ends
/// (e-mail and webhooks) with every attempt. Any role may read its project's; webhook
/// secrets are never shown.
struct NotificationRoutes {
    let service: TaskService

    func add(to group: RouterGroup<OrreryRequestContext>) {
        group.get("runs/:id/notifications") { request, context in
            let caller = try context.requireCaller()
            try Query(request).allowOnly([])
            let items = try await service.notifications(runID: try context.parameters.require("id"), by: caller)
            return json(.object(["items": .array(items.map(\.json))]))
        }
        group.get("notifications") { request, context in
            let caller = try context.requireCaller()
            let q = Query(request)
            try q.allowOnly(["project", "run_id", "task_id", "status", "limit"])
            var filter = NotificationFilter()
            filter.project = try q.project()
            filter.runID = try q.string("run_id", maxLength: 100)
            filter.taskID = try q.string("task_id", maxLength: 100)
            if let word = try q.string("status", maxLength: 20) {
                guard let status = NotificationDelivery.Status(rawValue: word) else {
                    throw OrreryError(.invalidField, "must be one of pending, delivered, failed, not \"\(word)\"", field: "status")
                }
                filter.status = status
            }
            filter.limit = try q.int("limit", default: 100, in: 1...1000)
            let items = try await service.listNotifications(filter, by: caller)
            return json(.object(["items": .array(items.map(\.json))]))
        }
    }
}

extension NotificationDelivery {
    /// The API's form: everything but the webhook's secret.
    var json: JSONValue {
        .object([
            "id": .string(id), "run_id": .string(runID), "task_id": .string(taskID), "task_name": .string(taskName),
            "project": .string(project), "channel": .string(channel.rawValue), "target": .string(target),
            "event": .string(event.rawValue), "status": .string(status.rawValue),
            "attempts": .array(attempts.map(\.json)), "next_attempt_at": nextAttemptAt.map { .string($0.rfc3339) } ?? .null,
            "created_at": .string(createdAt.rfc3339), "updated_at": .string(updatedAt.rfc3339),
        ])
    }
}
