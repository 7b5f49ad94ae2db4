import Logging
public import OrreryCore
import PostgresNIO

extension PostgresStore: PruningStore {
    public func pruneFinished(before finishedBefore: Timestamp, limit: Int) async throws -> Int {
        try await transaction { connection in
            let oldest = try await connection.rows("""
                SELECT seq, task_id FROM runs WHERE finished_at IS NOT NULL AND finished_at < \(finishedBefore.microseconds)
                ORDER BY finished_at LIMIT \(Int64(limit))
                """, logger: self.logger)
            guard !oldest.isEmpty else { return 0 }
            try await self.keepLastRuns(ofTasks: oldest.map { try $0[1].decode(String.self) }, connection)
            let ids = try await connection.rows("""
                DELETE FROM runs WHERE seq IN (
                    SELECT seq FROM runs WHERE seq = ANY(\(try oldest.map { try $0[0].decode(Int64.self) })) FOR UPDATE SKIP LOCKED)
                RETURNING id
                """, logger: self.logger).map { try $0[0].decode(String.self) }
            try await self.deleteLogs(of: ids, connection)
            return ids.count
        }
    }

    public func pruneIdempotencyKeys(before createdBefore: Timestamp, limit: Int) async throws -> Int {
        try await withConnection { connection in
            try await connection.execute("""
                DELETE FROM idempotency_keys WHERE ctid IN (
                    SELECT ctid FROM idempotency_keys WHERE created_at < \(createdBefore.microseconds) LIMIT \(Int64(limit)))
                RETURNING 1
                """, logger: self.logger)
        }
    }

    public func pruneBeyondNewest(_ keep: Int, afterTaskSeq: Int64, taskLimit: Int) async throws -> (deleted: Int, lastTaskSeq: Int64?) {
        try await transaction { connection in
            let tasks = try await connection.rows(
                "SELECT seq, id FROM tasks WHERE seq > \(afterTaskSeq) ORDER BY seq LIMIT \(Int64(taskLimit))", logger: self.logger)
            var deleted = 0
            for task in tasks {
                let taskID = try task[1].decode(String.self)
                // The seq of the oldest run to keep: everything finished and older goes.
                guard let boundary = try await connection.rows("""
                    SELECT seq FROM runs WHERE task_id = \(taskID) AND finished_at IS NOT NULL
                    ORDER BY seq DESC LIMIT 1 OFFSET \(Int64(keep - 1))
                    """, logger: self.logger).first?[0].decode(Int64.self)
                else { continue }
                try await self.keepLastRuns(ofTasks: [taskID], connection)
                let ids = try await connection.rows("""
                    DELETE FROM runs WHERE task_id = \(taskID) AND seq < \(boundary) AND finished_at IS NOT NULL RETURNING id
                    """, logger: self.logger).map { try $0[0].decode(String.self) }
                try await self.deleteLogs(of: ids, connection)
                deleted += ids.count
            }
            return (deleted, tasks.count < taskLimit ? nil : try tasks.last?[0].decode(Int64.self))
        }
    }

    /// Writes each task's last run (`PostgresRecords.lastRunSQL`) into its row, before pruning
    /// deletes runs it may be read from: the task keeps showing it. The tasks are locked in id
    /// order first, as a run's end locks them (`lockTasks(ofRuns:)`).
    func keepLastRuns(ofTasks taskIDs: [String], _ connection: PostgresConnection) async throws {
        let ids = Array(Set(taskIDs)).sorted()
        guard !ids.isEmpty else { return }
        try await connection.execute("SELECT 1 FROM tasks WHERE id = ANY(\(ids)) ORDER BY id FOR NO KEY UPDATE", logger: logger)
        try await connection.execute("""
            UPDATE tasks SET last_run_at = split_part(l.last, ' ', 1)::bigint, last_status = split_part(l.last, ' ', 2)
            FROM (SELECT id, \(unescaped: PostgresRecords.lastRunSQL) AS last FROM tasks WHERE id = ANY(\(ids))) AS l
            WHERE tasks.id = l.id AND l.last IS NOT NULL
                AND (tasks.last_status IS DISTINCT FROM split_part(l.last, ' ', 2)
                     OR tasks.last_run_at IS DISTINCT FROM split_part(l.last, ' ', 1)::bigint)
            """, logger: logger)
    }

    func deleteLogs(of runIDs: [String], _ connection: PostgresConnection) async throws {
        guard !runIDs.isEmpty else { return }
        try await connection.execute("DELETE FROM run_logs WHERE run_id = ANY(\(runIDs))", logger: logger)
    }
}
