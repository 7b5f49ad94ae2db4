import Hummingbird
import OrreryCore
import OrreryEngine

/// `/v1/users` for admins: a user is a name with a role in a project; tokens issued to a
/// user (`POST /v1/tokens {"user": …}`) act as that user and end when it is disabled.
struct UserRoutes {
    let service: TaskService

    func add(to group: RouterGroup<OrreryRequestContext>) {
        group.post("users") { request, context in
            let caller = try context.requireCaller()
            try caller.require(.admin, to: "manage users")
            var r = try FieldReader(try await request.jsonBody(context: context))
            let name = try r.requiredString("name", maxLength: 200)
            guard !name.isEmpty, !name.allSatisfy(\.isWhitespace) else {
                throw OrreryError(.invalidField, "must not be empty", field: "name")
            }
            let roleName = try r.requiredString("role", maxLength: 20)
            guard let role = Role(rawValue: roleName), role != .worker else {
                throw OrreryError(.invalidField, "must be viewer, operator or admin, not \"\(roleName)\"", field: "role")
            }
            let project = try r.string("project", maxLength: 100) ?? caller.project
            try TaskService.requireProjectName(project)
            try r.rejectUnknownFields()
            let now = service.clock.now()
            let user = StoredUser(id: IDGenerator().make(at: now), name: name, role: role.rawValue, project: project, createdAt: now)
            do {
                try await service.store.insertUser(user)
            } catch let error as OrreryError where error.code == .conflict {
                throw OrreryError(.conflict, "a user named \"\(name)\" already exists", field: "name")
            }
            try await service.audit("user.create", target: user.id, project: user.project, by: caller.name)
            return json(user.json, status: .created)
        }
        group.get("users") { request, context in
            let caller = try context.requireCaller()
            try Query(request).allowOnly([])
            try caller.require(.admin, to: "manage users")
            return json(.object(["items": .array(try await service.store.listUsers().map(\.json))]))
        }
        group.delete("users/:id") { _, context in
            let caller = try context.requireCaller()
            try caller.require(.admin, to: "manage users")
            let id = try context.parameters.require("id")
            try await service.store.disableUser(id: id, now: service.clock.now())
            service.tokenGrants.forgetAll()
            try await service.audit("user.disable", target: id, project: nil, by: caller.name)
            return Response(status: .noContent)
        }
    }
}
