import GRDB
public import OrreryCore

/// The change feed of the live event stream: runs by `(updated_at, seq)` (index
/// `runs_changed`), log lines by `(run_id, idx)` (the primary key).
extension SQLiteStore: RunChangeFeed {
    public func runsChanged(after position: ChangePosition, limit: Int) async throws -> [TaskRun] {
        try await read { db in
            try Row.fetchAll(
                db, sql: """
                    SELECT \(Records.runColumns) FROM runs
                    WHERE (updated_at, seq) > (?, ?) ORDER BY updated_at, seq LIMIT ?
                    """,
                arguments: [position.updatedAt, position.seq, limit]
            ).map(Records.run)
        }
    }

    public func logs(from positions: [String: Int64], limit: Int) async throws -> [LogEntry] {
        guard !positions.isEmpty, limit > 0 else { return [] }
        let runs = positions.sorted { $0.key < $1.key }
        return try await read { db in
            var entries: [LogEntry] = []
            // One statement per 200 runs: each range is its own seek on the primary key.
            for start in stride(from: 0, to: runs.count, by: 200) where entries.count < limit {
                let chunk = runs[start..<min(start + 200, runs.count)]
                let ranges = Array(repeating: "(run_id = ? AND idx >= ?)", count: chunk.count).joined(separator: " OR ")
                var arguments: [any DatabaseValueConvertible] = chunk.flatMap { [$0.key, $0.value] as [any DatabaseValueConvertible] }
                arguments.append(limit - entries.count)
                entries += try Row.fetchAll(
                    db, sql: "SELECT * FROM run_logs WHERE \(ranges) ORDER BY run_id, idx LIMIT ?",
                    arguments: StatementArguments(arguments)
                ).map(Records.logEntry)
            }
            return entries
        }
    }

    public func logEnds(runIDs: [String]) async throws -> [String: Int64] {
        guard !runIDs.isEmpty else { return [:] }
        return try await read { db in
            var ends = Dictionary(uniqueKeysWithValues: runIDs.map { ($0, Int64(0)) })
            for start in stride(from: 0, to: runIDs.count, by: 500) {
                let chunk = Array(runIDs[start..<min(start + 500, runIDs.count)])
                let marks = Array(repeating: "?", count: chunk.count).joined(separator: ", ")
                for row in try Row.fetchAll(
                    db, sql: "SELECT run_id, max(idx) + 1 AS next FROM run_logs WHERE run_id IN (\(marks)) GROUP BY run_id",
                    arguments: StatementArguments(chunk))
                {
                    ends[row["run_id"]] = row["next"]
                }
            }
            return ends
        }
    }
}
