import GRDB
public import OrreryCore

/// External modules (issue 13), kept as their catalogue JSON.
extension SQLiteStore: ModuleStore {
    public func insertExternalModule(_ module: ModuleDescriptor, at: Timestamp) async throws {
        try await write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM external_modules WHERE name = ?", arguments: [module.name]) == nil else {
                throw OrreryError(.conflict, "a module named \"\(module.name)\" is already registered", field: "name")
            }
            try db.execute(
                sql: "INSERT INTO external_modules (name, descriptor, created_at) VALUES (?, ?, ?)",
                arguments: [module.name, module.catalogueJSON.jsonText, at])
        }
    }

    public func externalModules() async throws -> [ModuleDescriptor] {
        try await read { db in
            try String.fetchAll(db, sql: "SELECT descriptor FROM external_modules ORDER BY name")
                .map { try ModuleDescriptor.parse(try JSONValue.parse(Array($0.utf8))) }
        }
    }

    public func deleteExternalModule(name: String) async throws {
        try await write { db in
            try db.execute(sql: "DELETE FROM external_modules WHERE name = ?", arguments: [name])
            guard db.changesCount > 0 else { throw OrreryError.notFound("module", name) }
        }
    }
}
