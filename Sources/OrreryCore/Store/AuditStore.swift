/// One admin action, as the audit log keeps it (issue 17): who did what to which thing.
public struct AuditEntry: Sendable, Equatable {
    public var seq: Int64
    public var at: Timestamp
    /// The caller's name (a token's or its user's), or `orrery` for the command line.
    public var actor: String
    /// `token.create`, `token.revoke`, `user.create`, `user.disable`.
    public var action: String
    /// The id of the token or user acted on.
    public var target: String
    /// The project the target belongs to, when it has one.
    public var project: String?
    public init(seq: Int64 = 0, at: Timestamp, actor: String, action: String, target: String, project: String? = nil) {
        self.seq = seq; self.at = at; self.actor = actor; self.action = action; self.target = target; self.project = project
    }

    public var json: JSONValue {
        .object([
            "at": .string(at.rfc3339), "actor": .string(actor), "action": .string(action), "target": .string(target),
            "project": project.map(JSONValue.string) ?? .null,
        ])
    }
}

/// The audit log of admin actions, readable by admins through `GET /v1/audit`.
public protocol AuditStore: Sendable {
    func recordAudit(_ entry: AuditEntry) async throws
    /// Newest first, `limit` at a time, after an opaque `cursor` from the previous page.
    func listAudit(limit: Int, cursor: String?) async throws -> Page<AuditEntry>
}
