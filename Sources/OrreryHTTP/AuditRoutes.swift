import Hummingbird
public import OrreryCore
public import OrreryEngine

/// `GET /v1/audit` for admins: every admin action (tokens and users), newest first.
struct AuditRoutes {
    let service: TaskService

    func add(to group: RouterGroup<OrreryRequestContext>) {
        group.get("audit") { request, context in
            let caller = try context.requireCaller()
            try caller.require(.admin, to: "read the audit log")
            let q = Query(request)
            try q.allowOnly(["limit", "cursor"])
            guard let audit = service.store as? any AuditStore else { return json(.object(["items": .array([]), "next_cursor": .null])) }
            let page = try await audit.listAudit(limit: try q.int("limit", default: 100, in: 1...1000), cursor: try q.string("cursor", maxLength: 200))
            return json(.object(["items": .array(page.items.map(\.json)), "next_cursor": page.nextCursor.map(JSONValue.string) ?? .null]))
        }
    }
}

extension TaskService {
    /// Records an admin action in the audit log (after it succeeded; a store without an audit
    /// log records nothing).
    public func audit(_ action: String, target: String, project: String?, by actor: String) async throws {
        guard let audit = store as? any AuditStore else { return }
        try await audit.recordAudit(AuditEntry(at: clock.now(), actor: actor, action: action, target: target, project: project))
    }
}
