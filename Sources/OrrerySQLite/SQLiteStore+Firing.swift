import GRDB
public import OrreryCore

/// Firing on SQLite: a batch of due runs claimed as a set. The due runs are read by index
/// seeks (`dueRuns`), their tasks in one query, the `ClaimPlan` and its `ClaimFollowUp` are
/// decided in OrreryCore, and the plan is written with one statement each for the runs, the
/// successors and the tasks, whatever the batch's size (issue 20: a top-of-the-hour burst is
/// a claim of ready rows, not a round of per-task statements).
extension SQLiteStore {
    public func claimDue(limit: Int, now: Timestamp, dueBy: Timestamp, node: String, leaseUntil: Timestamp, limits: ClaimLimits) async throws -> [ClaimedRun] {
        try await write { db in
            let due = limits.admit(try Self.dueRuns(limit: limit, now: dueBy, limits: limits, db))
            guard !due.isEmpty else { return [] }
            let distinctTaskIDs = Set(due.map(\.taskID))
            var tasks: [String: ScheduledTask] = .init(minimumCapacity: distinctTaskIDs.count)
            var params: [String: String] = .init(minimumCapacity: distinctTaskIDs.count)
            var busy = Set<String>(), holding = Set<String>(), openSeq: [String: Int64] = [:]
            let taskIDs = JSONValue.array(distinctTaskIDs.map(JSONValue.string)).jsonText
            var parser = ClaimTaskParser()
            try Records.forEachRow(db.cachedStatement(sql: Self.claimTasksSQL), arguments: [taskIDs]) { row in
                // Only what claiming and successors need, each distinct JSON text parsed once;
                // by position (`claimTasksSQL`'s order): a lookup by name lowercases every name.
                let task = ScheduledTask(
                    id: row[0], project: row[1], name: "", module: row[2], resourceID: row[4],
                    schedule: try parser.schedule(row[5]), enabled: row[6], queue: row[7],
                    priority: row[8], timeoutSec: row[9], overlap: OverlapPolicy(rawValue: row[10]) ?? .skip,
                    misfire: try parser.misfire(row[11]), createdAt: row[12], deletedAt: row[13])
                tasks[task.id] = task
                params[task.id] = row[3]
                if row[14] as Bool { busy.insert(task.id) }
                if row[15] as Bool { holding.insert(task.id) }
                openSeq[task.id] = row[16]
            }
            let plan = ClaimPlan(due: due, policies: tasks.mapValues(\.claimPolicy), busy: busy, holding: holding, now: now)

            var replaced: [String: [String]] = [:]
            if !plan.replacing.isEmpty {
                var activeByTask: [String: [String]] = [:]
                for row in try Row.fetchAll(
                    db.cachedStatement(sql: """
                        UPDATE OR FAIL runs INDEXED BY runs_task_active SET cancel_requested_at = coalesce(cancel_requested_at, ?1), updated_at = ?1
                        WHERE status = 'active' AND task_id IN (SELECT value FROM json_each(?2)) RETURNING id, task_id
                        """),
                    arguments: [now, JSONValue.array(plan.replacing.map { .string($0.taskID) }).jsonText]) {
                    activeByTask[row[1], default: []].append(row[0])
                }
                for run in plan.replacing { replaced[run.id] = activeByTask[run.taskID] ?? [] }
            }
            try Self.apply(plan, now: now, node: node, leaseUntil: leaseUntil, db)
            let crowded = Set(due.filter { run in openSeq[run.taskID].map { $0 < run.seq } ?? false }.map(\.taskID))
            if !crowded.isEmpty {
                try db.cachedStatement(sql: Self.advanceCrowdedOpenSeq).execute(arguments: [JSONValue.array(crowded.map(JSONValue.string)).jsonText])
            }
            let skipped = plan.skipped.map { RunEndRef($0.run, status: .skipped) }
            try self.enqueueNotifications(skipped, now: now, db)
            try self.emitRunEnds(skipped, errors: [:], now: now, db)

            let followUp = ClaimFollowUp(plan: plan, tasks: tasks, now: now) { self.ids.make(at: now) }
            try Records.insert(followUp.successors, db)
            // Slots missed under `misfire: skip` are run ends too: notified and followed like any skip.
            let missed = followUp.successors.filter { $0.status == .skipped }.map { RunEndRef($0, status: .skipped) }
            try self.enqueueNotifications(missed, now: now, db)
            try self.emitRunEnds(missed, errors: [:], now: now, db)
            let claimed = plan.toRun.compactMap { run -> ClaimedRun? in
                guard let task = tasks[run.taskID] else { return nil }
                return ClaimedRun(
                    run: ClaimPlan.activated(run, node: node, now: now, leaseUntil: leaseUntil),
                    paramsJSON: params[run.taskID] ?? task.params.jsonText, timeoutSec: task.timeoutSec, replaces: replaced[run.id] ?? [])
            }
            return try Self.withEvents(claimed, db)
        }
    }

    /// Up to `limit` due runs, highest priority first, then earliest (held runs are not due).
    ///
    /// Walks the priority levels present among scheduled runs from the top (one index seek
    /// each) and takes each level's due runs in time order, so the cost is the number of
    /// levels plus `limit` — never the size of the backlog, of the history, or of the runs
    /// waiting for a later time (within a level, `runs_claim` holds the due rows first).
    static func dueRuns(limit: Int, now: Timestamp, limits: ClaimLimits, _ db: Database) throws -> [TaskRun] {
        let topLevel = try db.cachedStatement(sql: topLevelSQL)
        let nextLevel = try db.cachedStatement(sql: """
            SELECT priority FROM runs INDEXED BY runs_claim WHERE status = 'scheduled' AND held = 0 AND priority < ?
            ORDER BY priority DESC LIMIT 1
            """)
        let dueAtLevel = try db.cachedStatement(sql: dueAtLevelSQL)
        let fullQueues = JSONValue.array(limits.fullQueues.map(JSONValue.string)).jsonText
        let fullModules = JSONValue.array(limits.fullModules.map(JSONValue.string)).jsonText
        let onlyModules = limits.onlyModules.map { JSONValue.array($0.map(JSONValue.string)).jsonText }
        var runs: [TaskRun] = []
        runs.reserveCapacity(limit)
        var level = try Int64.fetchOne(topLevel)
        while let priority = level, runs.count < limit {
            try Records.forEachRow(dueAtLevel, arguments: [priority, now, fullQueues, fullModules, onlyModules, onlyModules, limits.onlyProject, limits.onlyProject, limit - runs.count]) { row in
                runs.append(TaskRun(
                    id: row[1], seq: row[0], taskID: row[2], project: row[3], module: row[4], resourceID: row[5],
                    attempt: row[6], status: .scheduled, trigger: RunTrigger(rawValue: row[7]) ?? .schedule,
                    performedBy: row[8], slot: row[9], scheduledAt: row[10], priority: row[11], queue: row[12], updatedAt: now))
            }
            level = try Int64.fetchOne(nextLevel, arguments: [priority])
        }
        return runs
    }

    // `INDEXED BY`: left to itself the planner picks runs_status and scans every scheduled run.
    static let topLevelSQL = """
        SELECT priority FROM runs INDEXED BY runs_claim WHERE status = 'scheduled' AND held = 0
        ORDER BY priority DESC LIMIT 1
        """
    static let dueAtLevelSQL = """
        SELECT seq, id, task_id, project, module, resource_id, attempt, trigger, performed_by, slot, scheduled_at, priority, queue
        FROM runs INDEXED BY runs_claim
        WHERE status = 'scheduled' AND held = 0 AND priority = ? AND scheduled_at <= ?
            AND queue NOT IN (SELECT value FROM json_each(?)) AND module NOT IN (SELECT value FROM json_each(?))
            AND (? IS NULL OR module IN (SELECT value FROM json_each(?))) AND (? IS NULL OR project = ?)
        ORDER BY scheduled_at LIMIT ?
        """

    /// What claiming needs of the due runs' tasks, each with whether it has an
    /// active run and a held run: what `ClaimPlan` decides on, in one query.
    static let claimTasksSQL = """
        SELECT id, project, module, params, resource_id, schedule, enabled, queue, priority, timeout_sec, overlap, misfire,
            created_at, deleted_at,
            EXISTS (SELECT 1 FROM runs r INDEXED BY runs_task_active WHERE r.status = 'active' AND r.task_id = tasks.id) AS busy,
            EXISTS (SELECT 1 FROM runs r INDEXED BY runs_held WHERE r.held = 1 AND r.task_id = tasks.id) AS holding,
            open_seq
        FROM tasks WHERE id IN (SELECT value FROM json_each(?))
        """

    /// Moves up the `open_seq` of those of `taskIDs` with at least 4 runs at or above it. No
    /// run's end moves it (that wrote the task row, issue 16), so the runs of a recurring task
    /// pile up above it, and `next_run_at` and `Records.lastRunSQL` read them all; a claim of
    /// the task keeps them few. Asked only for a task with runs below the one claimed: a
    /// task's first run, the common case, costs no look-up.
    static let advanceCrowdedOpenSeq = """
        UPDATE OR FAIL tasks SET \(advanceOpenSeq)
        WHERE id IN (SELECT value FROM json_each(?)) AND (SELECT r.seq FROM runs r INDEXED BY runs_task
            WHERE r.task_id = tasks.id AND r.seq >= tasks.open_seq ORDER BY r.seq LIMIT 1 OFFSET 3) IS NOT NULL
        """

    /// Writes a claim plan's decisions about its runs in one statement: `run` → active under
    /// `node`, `skip` → skipped with its reason, `hold` → held, `spread` → due later.
    ///
    /// Statements that write many rows inside a transaction say `UPDATE OR FAIL`. With the
    /// default (`ABORT`) SQLite keeps a statement journal to undo a failed statement alone: a
    /// copy of every page the statement changes, spilled to a temporary file past 64 KiB. A
    /// claim of 100 runs and its end each created, wrote and deleted such a file; without
    /// them the store verbs ran 15–20% faster (issue 16, `Benchmarks/sqlite.md`). A failure
    /// rolls the whole transaction back here anyway.
    static func apply(_ plan: ClaimPlan, now: Timestamp, node: String, leaseUntil: Timestamp, _ db: Database) throws {
        let changes = try plan.runChanges(now: now)
        // Runs that start, the common case, by a statement that sets only what starting
        // changes: SQLite rewrites every index over a column named in SET (or in an index's
        // WHERE), changed or not, and the general statement names nine of them. Rows are
        // bound as they are (a JSON parameter cost four json_extract parses per run).
        try Records.forEachChunk(of: changes.filter { $0.change == .run }, columns: 2, constants: 3) { placeholders, chunk in
            // `+runs.status`: the planner must reach each run by its seq, never by walking the
            // status index's scheduled rows.
            var bindings = Bindings(try db.cachedStatement(sql: """
                WITH c(seq, at) AS (VALUES \(placeholders))
                UPDATE OR FAIL runs SET status = 'active', started_at = c.at, node = ?2, lease_expires_at = ?3, updated_at = ?1
                FROM c WHERE runs.seq = c.seq AND +runs.status = 'scheduled'
                """))
            bindings.add(now, node, leaseUntil)
            for c in chunk { bindings.add(c.seq, c.at) }
            try bindings.execute()
        }
        // Skips, holds and spreads.
        try Records.forEachChunk(of: changes.filter { $0.change != .run }, columns: 4, constants: 1) { placeholders, chunk in
            var bindings = Bindings(try db.cachedStatement(sql: """
                WITH c(seq, kind, result, at) AS (VALUES \(placeholders))
                UPDATE OR FAIL runs SET
                    status = CASE c.kind WHEN 'skip' THEN 'skipped' ELSE runs.status END,
                    finished_at = CASE c.kind WHEN 'skip' THEN ?1 ELSE runs.finished_at END,
                    result = CASE c.kind WHEN 'skip' THEN c.result ELSE runs.result END,
                    held = CASE c.kind WHEN 'hold' THEN 1 WHEN 'spread' THEN runs.held ELSE 0 END,
                    scheduled_at = CASE c.kind WHEN 'spread' THEN c.at ELSE runs.scheduled_at END,
                    updated_at = ?1
                FROM c WHERE runs.seq = c.seq AND +runs.status = 'scheduled'
                """))
            bindings.add(now)
            for c in chunk { bindings.add(c.seq, c.change.rawValue, c.result?.jsonText, c.at) }
            try bindings.execute()
        }
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
        if let next { try Records.insert(next, db) }
    }

    /// The claim's query plan (`EXPLAIN QUERY PLAN` of the statements `claimDue` runs), for
    /// the burst benchmark: the claim must reach due rows without walking future ones.
    public func explainClaim(limit: Int, now: Timestamp) async throws -> String {
        try await read { db in
            var lines: [String] = []
            func explain(_ label: String, _ sql: String, _ arguments: StatementArguments = []) throws {
                for row in try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: arguments) {
                    lines.append(label + ": " + (row["detail"] as String))
                }
            }
            try explain("top level", Self.topLevelSQL)
            try explain("due at a level", Self.dueAtLevelSQL, [0, now, "[]", "[]", nil, nil, nil, nil, limit])
            try explain("tasks", Self.claimTasksSQL, ["[]"])
            return lines.joined(separator: "\n")
        }
    }
}
