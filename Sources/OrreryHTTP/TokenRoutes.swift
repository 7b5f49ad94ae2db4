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
            let userName = try r.string("user", maxLength: 200)
            let roleName = try r.string("role", maxLength: 20)
            var role = try roleName.map { name in
                guard let role = Role(rawValue: name) else {
                    throw OrreryError(.invalidField, "must be viewer, operator, admin or worker, not \"\(name)\"", field: "role")
                }
                return role
            }
            var project = try r.string("project", maxLength: 100)
            if let project { try TaskService.requireProjectName(project) }
            var name = try r.string("name", maxLength: 200)
            let expiresIn = try r.int("expires_in_sec", in: 60...315_576_000)
            var rights = try Self.rights(try r.value("rights"))
            let modules = try WorkerRoutes.moduleList(r.value("modules"), field: "modules", maxCount: 100)
            try r.rejectUnknownFields()
            // A worker token (issue 13) serves the external modules it names, and nothing else.
            if role == .worker || modules != nil {
                guard role == .worker, userName == nil else {
                    throw OrreryError(.invalidField, "only worker tokens serve modules, and they are not issued to users", field: modules != nil ? "modules" : "user")
                }
                guard let modules, !modules.isEmpty else { throw OrreryError(.missingField, "a worker token needs the modules it serves", field: "modules") }
                for module in modules where !service.engine.externalModules.contains(module) {
                    throw OrreryError(.invalidField, "\"\(module)\" is not an external module (POST /v1/modules)", field: "modules")
                }
                rights = modules.map(TaskService.Caller.workerRight(for:))
            }
            var user: StoredUser?
            if let userName {
                // A user's token speaks for the user: its name, its project, at most its role.
                let found = try await service.store.user(name: userName)
                guard found.disabledAt == nil else {
                    throw OrreryError(.invalidField, "user \"\(userName)\" is disabled", field: "user")
                }
                let userRole = Role(rawValue: found.role) ?? .viewer
                if let asked = role, asked > userRole {
                    throw OrreryError(.invalidField, "cannot exceed the user's role (\(userRole.rawValue))", field: "role")
                }
                if let asked = project, asked != found.project {
                    throw OrreryError(.invalidField, "must be the user's project (\(found.project))", field: "project")
                }
                role = role ?? userRole
                project = found.project
                name = found.name
                user = found
            }
            guard let role else { throw OrreryError(.missingField, "is required (or name a user)", field: "role") }
            let (secret, token) = try await TokenIssuer.issue(
                store: service.store, role: role, project: project ?? caller.project, name: name ?? role.rawValue,
                expiresInSec: expiresIn, now: service.clock.now(), userID: user?.id, rights: rights)
            try await service.audit("token.create", target: token.id, project: token.project, by: caller.name)
            var json = token.json
            if case .object(var o) = json { o["token"] = .string(secret); json = .object(o) }
            return OrreryHTTP.json(json, status: .created)
        }
        group.get("tokens") { request, context in
            let caller = try context.requireCaller()
            try Query(request).allowOnly([])
            try caller.require(.admin, to: "manage tokens")
            return json(.object(["items": .array(try await service.store.listTokens().map(\.json))]))
        }
        group.delete("tokens/:id") { _, context in
            let caller = try context.requireCaller()
            try caller.require(.admin, to: "manage tokens")
            let id = try context.parameters.require("id")
            try await service.store.revokeToken(id: id, now: service.clock.now())
            service.tokenGrants.forgetAll()
            try await service.audit("token.revoke", target: id, project: nil, by: caller.name)
            return Response(status: .noContent)
        }
    }
}

extension TokenRoutes {
    /// `rights`: a list of right names (`["shell"]`), each 1-50 lowercase letters, digits or `_`.
    static func rights(_ value: JSONValue?) throws -> [String] {
        guard let value else { return [] }
        guard let list = value.arrayValue, list.count <= 20 else {
            throw OrreryError(.invalidField, "must be a list of at most 20 right names", field: "rights")
        }
        return try list.map { item in
            guard let name = item.stringValue, (1...50).contains(name.count),
                  name.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") })
            else { throw OrreryError(.invalidField, "must be right names like \"shell\", not \(item.jsonText)", field: "rights") }
            return name
        }
    }
}

/// Makes tokens: 256 random bits, shown once, stored as a SHA-256 hash.
public enum TokenIssuer {
    public static func issue(
        store: any TaskStore, role: Role, project: String, name: String, expiresInSec: Int64?, now: Timestamp,
        userID: String? = nil, rights: [String] = []
    ) async throws -> (secret: String, token: StoredToken) {
        let secret = TokenHash.generate()
        let token = StoredToken(
            id: IDGenerator().make(at: now), hash: TokenHash.of(secret), name: name, role: role.rawValue, project: project,
            createdAt: now, expiresAt: expiresInSec.map { now.adding(seconds: $0) }, userID: userID,
            rights: Array(Set(rights)).sorted(), prefix: StoredToken.prefix(of: secret))
        try await store.insertToken(token)
        return (secret, token)
    }
}

extension StoredToken {
    public var json: JSONValue {
        .object([
            "id": .string(id), "name": .string(name), "role": .string(role), "project": .string(project),
            "created_at": .string(createdAt.rfc3339), "expires_at": expiresAt.map { .string($0.rfc3339) } ?? .null,
            "revoked_at": revokedAt.map { .string($0.rfc3339) } ?? .null, "user_id": userID.map(JSONValue.string) ?? .null,
            "rights": .array(rights.filter { TaskService.Caller.module(ofWorkerRight: $0) == nil }.map(JSONValue.string)),
            "modules": .array(rights.compactMap(TaskService.Caller.module(ofWorkerRight:)).map(JSONValue.string)),
            "prefix": prefix.map(JSONValue.string) ?? .null,
        ])
    }
}

extension StoredUser {
    public var json: JSONValue {
        .object([
            "id": .string(id), "name": .string(name), "role": .string(role), "project": .string(project),
            "created_at": .string(createdAt.rfc3339), "disabled_at": disabledAt.map { .string($0.rfc3339) } ?? .null,
        ])
    }
}
