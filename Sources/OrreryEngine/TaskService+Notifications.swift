public import OrreryCore

extension TaskService {
    /// The notifications of a run the caller can see (another project's run is a 404), each
    /// with its attempts, newest first.
    public func notifications(runID: String, by caller: Caller) async throws -> [NotificationDelivery] {
        _ = try await store.run(id: runID, project: caller.scope)
        guard let outbox = store as? any NotificationStore else { return [] }
        return try await outbox.listNotifications(NotificationFilter(project: caller.scope, runID: runID, limit: 1000))
    }

    /// Notifications by run, task and status, limited to the caller's project (admins: every project).
    public func listNotifications(_ filter: NotificationFilter, by caller: Caller) async throws -> [NotificationDelivery] {
        guard let outbox = store as? any NotificationStore else { return [] }
        var filter = filter
        if let scope = caller.scope { filter.project = scope }
        return try await outbox.listNotifications(filter)
    }
}
