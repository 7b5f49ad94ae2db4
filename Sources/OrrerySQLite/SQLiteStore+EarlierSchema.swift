import GRDB

extension SQLiteStore {
    /// Makes a database file as an earlier release left it, for upgrade tests: applies the
    /// shipped migrations up to and including `migration` and no further, then runs `sql`
    /// (rows as that schema stores them). Opening the file with `SQLiteStore` afterwards
    /// applies the rest, as a newer binary would.
    package static func makeDatabase(at path: String, migratedThrough migration: String, then sql: String) throws {
        let queue = try DatabaseQueue(path: path)
        try Migrations.migrator.migrate(queue, upTo: migration)
        try queue.write { db in try db.execute(sql: sql) }
        try queue.close()
    }

    /// The names of every shipped migration, oldest first.
    package static var migrationNames: [String] { Migrations.migrator.migrations }
}

extension SQLiteStore {
    /// Drops indexes by name, for the benchmark's measure of what an index costs the hot
    /// path (`OrreryBenchmark --drop-index`); never part of a served store.
    package func dropIndexes(_ names: [String]) async throws {
        try await write { db in
            for name in names { try db.execute(sql: "DROP INDEX \(name)") }
        }
    }
}

extension SQLiteStore {
    /// Reports every statement the writer connection runs from now on, with its duration as
    /// SQLite measures it, for the benchmark's per-statement breakdown
    /// (`OrreryBenchmark --store-only --profile-statements`); never part of a served store.
    package func profileWrites(_ record: @escaping @Sendable (_ sql: String, _ seconds: Double) -> Void) async throws {
        try await pool.writeWithoutTransaction { db in
            db.trace(options: .profile) { event in
                if case .profile(let statement, let duration) = event { record(statement.sql, duration) }
            }
        }
    }
}
