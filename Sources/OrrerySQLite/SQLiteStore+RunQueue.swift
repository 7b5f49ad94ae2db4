import Foundation
import GRDB
public import OrreryCore

extension SQLiteStore: RunQueue {
    public func claimDue(limit: Int, now: Timestamp, node: String, leaseUntil: Timestamp) async throws -> [ClaimedRun] {
        try await write { db in
            let rows = try Row.fetchAll(
                db.cachedStatement(sql: """
                    UPDATE runs SET status = 'active', started_at = ?, updated_at = ?, node = ?, lease_expires_at = ?
                    WHERE seq IN (
                        SELECT seq FROM runs WHERE status = 'scheduled' AND scheduled_at <= ?
                        ORDER BY priority DESC, scheduled_at LIMIT ?)
                    RETURNING \(Records.runColumns)
                    """),
                arguments: [now, now, node, leaseUntil, now, limit])
            guard !rows.isEmpty else { return [] }
            let taskInfo = try db.cachedStatement(sql: "SELECT params, timeout_sec, schedule_type FROM tasks WHERE id = ?")
            var claimed: [ClaimedRun] = []
            claimed.reserveCapacity(rows.count)
            for row in rows {
                let run = try Records.run(row)
                guard let info = try Row.fetchOne(taskInfo, arguments: [run.taskID]) else { continue }
                if run.trigger == .schedule, (info["schedule_type"] as String) != "once" {
                    try self.materializeNext(after: run, now: now, db)
                }
                claimed.append(ClaimedRun(run: run, paramsJSON: info["params"], timeoutSec: info["timeout_sec"]))
            }
            claimed.sort { ($0.run.priority, $1.run.scheduledAt) > ($1.run.priority, $0.run.scheduledAt) }
            return claimed
        }
    }

    /// Inserts the run for the slot after `run`'s, if the task is still enabled and recurring.
    func materializeNext(after run: TaskRun, now: Timestamp, _ db: Database) throws {
        guard run.trigger == .schedule, let slot = run.slot,
              let row = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT \(Records.taskColumns) FROM tasks WHERE id = ? AND deleted_at IS NULL"),
                arguments: [run.taskID])
        else { return }
        let task = try Records.task(row)
        if let next = task.runAfter(slot: slot, now: now, id: ids.make(at: now)) {
            try Records.insert(next, db)
        }
    }

    public func nextDueTime() async throws -> Timestamp? {
        try await read { db in
            try Timestamp.fetchOne(db.cachedStatement(sql: "SELECT min(scheduled_at) FROM runs WHERE status = 'scheduled'"))
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
        let status: RunStatus
        var result: JSONValue?
        var error: RunError?
        switch outcome.end {
        case .complete(let value): status = .complete; result = value
        case .failed(let e): status = .failed; error = e
        case .canceled: status = .canceled
        case .handedBack: status = .scheduled
        }
        _ = try RunStatus.active.transition(to: status)
        if status == .scheduled {
            try db.cachedStatement(sql: """
                UPDATE runs SET status = 'scheduled', started_at = NULL, node = NULL, lease_expires_at = NULL, updated_at = ?
                WHERE id = ? AND status = 'active' AND (? IS NULL OR node = ?)
                """).execute(arguments: [now, outcome.runID, node, node])
            return RecordSummary(ended: db.changesCount, retriesScheduled: 0)
        }
        let row = try Row.fetchOne(
            db.cachedStatement(sql: """
                UPDATE runs SET status = ?, finished_at = ?, canceled_at = ?, updated_at = ?, result = ?,
                    error_code = ?, error_message = ?, lease_expires_at = NULL
                WHERE id = ? AND status = 'active' AND (? IS NULL OR node = ?)
                RETURNING \(Records.runColumns)
                """),
            arguments: [
                status.rawValue, outcome.at, status == .canceled ? outcome.at : nil, now, result?.jsonText,
                error?.code, error?.message, outcome.runID, node, node,
            ])
        guard let row else { return RecordSummary() }  // no longer ours: fenced off
        let run = try Records.run(row)
        if status == .failed, let retry = try retryPolicy(taskID: run.taskID, db),
           let next = retry.retryRun(after: run, now: now, id: ids.make(at: now), jitterUnit: Double.random(in: 0..<1)) {
            try Records.insert(next, db)
            return RecordSummary(ended: 1, retriesScheduled: 1)
        }
        try Self.recordLastStatus(taskID: run.taskID, status: status, at: run.startedAt ?? outcome.at, db)
        return RecordSummary(ended: 1, retriesScheduled: 0)
    }

    private func retryPolicy(taskID: String, _ db: Database) throws -> RetryPolicy? {
        guard let text = try String.fetchOne(
            db.cachedStatement(sql: "SELECT retry FROM tasks WHERE id = ? AND deleted_at IS NULL"), arguments: [taskID])
        else { return nil }
        return try RetryPolicy.parse(try JSONValue.fromStored(text), path: "retry")
    }

    public func renewLeases(node: String, until: Timestamp) async throws {
        try await write { db in
            try db.cachedStatement(sql: "UPDATE runs SET lease_expires_at = ? WHERE status = 'active' AND node = ?")
                .execute(arguments: [until, node])
        }
    }

    public func rescueExpired(expiredBefore: Timestamp, exceptNode: String?, now: Timestamp) async throws -> RecordSummary {
        try await write { db in
            let rows = try Row.fetchAll(
                db.cachedStatement(sql: """
                    SELECT id, cancel_requested_at FROM runs
                    WHERE status = 'active' AND lease_expires_at < ? AND (? IS NULL OR node IS NOT ?)
                    """),
                arguments: [expiredBefore, exceptNode, exceptNode])
            var summary = RecordSummary()
            for row in rows {
                let canceled = (row["cancel_requested_at"] as Timestamp?) != nil
                let end: RunOutcome.End = canceled
                    ? .canceled
                    : .failed(RunError(code: RunError.leaseExpiredCode, message: "the node running this run stopped renewing its lease"))
                summary = summary + (try self.end(RunOutcome(runID: row["id"], end: end, at: now), heldBy: nil, now: now, db))
            }
            return summary
        }
    }
}

extension RecordSummary {
    static func + (lhs: RecordSummary, rhs: RecordSummary) -> RecordSummary {
        RecordSummary(ended: lhs.ended + rhs.ended, retriesScheduled: lhs.retriesScheduled + rhs.retriesScheduled)
    }
}
