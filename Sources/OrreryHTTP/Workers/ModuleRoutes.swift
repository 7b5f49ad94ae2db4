import Hummingbird
public import OrreryCore
public import OrreryEngine

/// `POST /v1/modules` and `DELETE /v1/modules/{name}` (admins): external modules, whose runs
/// worker programs do over HTTP (issue 13). `GET /v1/modules` lists them with the built-in ones.
struct ModuleRoutes {
    let service: TaskService
    let modules: any ModuleStore

    func add(to group: RouterGroup<OrreryRequestContext>) {
        group.post("modules") { request, context in
            let caller = try context.requireCaller()
            try caller.require(.admin, to: "register modules")
            let descriptor = try ModuleDescriptor.parse(try await request.jsonBody(context: context))
            if service.engine.inProcessModules[descriptor.name] != nil {
                throw OrreryError(.conflict, "\"\(descriptor.name)\" is a built-in module", field: "name")
            }
            try await modules.insertExternalModule(descriptor, at: service.clock.now())
            try await service.engine.externalModules.refresh(from: modules)
            try await service.audit("module.create", target: descriptor.name, project: nil, by: caller.name)
            return json(descriptor.catalogueJSON, status: .created)
        }
        group.delete("modules/:name") { _, context in
            let caller = try context.requireCaller()
            try caller.require(.admin, to: "remove modules")
            let name = try context.parameters.require("name")
            guard service.engine.inProcessModules[name] == nil else {
                throw OrreryError(.conflict, "\"\(name)\" is a built-in module; only external modules can be removed")
            }
            try await modules.deleteExternalModule(name: name)
            try await service.engine.externalModules.refresh(from: modules)
            try await service.audit("module.delete", target: name, project: nil, by: caller.name)
            return Response(status: .noContent)
        }
    }
}

extension TaskService.Caller {
    /// A worker token keeps the modules it serves among its rights, as `module:<name>`
    /// (a right the `rights` field cannot name: rights have no ':').
    public static func workerRight(for module: String) -> String { "module:" + module }

    public static func module(ofWorkerRight right: String) -> String? {
        right.hasPrefix("module:") ? String(right.dropFirst("module:".count)) : nil
    }

    /// The modules a worker token serves.
    var workerModules: Set<String> { Set(rights.compactMap(Self.module(ofWorkerRight:))) }
}
