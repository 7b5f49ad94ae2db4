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
                WITH RECURSIVE levels(p) AS (
                    SELECT (SELECT priority FROM runs INDEXED BY runs_claim WHERE status = 'scheduled' AND held = 0
                            ORDER BY priority DESC LIMIT 1)
                    UNION ALL
                    SELECT (SELECT priority FROM runs INDEXED BY runs_claim WHERE status = 'scheduled' AND held = 0
                            AND priority < levels.p ORDER BY priority DESC LIMIT 1)
                    FROM levels WHERE levels.p IS NOT NULL)
                SELECT min((SELECT scheduled_at FROM runs INDEXED BY runs_claim WHERE status = 'scheduled' AND held = 0
                            AND priority = levels.p AND queue NOT IN (SELECT value FROM json_each(?1))
                            AND module NOT IN (SELECT value FROM json_each(?2))
                            AND (?3 IS NULL OR module IN (SELECT value FROM json_each(?3))) AND (?4 IS NULL OR project = ?4)
                            ORDER BY scheduled_at LIMIT 1))
                FROM levels WHERE levels.p IS NOT NULL
                """), arguments: [fullQueues, fullModules, onlyModules, limits.onlyProject])
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
            var summary = RecordSummary()
            for outcome in batch.outcomes {
                summary = summary + (try self.end(outcome, heldBy: node, now: now, db))
            }
            return summary
        }
    }

    /// Ends one active run (fenced by `node`, nil for the rescuer) and applies retry policy.
    func end(_ outcome: RunOutcome, heldBy node: String?, now: Timestamp, _ db: Database) throws -> RecordSummary {
        let (status, result, error) = try outcome.end.resolved()
        if status == .scheduled {
            try db.cachedStatement(sql: """
                UPDATE runs SET status = 'scheduled', started_at = NULL, node = NULL, lease_expires_at = NULL, updated_at = ?
                WHERE id = ? AND status = 'active' AND (? IS NULL OR node = ?)
                """).execute(arguments: [now, outcome.runID, node, node])
            return RecordSummary(ended: db.changesCount, retriesScheduled: 0)
        }
        try db.cachedStatement(sql: """
            UPDATE runs SET status = ?, finished_at = ?, canceled_at = ?, updated_at = ?, result = ?,
                error_code = ?, error_message = ?, lease_expires_at = NULL
            WHERE id = ? AND status = 'active' AND (? IS NULL OR node = ?)
            """).execute(arguments: [
                status.rawValue, outcome.at, status == .canceled ? outcome.at : nil, now, result?.jsonText,
                error?.code, error?.message, outcome.runID, node, node,
            ])
        guard db.changesCount > 0 else { return RecordSummary() }  // no longer ours: fenced off
        try emitRunEnd(runID: outcome.runID, status: status, error: error, now: now, db)
        // A run held behind this one (`overlap: queue`) may start now.
        try db.cachedStatement(sql: """
            UPDATE runs SET held = 0 WHERE held = 1 AND task_id = (SELECT task_id FROM runs WHERE id = ?)
            """).execute(arguments: [outcome.runID])
        if status == .failed, let retried = try retryRun(after: outcome.runID, now: now, db) {
            try Records.insert(retried, db)
            try carryEvent(from: outcome.runID, to: retried.id, db)
            return RecordSummary(ended: 1, retriesScheduled: 1)
        }
        // Notifications go out for the run's last attempt only (a retried failure is not the end).
        try enqueueNotifications(runIDs: [outcome.runID], now: now, db)
        // A task's last_status is its newest finished run's (by start) status.
        try db.cachedStatement(sql: """
            UPDATE tasks SET last_status = ?1, last_run_at = r.started_at
            FROM (SELECT task_id, coalesce(started_at, ?2) AS started_at FROM runs WHERE id = ?3) AS r
            WHERE tasks.id = r.task_id AND (tasks.last_run_at IS NULL OR tasks.last_run_at <= r.started_at)
            """).execute(arguments: [status.rawValue, outcome.at, outcome.runID])
        return RecordSummary(ended: 1, retriesScheduled: 0)
    }

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

    public func renewLeases(node: String, runIDs: [String], until: Timestamp) async throws -> [String] {
        guard !runIDs.isEmpty else { return [] }
        let ids = JSONValue.array(runIDs.map(JSONValue.string)).jsonText
        return try await write { db in
            try String?.fetchAll(db.cachedStatement(sql: """
                UPDATE runs SET lease_expires_at = ? WHERE status = 'active' AND node = ? AND id IN (SELECT value FROM json_each(?))
                RETURNING CASE WHEN cancel_requested_at IS NOT NULL THEN id END
                """), arguments: [until, node, ids]).compactMap { $0 }
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
            var summary = RecordSummary()
            for row in rows {
                let end = RunOutcome.End.leaseLapsed(cancelRequested: (row["cancel_requested_at"] as Timestamp?) != nil)
                summary = summary + (try self.end(RunOutcome(runID: row["id"], end: end, at: now), heldBy: nil, now: now, db))
            }
            return summary
        }
    }
}
