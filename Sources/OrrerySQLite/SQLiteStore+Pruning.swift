import GRDB
public import OrreryCore

extension SQLiteStore: PruningStore {
    public func pruneFinished(before finishedBefore: Timestamp, limit: Int) async throws -> Int {
        try await write { db in
            let ids = try String.fetchAll(
                db.cachedStatement(sql: """
                    DELETE FROM runs WHERE seq IN (
                        SELECT seq FROM runs INDEXED BY runs_finished
                        WHERE finished_at IS NOT NULL AND finished_at < ? ORDER BY finished_at LIMIT ?)
                    RETURNING id
                    """),
                arguments: [finishedBefore, limit])
            try Self.deleteLogs(of: ids, db)
            return ids.count
        }
    }

    public func pruneIdempotencyKeys(before createdBefore: Timestamp, limit: Int) async throws -> Int {
        try await write { db in
            try db.execute(
                sql: "DELETE FROM idempotency_keys WHERE (project, key) IN (SELECT project, key FROM idempotency_keys WHERE created_at < ? LIMIT ?)",
                arguments: [createdBefore, limit])
            return db.changesCount
        }
    }

    public func pruneBeyondNewest(_ keep: Int, afterTaskSeq: Int64, taskLimit: Int) async throws -> (deleted: Int, lastTaskSeq: Int64?) {
        try await write { db in
            let tasks = try Row.fetchAll(
                db.cachedStatement(sql: "SELECT seq, id FROM tasks WHERE seq > ? ORDER BY seq LIMIT ?"),
                arguments: [afterTaskSeq, taskLimit])
            var deleted = 0
            for task in tasks {
                // The seq of the oldest run to keep: everything finished and older goes.
                guard let boundary = try Int64.fetchOne(
                    db.cachedStatement(sql: """
                        SELECT seq FROM runs INDEXED BY runs_task WHERE task_id = ? AND finished_at IS NOT NULL
                        ORDER BY seq DESC LIMIT 1 OFFSET ?
                        """),
                    arguments: [task[1], keep - 1])
                else { continue }
                let ids = try String.fetchAll(
                    db.cachedStatement(sql: """
                        DELETE FROM runs WHERE task_id = ? AND seq < ? AND finished_at IS NOT NULL RETURNING id
                        """),
                    arguments: [task[1], boundary])
                try Self.deleteLogs(of: ids, db)
                deleted += ids.count
            }
            return (deleted, tasks.count < taskLimit ? nil : tasks.last?[0])
        }
    }

    static func deleteLogs(of runIDs: [String], _ db: Database) throws {
        let statement = try db.cachedStatement(sql: "DELETE FROM run_logs WHERE run_id = ?")
        for id in runIDs { try statement.execute(arguments: [id]) }
    }
}
