import Logging
public import OrreryCore
import PostgresNIO

extension PostgresStore: InspectableStore {
    public func queueDepth(now: Timestamp) async throws -> QueueDepth {
        try await withConnection { connection in
            // One scan of runs_status's scheduled and active entries (the backlog, not the history).
            let row = try await connection.rows("""
                SELECT count(*) FILTER (WHERE status = 'scheduled'),
                       count(*) FILTER (WHERE status = 'scheduled' AND NOT held AND scheduled_at <= \(now.microseconds)),
                       count(*) FILTER (WHERE status = 'active')
                FROM runs WHERE status IN ('scheduled', 'active')
                """, logger: self.logger)[0]
            return QueueDepth(
                scheduled: Int(try row[0].decode(Int64.self)), due: Int(try row[1].decode(Int64.self)),
                active: Int(try row[2].decode(Int64.self)))
        }
    }

    public func pendingMigrations() async throws -> [String] {
        try await withConnection { connection in
            let exists = try await connection.rows("SELECT to_regclass('schema_migrations') IS NOT NULL", logger: self.logger)[0][0].decode(Bool.self)
            guard exists else { return PostgresMigrations.all.map(\.name) }
            let applied = Set(try await connection.rows("SELECT name FROM schema_migrations", logger: self.logger).map { try $0[0].decode(String.self) })
            return PostgresMigrations.all.map(\.name).filter { !applied.contains($0) }
        }
    }
}
