import Foundation
import GRDB
public import OrreryCore

extension SQLiteStore: RunQueue {
    public func claimDue(limit: Int, now: Timestamp, node: String, leaseUntil: Timestamp, limits: ClaimLimits) async throws -> [ClaimedRun] {
        try await write { db in
            let due = limits.admit(try Self.dueRuns(limit: limit, now: now, limits: limits, db))
            guard !due.isEmpty else { return [] }
            let taskIDs = JSONValue.array(Array(Set(due.map { JSONValue.string($0.taskID) }))).jsonText
            var tasks: [String: (params: String, timeout: Int64?, recurring: Bool, policy: ClaimPolicy)] = [:]
            for row in try Row.fetchAll(
                db.cachedStatement(sql: """
                    SELECT id, params, timeout_sec, schedule_type, overlap, json_extract(misfire, '$.policy'),
                        json_extract(misfire, '$.grace_sec'), json_extract(schedule, '$.jitter_sec')
                    FROM tasks WHERE id IN (SELECT value FROM json_each(?))
                    """),
                arguments: [taskIDs]) {
                let id: String = row[0]
                let misfire = MisfirePolicy(policy: MisfirePolicy.Policy(rawValue: row[5] ?? "") ?? .runOnce, graceSec: row[6] ?? 60)
                tasks[id] = (row[1], row[2], (row[3] as String) != "once",
                             ClaimPolicy(taskID: id, overlap: OverlapPolicy(rawValue: row[4]) ?? .skip, misfire: misfire, jitterSec: row[7]))
            }
            let busy = Set(try String.fetchAll(
                db.cachedStatement(sql: """
                    SELECT task_id FROM runs INDEXED BY runs_task_active
                    WHERE status = 'active' AND task_id IN (SELECT value FROM json_each(?))
                    """), arguments: [taskIDs]))
            let holding = Set(try String.fetchAll(
                db.cachedStatement(sql: """
                    SELECT task_id FROM runs INDEXED BY runs_held WHERE held = 1 AND task_id IN (SELECT value FROM json_each(?))
                    """), arguments: [taskIDs]))

            let plan = ClaimPlan(due: due, policies: tasks.mapValues(\.policy), busy: busy, holding: holding, now: now)
            for run in plan.orphaned {
                // A due run whose task row is gone can never run; leaving it scheduled would
                // keep it due for ever (and the dispatcher busy). Record why and move on.
                try db.cachedStatement(sql: """
                    UPDATE runs SET status = 'skipped', finished_at = ?, updated_at = ?, result = ?
                    WHERE seq = ? AND status = 'scheduled'
                    """).execute(arguments: [now, now, ClaimPlan.skippedResult("task_missing").jsonText, run.seq])
            }
            var replaced: [String: [String]] = [:]
            for run in plan.replacing {
                replaced[run.id] = try String.fetchAll(
                    db.cachedStatement(sql: """
                        UPDATE runs SET cancel_requested_at = coalesce(cancel_requested_at, ?), updated_at = ?
                        WHERE task_id = ? AND status = 'active' RETURNING id
                        """), arguments: [now, now, run.taskID])
            }
            for (run, reason) in plan.skipped {
                _ = try RunStatus.scheduled.transition(to: .skipped)
                try db.cachedStatement(sql: """
                    UPDATE runs SET status = 'skipped', finished_at = ?, updated_at = ?, result = ?, held = 0
                    WHERE seq = ? AND status = 'scheduled'
                    """).execute(arguments: [now, now, ClaimPlan.skippedResult(reason).jsonText, run.seq])
                try Self.recordLastStatus(taskID: run.taskID, status: .skipped, at: now, db)
                try self.emitRunEnd(runID: run.id, status: .skipped, error: nil, now: now, db)
            }
            for run in plan.held {
                try db.cachedStatement(sql: "UPDATE runs SET held = 1, updated_at = ? WHERE seq = ?").execute(arguments: [now, run.seq])
            }
            for (run, to) in plan.spread {
                try db.cachedStatement(sql: "UPDATE runs SET scheduled_at = ?, updated_at = ? WHERE seq = ?")
                    .execute(arguments: [to, now, run.seq])
            }
            var claimed: [ClaimedRun] = []
            if !plan.toRun.isEmpty {
                _ = try RunStatus.scheduled.transition(to: .active)
                try db.cachedStatement(sql: """
                    UPDATE runs SET status = 'active', started_at = ?, updated_at = ?, node = ?, lease_expires_at = ?, held = 0
                    WHERE seq IN (SELECT value FROM json_each(?)) AND status = 'scheduled'
                    """).execute(arguments: [now, now, node, leaseUntil, "[" + plan.toRun.map { String($0.seq) }.joined(separator: ",") + "]"])
                for run in plan.toRun {
                    guard let task = tasks[run.taskID] else { continue }
                    claimed.append(ClaimedRun(
                        run: ClaimPlan.activated(run, node: node, now: now, leaseUntil: leaseUntil),
                        paramsJSON: task.params, timeoutSec: task.timeout, replaces: replaced[run.id] ?? []))
                }
            }
            for run in plan.slotsUsed where run.trigger == .schedule && tasks[run.taskID]?.recurring == true {
                try self.materializeSuccessors(of: run, now: now, db)
            }
            return try Self.withEvents(claimed, db)
        }
    }

    /// Up to `limit` due runs, highest priority first, then earliest (held runs are not due).
    ///
    /// Walks the priority levels present among scheduled runs from the top (one index seek
    /// each) and takes each level's due runs in time order, so the cost is the number of
    /// levels plus `limit` — never the size of the backlog or of the history.
    static func dueRuns(limit: Int, now: Timestamp, limits: ClaimLimits, _ db: Database) throws -> [TaskRun] {
        // `INDEXED BY`: left to itself the planner picks runs_status and scans every scheduled run.
        let topLevel = try db.cachedStatement(sql: """
            SELECT priority FROM runs INDEXED BY runs_claim WHERE status = 'scheduled' AND held = 0
            ORDER BY priority DESC LIMIT 1
            """)
        let nextLevel = try db.cachedStatement(sql: """
            SELECT priority FROM runs INDEXED BY runs_claim WHERE status = 'scheduled' AND held = 0 AND priority < ?
            ORDER BY priority DESC LIMIT 1
            """)
        let dueAtLevel = try db.cachedStatement(sql: """
            SELECT seq, id, task_id, project, module, resource_id, attempt, trigger, performed_by, slot, scheduled_at, priority, queue
            FROM runs INDEXED BY runs_claim
            WHERE status = 'scheduled' AND held = 0 AND priority = ? AND scheduled_at <= ?
                AND queue NOT IN (SELECT value FROM json_each(?)) AND module NOT IN (SELECT value FROM json_each(?))
            ORDER BY scheduled_at LIMIT ?
            """)
        let fullQueues = JSONValue.array(limits.fullQueues.map(JSONValue.string)).jsonText
        let fullModules = JSONValue.array(limits.fullModules.map(JSONValue.string)).jsonText
        var runs: [TaskRun] = []
        var level = try Int64.fetchOne(topLevel)
        while let priority = level, runs.count < limit {
            for row in try Row.fetchAll(dueAtLevel, arguments: [priority, now, fullQueues, fullModules, limit - runs.count]) {
                runs.append(TaskRun(
                    id: row[1], seq: row[0], taskID: row[2], project: row[3], module: row[4], resourceID: row[5],
                    attempt: row[6], status: .scheduled, trigger: RunTrigger(rawValue: row[7]) ?? .schedule,
                    performedBy: row[8], slot: row[9], scheduledAt: row[10], priority: row[11], queue: row[12], updatedAt: now))
            }
            level = try Int64.fetchOne(nextLevel, arguments: [priority])
        }
        return runs
    }

    /// Inserts what follows `run`'s slot under the task's misfire policy: the next run, and
    /// for `skip` the missed slots as skipped runs. A slot that already has a run is left alone.
    func materializeSuccessors(of run: TaskRun, now: Timestamp, _ db: Database) throws {
        guard run.trigger == .schedule, let slot = run.slot,
              let row = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT \(Records.taskColumns) FROM tasks WHERE id = ? AND deleted_at IS NULL"),
                arguments: [run.taskID])
        else { return }
        let task = try Records.task(row)
        let (next, missed) = task.successors(ofSlot: slot, now: now) { ids.make(at: now) }
        for skipped in missed { try Records.insert(skipped, db) }
        if let last = missed.last { try Self.recordLastStatus(taskID: task.id, status: .skipped, at: last.finishedAt ?? now, db) }
        if let next { try Records.insert(next, db) }
    }

    public func nextDueTime(limits: ClaimLimits) async throws -> Timestamp? {
        let fullQueues = JSONValue.array(limits.fullQueues.map(JSONValue.string)).jsonText
        let fullModules = JSONValue.array(limits.fullModules.map(JSONValue.string)).jsonText
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
                            AND module NOT IN (SELECT value FROM json_each(?2)) ORDER BY scheduled_at LIMIT 1))
                FROM levels WHERE levels.p IS NOT NULL
                """), arguments: [fullQueues, fullModules])
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
