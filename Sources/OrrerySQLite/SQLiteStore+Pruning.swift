import GRDB
public import OrreryCore

extension SQLiteStore: PruningStore {
    public func pruneFinished(before finishedBefore: Timestamp, limit: Int) async throws -> Int {
        try await write { db in
            var seqs: [Int64] = [], taskIDs = Set<String>()
            try Records.forEachRow(
                db.cachedStatement(sql: """
                    SELECT seq, task_id FROM runs INDEXED BY runs_finished
                    WHERE finished_at IS NOT NULL AND finished_at < ? ORDER BY finished_at LIMIT ?
                    """),
                arguments: [finishedBefore, limit]) { row in
                seqs.append(row[0])
                taskIDs.insert(row[1])
            }
            guard !seqs.isEmpty else { return 0 }
            try Self.keepLastRuns(ofTasks: taskIDs, db)
            let ids = try String.fetchAll(
                db.cachedStatement(sql: "DELETE FROM runs WHERE seq IN (SELECT value FROM json_each(?)) RETURNING id"),
                arguments: [JSONValue.array(seqs.map { .int($0) }).jsonText])
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
                try Self.keepLastRuns(ofTasks: [task[1]], db)
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

    /// Writes each task's last run (`Records.lastRunSQL`) into its row, before pruning deletes
    /// the runs it is read from: the task keeps showing it.
    static func keepLastRuns(ofTasks taskIDs: Set<String>, _ db: Database) throws {
        try db.cachedStatement(sql: """
            UPDATE tasks SET last_run_at = \(Records.lastRunStart("l.last")), last_status = \(Records.lastRunStatus("l.last"))
            FROM (SELECT id, \(Records.lastRunSQL) AS last FROM tasks WHERE id IN (SELECT value FROM json_each(?))) AS l
            WHERE tasks.id = l.id AND l.last IS NOT NULL
                AND (tasks.last_status IS NOT \(Records.lastRunStatus("l.last")) OR tasks.last_run_at IS NOT \(Records.lastRunStart("l.last")))
            """).execute(arguments: [JSONValue.array(taskIDs.map(JSONValue.string)).jsonText])
    }

    static func deleteLogs(of runIDs: [String], _ db: Database) throws {
        let statement = try db.cachedStatement(sql: "DELETE FROM run_logs WHERE run_id = ?")
        for id in runIDs { try statement.execute(arguments: [id]) }
    }
}
