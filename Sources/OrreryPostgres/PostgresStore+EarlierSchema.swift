import Logging
import OrreryCore
import PostgresNIO

extension PostgresStore {
    /// Makes a database as an earlier release left it, for upgrade tests: applies the shipped
    /// migrations up to and including `migration` and no further (recorded in
    /// `schema_migrations` as `migrate()` records them), then runs `statements` (rows as that
    /// schema stores them; test text, never user input). `connect(url:)` afterwards applies
    /// the rest, as a newer binary would.
    package static func makeDatabase(url: String, migratedThrough migration: String, then statements: [String]) async throws {
        guard let last = PostgresMigrations.all.firstIndex(where: { $0.name == migration }) else {
            throw OrreryError(.invalidField, "no migration named \(migration)")
        }
        let store = PostgresStore(location: try PostgresLocation(url: url), logger: Logger(label: "orrery.upgrade-test"), maxConnections: 1)
        defer { store.close() }
        try await store.transaction { connection in
            try await connection.execute(
                "CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())", logger: store.logger)
            for migration in PostgresMigrations.all[...last] {
                for statement in migration.statements { try await connection.execute(statement, logger: store.logger) }
                try await connection.execute("INSERT INTO schema_migrations (name) VALUES (\(migration.name))", logger: store.logger)
            }
            for statement in statements { try await connection.execute(PostgresQuery(unsafeSQL: statement), logger: store.logger) }
        }
    }

    /// The names of every shipped migration, oldest first.
    package static var migrationNames: [String] { PostgresMigrations.all.map(\.name) }
}
