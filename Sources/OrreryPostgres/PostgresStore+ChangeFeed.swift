public import OrreryCore
import PostgresNIO

/// The change feed of the live event stream: runs by `(updated_at, seq)` (index
/// `runs_changed`), log lines by `(run_id, idx)` (the primary key).
extension PostgresStore: RunChangeFeed {
    public func runsChanged(after position: ChangePosition, limit: Int) async throws -> [TaskRun] {
        try await withConnection { connection in
            try await connection.rows("""
                SELECT \(unescaped: PostgresRecords.runColumns) FROM runs
                WHERE (updated_at, seq) > (\(position.updatedAt.microseconds), \(position.seq))
                ORDER BY updated_at, seq LIMIT \(Int64(limit))
                """, logger: self.logger).map(PostgresRecords.run)
        }
    }

    public func logs(from positions: [String: Int64], limit: Int) async throws -> [LogEntry] {
        guard !positions.isEmpty, limit > 0 else { return [] }
        let runs = positions.sorted { $0.key < $1.key }
        let ids = runs.map(\.key), from = runs.map(\.value)
        // One index seek per run (LATERAL), each bounded by the limit.
        return try await withConnection { connection in
            try await connection.rows("""
                SELECT l.run_id, l.idx, l.level, l.msg, l.progress_percent, l.timestamp
                FROM unnest(\(ids)::text[], \(from)::bigint[]) AS p(run_id, idx)
                CROSS JOIN LATERAL (
                    SELECT * FROM run_logs WHERE run_logs.run_id = p.run_id AND run_logs.idx >= p.idx
                    ORDER BY run_logs.idx LIMIT \(Int64(limit))
                ) l
                ORDER BY l.run_id, l.idx LIMIT \(Int64(limit))
                """, logger: self.logger).map(PostgresRecords.logEntry)
        }
    }

    public func logEnds(runIDs: [String]) async throws -> [String: Int64] {
        guard !runIDs.isEmpty else { return [:] }
        var ends = Dictionary(uniqueKeysWithValues: runIDs.map { ($0, Int64(0)) })
        let rows = try await withConnection { connection in
            try await connection.rows(
                "SELECT run_id, max(idx) + 1 FROM run_logs WHERE run_id = ANY(\(runIDs)) GROUP BY run_id", logger: self.logger
            ).map { (try $0[0].decode(String.self), try $0[1].decode(Int64.self)) }
        }
        for (run, next) in rows { ends[run] = next }
        return ends
    }
}
