public import OrreryCore
import PostgresNIO

extension PostgresStore: AuditStore {
    public func recordAudit(_ entry: AuditEntry) async throws {
        try await withConnection { connection in
            try await connection.execute("""
                INSERT INTO audit_log (at, actor, action, target, project)
                VALUES (\(entry.at.microseconds), \(entry.actor), \(entry.action), \(entry.target), \(entry.project))
                """, logger: self.logger)
        }
    }

    public func listAudit(limit: Int, cursor: String?) async throws -> Page<AuditEntry> {
        let before = try cursor.map(PageCursor.decode) ?? .max
        return try await withConnection { connection in
            let rows = try await connection.rows("""
                SELECT seq, at, actor, action, target, project FROM audit_log WHERE seq < \(before) ORDER BY seq DESC LIMIT \(Int64(limit + 1))
                """, logger: self.logger).map { row in
                AuditEntry(
                    seq: try row[0].decode(Int64.self), at: Timestamp(microseconds: try row[1].decode(Int64.self)),
                    actor: try row[2].decode(String.self), action: try row[3].decode(String.self), target: try row[4].decode(String.self),
                    project: try row[5].decode(String?.self))
            }
            return Page(overfetched: rows, limit: limit, totalCount: nil, seq: \.seq)
        }
    }
}
