import GRDB
public import OrreryCore

extension SQLiteStore: AuditStore {
    public func recordAudit(_ entry: AuditEntry) async throws {
        try await write { db in
            try db.execute(
                sql: "INSERT INTO audit_log (at, actor, action, target, project) VALUES (?, ?, ?, ?, ?)",
                arguments: [entry.at, entry.actor, entry.action, entry.target, entry.project])
        }
    }

    public func listAudit(limit: Int, cursor: String?) async throws -> Page<AuditEntry> {
        let before = try cursor.map(PageCursor.decode) ?? .max
        return try await read { db in
            let rows = try Row.fetchAll(
                db, sql: "SELECT seq, at, actor, action, target, project FROM audit_log WHERE seq < ? ORDER BY seq DESC LIMIT ?",
                arguments: [before, limit + 1])
            return Page(
                overfetched: rows.map { AuditEntry(seq: $0[0], at: $0[1], actor: $0[2], action: $0[3], target: $0[4], project: $0[5]) },
                limit: limit, totalCount: nil, seq: \.seq)
        }
    }
}
