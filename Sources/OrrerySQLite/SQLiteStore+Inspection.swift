import GRDB
public import OrreryCore

extension SQLiteStore: InspectableStore {
    public func queueDepth(now: Timestamp) async throws -> QueueDepth {
        try await read { db in
            // runs_status (status, seq) for the two counts; runs_claim (scheduled, not held) for due.
            let rows = try Row.fetchAll(
                db.cachedStatement(sql: "SELECT status, count(*) AS n FROM runs WHERE status IN ('scheduled', 'active') GROUP BY status"))
            var depth = QueueDepth()
            for row in rows {
                let n: Int = row["n"]
                switch row["status"] as String {
                case "scheduled": depth.scheduled = n
                default: depth.active = n
                }
            }
            depth.due = try Int.fetchOne(
                db.cachedStatement(sql: "SELECT count(*) FROM runs INDEXED BY runs_claim WHERE status = 'scheduled' AND held = 0 AND scheduled_at <= ?"),
                arguments: [now]) ?? 0
            return depth
        }
    }

    public func pendingMigrations() async throws -> [String] {
        try await read { db in
            let migrator = Migrations.migrator
            let applied = try migrator.appliedIdentifiers(db)
            return migrator.migrations.filter { !applied.contains($0) }
        }
    }
}
