import Logging
public import OrreryCore
import PostgresNIO

extension PostgresStore: RunQueue {
    /// Inserts what follows `run`'s slot under the task's misfire policy: the next run, and
    /// for `skip` the missed slots as skipped runs. A slot that already has a run is left alone.
    func materializeSuccessors(of run: TaskRun, now: Timestamp, _ connection: PostgresConnection) async throws {
        guard run.trigger == .schedule, let slot = run.slot,
              let row = try await connection.rows("""
                SELECT \(unescaped: PostgresRecords.storedTaskColumns) FROM tasks WHERE id = \(run.taskID) AND deleted_at IS NULL
                """, logger: logger).first
        else { return }
        let task = try PostgresRecords.task(row, derived: false)
        let (next, missed) = task.successors(ofSlot: slot, now: now) { ids.make(at: now) }
        try await insert(missed + (next.map { [$0] } ?? []), connection)
        if next != nil { try await notifyDue(connection) }
    }

    /// Inserts runs in one statement (the rows travel as one bound JSON parameter); a slot
    /// that already has a run keeps it.
    func insert(_ runs: [TaskRun], _ connection: PostgresConnection) async throws {
        guard !runs.isEmpty else { return }
        func opt<T>(_ value: T?, _ wrap: (T) -> JSONValue) -> JSONValue { value.map(wrap) ?? .null }
        let rows = JSONValue.array(runs.map { run in
            .object([
                "id": .string(run.id), "task_id": .string(run.taskID), "project": .string(run.project), "module": .string(run.module),
                "resource_id": opt(run.resourceID, JSONValue.string), "attempt": .int(run.attempt), "status": .string(run.status.rawValue),
                "trigger": .string(run.trigger.rawValue), "performed_by": opt(run.performedBy, JSONValue.string),
                "slot": opt(run.slot) { .int($0.microseconds) }, "scheduled_at": .int(run.scheduledAt.microseconds),
                "updated_at": .int(run.updatedAt.microseconds), "priority": .int(run.priority),
                "finished_at": opt(run.finishedAt) { .int($0.microseconds) }, "result": opt(run.result) { .string($0.jsonText) },
                "queue": .string(run.queue),
            ])
        })
        try await connection.execute(Hot.InsertRuns.self, """
            INSERT INTO runs (id, task_id, project, module, resource_id, attempt, status, trigger, performed_by,
                slot, scheduled_at, updated_at, priority, finished_at, result, queue)
            SELECT id, task_id, project, module, resource_id, attempt, status, trigger, performed_by,
                slot, scheduled_at, updated_at, priority, finished_at, result, queue
            FROM jsonb_to_recordset(\(rows.jsonText)::jsonb) AS r(id text, task_id text, project text, module text,
                resource_id text, attempt bigint, status text, trigger text, performed_by text, slot bigint,
                scheduled_at bigint, updated_at bigint, priority bigint, finished_at bigint, result text, queue text)
            ON CONFLICT DO NOTHING
            """, logger: logger)
    }

    public func record(_ batch: RecordBatch, node: String, now: Timestamp) async throws -> RecordSummary {
        let summary = try await transaction { connection in
            // Before any write to the runs (progress included): see `lockTasks(ofRuns:)`.
            try await self.lockTasks(ofRuns: batch.outcomes.map(\.runID), connection)
            if !batch.logs.isEmpty {
                let logs = JSONValue.array(batch.logs.map { entry in
                    .object([
                        "run_id": .string(entry.runID), "idx": .int(entry.idx), "level": .string(entry.level.rawValue),
                        "msg": .string(entry.message), "progress_percent": entry.progressPercent.map(JSONValue.double) ?? .null,
                        "timestamp": .int(entry.timestamp.microseconds),
                    ])
                })
                try await connection.execute(Hot.InsertLogs.self, """
                    INSERT INTO run_logs (run_id, idx, level, msg, progress_percent, timestamp)
                    SELECT l.run_id, l.idx, l.level, l.msg, l.progress_percent, l.timestamp
                    FROM jsonb_to_recordset(\(logs.jsonText)::jsonb) AS l(run_id text, idx bigint, level text, msg text,
                        progress_percent double precision, timestamp bigint)
                    WHERE EXISTS (SELECT 1 FROM runs WHERE runs.id = l.run_id AND status = 'active' AND runs.node = \(node))
                    ON CONFLICT DO NOTHING
                    """, logger: self.logger)
            }
            if !batch.progress.isEmpty {
                let progress = JSONValue.array(batch.progress.map { runID, progress in
                    .object([
                        "id": .string(runID), "percent": progress.percent.map(JSONValue.double) ?? .null,
                        "message": progress.message.map(JSONValue.string) ?? .null,
                    ])
                })
                try await connection.execute(Hot.Progress.self, """
                    UPDATE runs SET progress_percent = p.percent, progress_message = p.message, updated_at = \(now.microseconds)
                    FROM jsonb_to_recordset(\(progress.jsonText)::jsonb) AS p(id text, percent double precision, message text)
                    WHERE runs.id = p.id AND runs.id = ANY(\(batch.progress.map(\.key))) AND runs.status = 'active' AND runs.node = \(node)
                    """, logger: self.logger)
            }
            return try await self.end(batch.outcomes, heldBy: node, now: now, connection)
        }
        return summary
    }

    /// Locks the tasks of the runs `runIDs`, in id order, for a transaction that is about to
    /// end those runs: called before it writes any of them.
    ///
    /// The end needs its tasks locked: a claim deciding to hold a run of one of them (`overlap:
    /// queue`, `run_all` catch-ups) holds its task until it commits, so the end's release of
    /// held runs, a later statement with a new snapshot, sees that held run instead of leaving
    /// it held for ever. Taken
    /// first, because a claim holds its tasks and then waits for runs (`overlap: replace`
    /// asks the task's active runs to stop): an end that had written its runs before waiting
    /// for their tasks closed a cycle, and the server failed one side after its deadlock
    /// timeout (`SharedStoreTests.endAndReplacingClaim`).
    func lockTasks(ofRuns runIDs: [String], _ connection: PostgresConnection) async throws {
        guard !runIDs.isEmpty else { return }
        try await connection.execute(Hot.LockTasks.self, """
            SELECT 1 FROM tasks WHERE id IN (SELECT task_id FROM runs WHERE id = ANY(\(runIDs))) ORDER BY id FOR NO KEY UPDATE
            """, logger: logger)
    }

    /// Ends active runs (fenced by `node`, nil for the rescuer) and applies retry policy, in
    /// a fixed number of statements however many runs end: the cost of a group commit is
    /// its round trips, not its rows. The caller has locked the runs' tasks (`lockTasks(ofRuns:)`).
    func end(_ outcomes: [RunOutcome], heldBy node: String?, now: Timestamp, _ connection: PostgresConnection) async throws -> RecordSummary {
        let resolved = try ResolvedOutcomes(outcomes)
        let handedBack = resolved.handedBack
        let endings = resolved.endings.map { e -> JSONValue in
            .object([
                "id": .string(e.runID), "status": .string(e.status.rawValue), "at": .int(e.at.microseconds),
                "result": e.result.map { .string($0.jsonText) } ?? .null,
                "error_code": e.error.map { .string($0.code) } ?? .null, "error_message": e.error.map { .string($0.message) } ?? .null,
            ])
        }
        var summary = RecordSummary()
        var wake = false
        if !handedBack.isEmpty {
            let count = try await connection.execute("""
                UPDATE runs SET status = 'scheduled', started_at = NULL, node = NULL, lease_expires_at = NULL, updated_at = \(now.microseconds)
                WHERE id = ANY(\(handedBack)) AND status = 'active' AND (\(node)::text IS NULL OR node = \(node))
                RETURNING 1
                """, logger: logger)
            summary.ended += count
            wake = wake || count > 0
        }
        if !endings.isEmpty {
            // Rows no longer ours (rescued, or another node's) are fenced off by the WHERE;
            // `id = ANY(…)` reaches them by key (a hash join over every active run otherwise).
            let ended = try await connection.rows(Hot.EndRuns.self, """
                UPDATE runs SET status = o.status, finished_at = o.at,
                    canceled_at = CASE WHEN o.status = 'canceled' THEN o.at END, updated_at = \(now.microseconds),
                    result = o.result, error_code = o.error_code, error_message = o.error_message, lease_expires_at = NULL
                FROM jsonb_to_recordset(\(JSONValue.array(endings).jsonText)::jsonb)
                    AS o(id text, status text, at bigint, result text, error_code text, error_message text)
                WHERE runs.id = o.id AND runs.id = ANY(\(resolved.endings.map(\.runID))) AND runs.status = 'active'
                    AND (\(node)::text IS NULL OR runs.node = \(node))
                RETURNING runs.id, runs.task_id, runs.project, runs.status
                """, logger: logger).map { row in
                    EndedRun(
                        id: try row[0].decode(String.self), taskID: try row[1].decode(String.self), project: try row[2].decode(String.self),
                        status: RunStatus(rawValue: try row[3].decode(String.self)) ?? .failed)
                }
            summary.ended += ended.count
            if try await emitRunEnds(ended.map(\.ref), errors: resolved.errors, now: now, connection) > 0 { wake = true }
            let taskIDs = Array(Set(ended.map(\.taskID))).sorted()
            // Runs held behind these (`overlap: queue`, `run_all` catch-ups) may start now
            // (their tasks are locked: `lockTasks(ofRuns:)`).
            if !taskIDs.isEmpty,
               try await connection.execute(
                Hot.ReleaseHeld.self, "UPDATE runs SET held = false WHERE held AND task_id = ANY(\(taskIDs)) RETURNING 1", logger: logger) > 0 {
                wake = true
            }
            let retries = try await retryRuns(after: ended.filter { $0.status == .failed }.map(\.id), now: now, connection)
            if !retries.isEmpty {
                try await insert(Array(retries.values), connection)
                try await carryEvents(retries.mapValues(\.id), connection)
                // A retried failure is not its task's last run (`PostgresRecords.lastRunSQL`).
                try await connection.execute("UPDATE runs SET retried = true WHERE id = ANY(\(Array(retries.keys)))", logger: logger)
                summary.retriesScheduled += retries.count
                wake = true
            }
            // Notifications go out for a run's last attempt only (a retried failure is not the end).
            try await enqueueNotifications(ended.filter { retries[$0.id] == nil }.map(\.ref), now: now, connection)
            // Its tasks' rows are not written: their last run is read from their runs
            // (`PostgresRecords.lastRunSQL`).
        }
        if wake { try await notifyDue(connection) }
        return summary
    }

    /// The next attempts after the failed runs `runIDs`, by failed run id, where their tasks'
    /// retry policies allow one.
    private func retryRuns(after runIDs: [String], now: Timestamp, _ connection: PostgresConnection) async throws -> [String: TaskRun] {
        guard !runIDs.isEmpty else { return [:] }
        var retries: [String: TaskRun] = [:]
        for row in try await connection.rows("""
            SELECT r.id, r.task_id, r.project, r.module, r.resource_id, r.attempt, r.performed_by, r.priority, t.retry, r.queue
            FROM runs r JOIN tasks t ON t.id = r.task_id AND t.deleted_at IS NULL WHERE r.id = ANY(\(runIDs))
            """, logger: logger) {
            let runID = try row[0].decode(String.self)
            let failed = TaskRun(
                id: runID, taskID: try row[1].decode(String.self), project: try row[2].decode(String.self), module: try row[3].decode(String.self),
                resourceID: try row[4].decode(String?.self), attempt: try row[5].decode(Int64.self), status: .failed,
                performedBy: try row[6].decode(String?.self), scheduledAt: now, priority: try row[7].decode(Int64.self),
                queue: try row[9].decode(String.self), updatedAt: now)
            let policy = try RetryPolicy.parse(try JSONValue.fromStored(try row[8].decode(String.self)), path: "retry")
            if let retry = policy.retryRun(after: failed, now: now, id: ids.make(at: now), jitterUnit: Double.random(in: 0..<1)) {
                retries[runID] = retry
            }
        }
        return retries
    }

    public func renewLeases(node: String, runIDs: [String], until: Timestamp, expiringBefore: Timestamp?) async throws -> [String] {
        guard !runIDs.isEmpty else { return [] }
        return try await withConnection { connection in
            // The update's CTE runs whether or not it is read; the SELECT sees the rows as they
            // were, which is all a cancel request needs.
            try await connection.rows(Hot.RenewLeases.self, """
                WITH renewed AS (
                    UPDATE runs SET lease_expires_at = \(until.microseconds)
                    WHERE status = 'active' AND node = \(node) AND id = ANY(\(runIDs))
                        AND (\(expiringBefore?.microseconds)::bigint IS NULL OR lease_expires_at < \(expiringBefore?.microseconds)))
                SELECT id FROM runs
                WHERE status = 'active' AND node = \(node) AND id = ANY(\(runIDs)) AND cancel_requested_at IS NOT NULL
                """, logger: self.logger).map { try $0[0].decode(String.self) }
        }
    }

    public func rescueExpired(expiredBefore: Timestamp, exceptNode: String?, now: Timestamp) async throws -> RecordSummary {
        try await transaction { connection in
            // The lapsed runs' tasks are locked before the runs themselves (`lockTasks(ofRuns:)`).
            let lapsed = try await connection.rows("""
                SELECT id FROM runs
                WHERE status = 'active' AND lease_expires_at < \(expiredBefore.microseconds)
                    AND (\(exceptNode)::text IS NULL OR node IS DISTINCT FROM \(exceptNode))
                """, logger: self.logger).map { try $0[0].decode(String.self) }
            guard !lapsed.isEmpty else { return RecordSummary() }
            try await self.lockTasks(ofRuns: lapsed, connection)
            let rows = try await connection.rows("""
                SELECT id, cancel_requested_at IS NOT NULL FROM runs
                WHERE id = ANY(\(lapsed)) AND status = 'active' AND lease_expires_at < \(expiredBefore.microseconds)
                    AND (\(exceptNode)::text IS NULL OR node IS DISTINCT FROM \(exceptNode))
                ORDER BY lease_expires_at
                FOR UPDATE SKIP LOCKED
                """, logger: self.logger)
            let outcomes = try rows.map { row in
                RunOutcome(runID: try row[0].decode(String.self), end: .leaseLapsed(cancelRequested: try row[1].decode(Bool.self)), at: now)
            }
            return try await self.end(outcomes, heldBy: nil, now: now, connection)
        }
    }
}
