import Foundation
import GRDB
public import OrreryCore

extension SQLiteStore: RunQueue {
    public func nextDueTime(limits: ClaimLimits) async throws -> Timestamp? {
        let fullQueues = JSONValue.array(limits.fullQueues.map(JSONValue.string)).jsonText
        let fullModules = JSONValue.array(limits.fullModules.map(JSONValue.string)).jsonText
        let onlyModules = limits.onlyModules.map { JSONValue.array($0.map(JSONValue.string)).jsonText }
        return try await read { db in
            // The earliest of each priority level's earliest: one index seek per level.
            try Timestamp.fetchOne(db.cachedStatement(sql: """
                \(Self.priorityLevelsSQL)
                SELECT min((SELECT scheduled_at FROM runs INDEXED BY runs_claim WHERE status = 'scheduled' AND held = 0
                            AND priority = levels.p AND queue NOT IN (SELECT value FROM json_each(?1))
                            AND module NOT IN (SELECT value FROM json_each(?2))
                            AND (?3 IS NULL OR module IN (SELECT value FROM json_each(?3))) AND (?4 IS NULL OR project = ?4)
                            ORDER BY scheduled_at LIMIT 1))
                FROM levels WHERE levels.p IS NOT NULL
                """), arguments: [fullQueues, fullModules, onlyModules, limits.onlyProject])
        }
    }

    /// The priority levels present among claimable runs (`levels(p)`), one seek of
    /// `runs_claim` each: per-level queries then reach a level's due entries directly.
    static let priorityLevelsSQL = """
        WITH RECURSIVE levels(p) AS (
            SELECT (SELECT priority FROM runs INDEXED BY runs_claim WHERE status = 'scheduled' AND held = 0
                    ORDER BY priority DESC LIMIT 1)
            UNION ALL
            SELECT (SELECT priority FROM runs INDEXED BY runs_claim WHERE status = 'scheduled' AND held = 0
                    AND priority < levels.p ORDER BY priority DESC LIMIT 1)
            FROM levels WHERE levels.p IS NOT NULL)
        """

    public func dueCount(by dueBy: Timestamp) async throws -> Int {
        try await read { db in
            try Int.fetchOne(db.cachedStatement(sql: """
                \(Self.priorityLevelsSQL)
                SELECT coalesce(sum((SELECT count(*) FROM runs INDEXED BY runs_claim WHERE status = 'scheduled' AND held = 0
                            AND priority = levels.p AND scheduled_at <= ?)), 0)
                FROM levels WHERE levels.p IS NOT NULL
                """), arguments: [dueBy]) ?? 0
        }
    }

    public func record(_ batch: RecordBatch, node: String, now: Timestamp) async throws -> RecordSummary {
        try await write { db in
            if !batch.logs.isEmpty {
                let insertLog = try db.cachedStatement(sql: """
                    INSERT OR IGNORE INTO run_logs (run_id, idx, level, msg, progress_percent, timestamp)
                    SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM runs WHERE id = ? AND status = 'active' AND node = ?)
                    """)
                for entry in batch.logs {
                    try insertLog.execute(arguments: [
                        entry.runID, entry.idx, entry.level.rawValue, entry.message, entry.progressPercent,
                        entry.timestamp, entry.runID, node,
                    ])
                }
            }
            if !batch.progress.isEmpty {
                let setProgress = try db.cachedStatement(sql: """
                    UPDATE runs SET progress_percent = ?, progress_message = ?, updated_at = ?
                    WHERE id = ? AND status = 'active' AND node = ?
                    """)
                for (runID, progress) in batch.progress {
                    try setProgress.execute(arguments: [progress.percent, progress.message, now, runID, node])
                }
            }
            return try self.end(batch.outcomes, heldBy: node, now: now, db)
        }
    }

    /// Ends active runs (fenced by `node`, nil for the rescuer) and applies retry policy, in
    /// a fixed number of statements however many runs end (a failed run that is retried
    /// adds its own): a group commit's cost is its rows, not a round of statements per run.
    /// Its updates say `OR FAIL`: no statement journal (`apply`).
    func end(_ outcomes: [RunOutcome], heldBy node: String?, now: Timestamp, _ db: Database) throws -> RecordSummary {
        let resolved = try ResolvedOutcomes(outcomes)
        var summary = RecordSummary()
        if !resolved.handedBack.isEmpty {
            try db.cachedStatement(sql: """
                UPDATE OR FAIL runs SET status = 'scheduled', started_at = NULL, node = NULL, lease_expires_at = NULL, updated_at = ?1
                WHERE id IN (SELECT value FROM json_each(?2)) AND status = 'active' AND (?3 IS NULL OR node = ?3)
                """).execute(arguments: [now, JSONValue.array(resolved.handedBack.map(JSONValue.string)).jsonText, node])
            summary.ended += db.changesCount
        }
        guard !resolved.endings.isEmpty else { return summary }
        // Rows no longer ours (rescued, or another node's) are fenced off by the WHERE. The
        // RETURNING clause sees the row as updated: a run that never started reports its end.
        // Each ending bound as it is (a JSON parameter cost six json_extract parses per run).
        var ended: [EndedRun] = []
        try Records.forEachChunk(of: resolved.endings, columns: 6, constants: 2) { placeholders, chunk in
            var bindings = Bindings(try db.cachedStatement(sql: """
                    WITH o(id, status, at, result, error_code, error_message) AS (VALUES \(placeholders))
                    UPDATE OR FAIL runs SET status = o.status, finished_at = o.at, canceled_at = CASE WHEN o.status = 'canceled' THEN o.at END,
                        updated_at = ?1, result = o.result, error_code = o.error_code, error_message = o.error_message,
                        lease_expires_at = NULL
                    FROM o WHERE runs.id = o.id AND +runs.status = 'active' AND (?2 IS NULL OR runs.node = ?2)
                    RETURNING runs.id, runs.task_id, runs.project, runs.status
                    """))
            bindings.add(now, node)
            for e in chunk { bindings.add(e.runID, e.status.rawValue, e.at, e.result?.jsonText, e.error?.code, e.error?.message) }
            try bindings.forEachRow { row in
                ended.append(EndedRun(id: row[0], taskID: row[1], project: row[2], status: RunStatus(rawValue: row[3]) ?? .failed))
            }
        }
        guard !ended.isEmpty else { return summary }
        summary.ended += ended.count
        try emitRunEnds(ended.map(\.ref), errors: resolved.errors, now: now, db)
        // Runs held behind these (`overlap: queue`, `run_all` catch-ups) may start now.
        if try Self.any(in: "runs INDEXED BY runs_held WHERE held = 1", db) {
            try db.cachedStatement(sql: """
                UPDATE OR FAIL runs INDEXED BY runs_held SET held = 0 WHERE held = 1 AND task_id IN (SELECT value FROM json_each(?))
                """).execute(arguments: [JSONValue.array(Set(ended.map(\.taskID)).map(JSONValue.string)).jsonText])
        }
        var retried = Set<String>()
        for run in ended where run.status == .failed {
            guard let retry = try retryRun(after: run.id, now: now, db) else { continue }
            try Records.insert(retry, db)
            try carryEvent(from: run.id, to: retry.id, db)
            retried.insert(run.id)
        }
        summary.retriesScheduled = retried.count
        if !retried.isEmpty {
            // A retried failure is not its task's last run (`Records.lastRunOfRunsSQL`).
            try db.cachedStatement(sql: "UPDATE OR FAIL runs SET retried = 1 WHERE id IN (SELECT value FROM json_each(?))")
                .execute(arguments: [JSONValue.array(retried.map(JSONValue.string)).jsonText])
        }
        // Notifications go out for a run's last attempt only (a retried failure is not the end).
        // The tasks' rows are not written: their last run is read from their runs (`Records.lastRunSQL`).
        try enqueueNotifications(ended.filter { !retried.contains($0.id) }.map(\.ref), now: now, db)
        return summary
    }

    /// `SET` term for a task row: its `open_seq` (migration v12) moved up to its oldest open
    /// run or its last run (`Records.lastRunOfRunsSQL`), whichever is older; the largest integer
    /// when it has neither. Reads only the task's runs from the old bound on, in `runs_task`.
    static let advanceOpenSeq = """
        open_seq = min(
            coalesce((SELECT min(r.seq) FROM runs r INDEXED BY runs_task
                      WHERE r.task_id = tasks.id AND r.seq >= tasks.open_seq AND r.status IN ('scheduled', 'active')),
                     9223372036854775807),
            coalesce(\(Records.lastRunSeq(Records.lastRunOfRunsSQL)), 9223372036854775807))
        """

    /// The next attempt after the failed run `runID`, when its task's retry policy allows one.
    private func retryRun(after runID: String, now: Timestamp, _ db: Database) throws -> TaskRun? {
        guard let row = try Row.fetchOne(
            db.cachedStatement(sql: """
                SELECT r.task_id, r.project, r.module, r.resource_id, r.attempt, r.performed_by, r.priority, t.retry, r.queue
                FROM runs r JOIN tasks t ON t.id = r.task_id AND t.deleted_at IS NULL WHERE r.id = ?
                """),
            arguments: [runID])
        else { return nil }
        let failed = TaskRun(
            id: runID, taskID: row[0], project: row[1], module: row[2], resourceID: row[3], attempt: row[4],
            status: .failed, performedBy: row[5], scheduledAt: now, priority: row[6], queue: row[8], updatedAt: now)
        let policy = try RetryPolicy.parse(try JSONValue.fromStored(row[7]), path: "retry")
        return policy.retryRun(after: failed, now: now, id: ids.make(at: now), jitterUnit: Double.random(in: 0..<1))
    }

    public func renewLeases(node: String, runIDs: [String], until: Timestamp, expiringBefore: Timestamp?) async throws -> [String] {
        guard !runIDs.isEmpty else { return [] }
        let ids = JSONValue.array(runIDs.map(JSONValue.string)).jsonText
        return try await write { db in
            try db.cachedStatement(sql: """
                UPDATE OR FAIL runs SET lease_expires_at = ?
                WHERE status = 'active' AND node = ? AND id IN (SELECT value FROM json_each(?)) AND (? IS NULL OR lease_expires_at < ?)
                """).execute(arguments: [until, node, ids, expiringBefore, expiringBefore])
            return try String.fetchAll(db.cachedStatement(sql: """
                SELECT id FROM runs
                WHERE status = 'active' AND node = ? AND id IN (SELECT value FROM json_each(?)) AND cancel_requested_at IS NOT NULL
                """), arguments: [node, ids])
        }
    }

    public func rescueExpired(expiredBefore: Timestamp, exceptNode: String?, now: Timestamp) async throws -> RecordSummary {
        try await write { db in
            let rows = try Row.fetchAll(
                db.cachedStatement(sql: """
                    SELECT id, cancel_requested_at FROM runs INDEXED BY runs_lease
                    WHERE status = 'active' AND lease_expires_at < ? AND (? IS NULL OR node IS NOT ?)
                    """),
                arguments: [expiredBefore, exceptNode, exceptNode])
            let outcomes = rows.map { row in
                RunOutcome(runID: row["id"], end: .leaseLapsed(cancelRequested: (row["cancel_requested_at"] as Timestamp?) != nil), at: now)
            }
            return try self.end(outcomes, heldBy: nil, now: now, db)
        }
    }
}
