/// External modules (SPEC §4 "External workers"): modules registered through the API whose
/// runs are done by worker programs over HTTP, never in-process. Every node reads them from
/// the store, so a module registered through one node is known to all.
public protocol ModuleStore: Sendable {
    /// Stores an external module; a taken name is a `.conflict`.
    func insertExternalModule(_ module: ModuleDescriptor, at: Timestamp) async throws
    /// Every external module, by name.
    func externalModules() async throws -> [ModuleDescriptor]
    /// Removes an external module; an unknown name is `.notFound`. Its tasks and finished runs
    /// stay; its pending runs are then claimed by the engine and fail `unknown_module`.
    func deleteExternalModule(name: String) async throws
}
