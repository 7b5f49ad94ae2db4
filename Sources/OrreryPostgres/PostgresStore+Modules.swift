import Logging
public import OrreryCore
import PostgresNIO

/// External modules (issue 13), kept as their catalogue JSON.
extension PostgresStore: ModuleStore {
    public func insertExternalModule(_ module: ModuleDescriptor, at: Timestamp) async throws {
        let inserted = try await withConnection { connection in
            try await connection.rows("""
                INSERT INTO external_modules (name, descriptor, created_at)
                VALUES (\(module.name), \(module.catalogueJSON.jsonText), \(at.microseconds))
                ON CONFLICT (name) DO NOTHING RETURNING name
                """, logger: self.logger).count
        }
        guard inserted == 1 else { throw OrreryError(.conflict, "a module named \"\(module.name)\" is already registered", field: "name") }
    }

    public func externalModules() async throws -> [ModuleDescriptor] {
        try await withConnection { connection in
            try await connection.rows("SELECT descriptor FROM external_modules ORDER BY name", logger: self.logger)
                .map { try ModuleDescriptor.parse(try JSONValue.parse(Array(try $0[0].decode(String.self).utf8))) }
        }
    }

    public func deleteExternalModule(name: String) async throws {
        let deleted = try await withConnection { connection in
            try await connection.rows("DELETE FROM external_modules WHERE name = \(name) RETURNING name", logger: self.logger).count
        }
        guard deleted == 1 else { throw OrreryError.notFound("module", name) }
    }
}
