import Foundation
import Hummingbird
public import OrreryCore
import OrreryEngine

/// `/v1/tokens` for admins (Appendix A): create (the secret is shown once), list, revoke.
struct TokenRoutes {
    let service: TaskService

    func add(to group: RouterGroup<OrreryRequestContext>) {
        group.post("tokens") { request, context in
            let caller = try context.requireCaller()
            try caller.require(.admin, to: "manage tokens")
            var r = try FieldReader(try await request.jsonBody(context: context))
            let roleName = try r.requiredString("role", maxLength: 20)
            guard let role = Role(rawValue: roleName) else {
                throw OrreryError(.invalidField, "must be viewer, operator or admin, not \"\(roleName)\"", field: "role")
            }
            let project = try r.string("project", maxLength: 100) ?? caller.project
            let name = try r.string("name", maxLength: 200) ?? role.rawValue
            let expiresIn = try r.int("expires_in_sec", in: 60...315_576_000)
            try r.rejectUnknownFields()
            let (secret, token) = try await TokenIssuer.issue(
                store: service.store, role: role, project: project, name: name, expiresInSec: expiresIn, now: service.clock.now())
            var json = token.json
            if case .object(var o) = json { o["token"] = .string(secret); json = .object(o) }
            return OrreryHTTP.json(json, status: .created)
        }
        group.get("tokens") { _, context in
            let caller = try context.requireCaller()
            try caller.require(.admin, to: "manage tokens")
            return json(.object(["items": .array(try await service.store.listTokens().map(\.json))]))
        }
        group.delete("tokens/:id") { _, context in
            let caller = try context.requireCaller()
            try caller.require(.admin, to: "manage tokens")
            try await service.store.revokeToken(id: try context.parameters.require("id"), now: service.clock.now())
            return Response(status: .noContent)
        }
    }
}

/// Makes tokens: 256 random bits, shown once, stored as a SHA-256 hash.
public enum TokenIssuer {
    public static func issue(
        store: any TaskStore, role: Role, project: String, name: String, expiresInSec: Int64?, now: Timestamp
    ) async throws -> (secret: String, token: StoredToken) {
        let secret = TokenHash.generate()
        let token = StoredToken(
            id: IDGenerator().make(at: now), hash: TokenHash.of(secret), name: name, role: role.rawValue, project: project,
            createdAt: now, expiresAt: expiresInSec.map { now.adding(seconds: $0) })
        try await store.insertToken(token)
        return (secret, token)
    }
}

extension StoredToken {
    public var json: JSONValue {
        .object([
            "id": .string(id), "name": .string(name), "role": .string(role), "project": .string(project),
            "created_at": .string(createdAt.rfc3339), "expires_at": expiresAt.map { .string($0.rfc3339) } ?? .null,
            "revoked_at": revokedAt.map { .string($0.rfc3339) } ?? .null,
        ])
    }
}
