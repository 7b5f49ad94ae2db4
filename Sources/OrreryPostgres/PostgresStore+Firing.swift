import Logging
public import OrreryCore
import PostgresNIO

/// Firing on PostgreSQL: a batch of due runs claimed as a set, in a fixed number of
/// statements whatever the batch's size (issue 20). The due runs are locked `FOR UPDATE SKIP
/// LOCKED`, so nodes claiming at once take different runs; their tasks are locked the same
/// way, so overlap and misfire decisions for one task are never made by two nodes at once (a
/// run whose task another node holds this instant is left for the next claim). The
/// `ClaimPlan` and its `ClaimFollowUp` are decided in OrreryCore; this file only spells them.
extension PostgresStore {
    /// Two claims at once during a burst: each claim's statements keep one server backend
    /// busy, so a second one puts the other core to work. The due runs and their tasks are
    /// locked `SKIP LOCKED`, so the claims take different runs, as two nodes' claims do.
    public var concurrentClaims: Int { 2 }

    public func claimDue(limit: Int, now: Timestamp, dueBy: Timestamp, node: String, leaseUntil: Timestamp, limits: ClaimLimits) async throws -> [ClaimedRun] {
        let claim = try await transaction { connection -> (claimed: [ClaimedRun], materialized: Bool) in
            var due = limits.admit(try await connection.rows(Hot.Due.self, Self.dueQuery(limit: limit, now: dueBy, limits: limits), logger: self.logger)
                .map { try Self.dueRun($0, now: now) })
            guard !due.isEmpty else { return ([], false) }
            let taskIDs = Array(Set(due.map(\.taskID))).sorted()
            var tasks: [String: ScheduledTask] = .init(minimumCapacity: taskIDs.count)
            var params: [String: String] = .init(minimumCapacity: taskIDs.count)
            var parser = ClaimTaskParser()
            for row in try await connection.rows(Hot.ClaimTasks.self, """
                SELECT id, project, module, params, resource_id, schedule, enabled, queue, priority, timeout_sec, overlap, misfire,
                    created_at, deleted_at
                FROM tasks WHERE id = ANY(\(taskIDs)) ORDER BY id FOR NO KEY UPDATE SKIP LOCKED
                """, logger: self.logger) {
                // Only what claiming and successors need, each distinct JSON text parsed once.
                let task = ScheduledTask(
                    id: try row[0].decode(String.self), project: try row[1].decode(String.self), name: "",
                    module: try row[2].decode(String.self), resourceID: try row[4].decode(String?.self),
                    schedule: try parser.schedule(try row[5].decode(String.self)), enabled: try row[6].decode(Bool.self),
                    queue: try row[7].decode(String.self), priority: try row[8].decode(Int64.self), timeoutSec: try row[9].decode(Int64?.self),
                    overlap: OverlapPolicy(rawValue: try row[10].decode(String.self)) ?? .skip,
                    misfire: try parser.misfire(try row[11].decode(String.self)),
                    createdAt: Timestamp(microseconds: try row[12].decode(Int64.self)), deletedAt: try PostgresRecords.timestamp(row[13]))
                tasks[task.id] = task
                params[task.id] = try row[3].decode(String.self)
            }
            if tasks.count < taskIDs.count {
                // Held by another node this instant: leave their runs for the next claim.
                let unlocked = taskIDs.filter { tasks[$0] == nil }
                let busyElsewhere = Set(try await connection.rows(
                    "SELECT id FROM tasks WHERE id = ANY(\(unlocked))", logger: self.logger).map { try $0[0].decode(String.self) })
                due.removeAll { busyElsewhere.contains($0.taskID) }
            }
            // Read after the tasks are locked (a new snapshot): a node ending one of their runs
            // has committed its release of held runs by now.
            var busy = Set<String>(), holding = Set<String>()
            for row in try await connection.rows(Hot.BusyTasks.self, """
                SELECT task_id, true, false FROM runs WHERE status = 'active' AND task_id = ANY(\(Array(tasks.keys)))
                UNION ALL
                SELECT task_id, false, true FROM runs WHERE held AND task_id = ANY(\(Array(tasks.keys)))
                """, logger: self.logger) {
                let taskID = try row[0].decode(String.self)
                if try row[1].decode(Bool.self) { busy.insert(taskID) }
                if try row[2].decode(Bool.self) { holding.insert(taskID) }
            }
            let plan = ClaimPlan(due: due, policies: tasks.mapValues(\.claimPolicy), busy: busy, holding: holding, now: now)

            var replaced: [String: [String]] = [:]
            if !plan.replacing.isEmpty {
                var activeByTask: [String: [String]] = [:]
                for row in try await connection.rows("""
                    UPDATE runs SET cancel_requested_at = coalesce(cancel_requested_at, \(now.microseconds)), updated_at = \(now.microseconds)
                    WHERE task_id = ANY(\(plan.replacing.map(\.taskID))) AND status = 'active' RETURNING id, task_id
                    """, logger: self.logger) {
                    activeByTask[try row[1].decode(String.self), default: []].append(try row[0].decode(String.self))
                }
                for run in plan.replacing { replaced[run.id] = activeByTask[run.taskID] ?? [] }
                // The replaced runs may be executing on other nodes: tell them.
                let canceled = activeByTask.values.flatMap { $0 }
                if !canceled.isEmpty {
                    try await connection.execute(
                        "SELECT pg_notify(\(Self.cancelChannel), id) FROM unnest(\(canceled)::text[]) AS id", logger: self.logger)
                }
            }
            try await self.apply(plan, now: now, node: node, leaseUntil: leaseUntil, connection)
            let skipped = plan.skipped.map { RunEndRef($0.run, status: .skipped) }
            try await self.enqueueNotifications(skipped, now: now, connection)
            _ = try await self.emitRunEnds(skipped, errors: [:], now: now, connection)

            let followUp = ClaimFollowUp(plan: plan, tasks: tasks, now: now) { self.ids.make(at: now) }
            try await self.insert(followUp.successors, connection)
            // Slots missed under `misfire: skip` are run ends too: notified and followed like any skip.
            let missed = followUp.successors.filter { $0.status == .skipped }.map { RunEndRef($0, status: .skipped) }
            try await self.enqueueNotifications(missed, now: now, connection)
            _ = try await self.emitRunEnds(missed, errors: [:], now: now, connection)
            let claimed = plan.toRun.compactMap { run -> ClaimedRun? in
                guard let task = tasks[run.taskID] else { return nil }
                return ClaimedRun(
                    run: ClaimPlan.activated(run, node: node, now: now, leaseUntil: leaseUntil),
                    paramsJSON: params[run.taskID] ?? task.params.jsonText, timeoutSec: task.timeoutSec, replaces: replaced[run.id] ?? [])
            }
            return (try await self.withEvents(claimed, connection), followUp.successors.contains { $0.status == .scheduled })
        }
        if claim.materialized { await notifyDueSoon() }
        return claim.claimed
    }

    /// The priority levels present among claimable runs (`levels(p)`), one seek of
    /// `runs_claim` each: per-level queries then reach a level's due entries directly.
    static let priorityLevels = """
        WITH RECURSIVE levels(p) AS (
            SELECT max(priority) FROM runs WHERE status = 'scheduled' AND NOT held
            UNION ALL
            SELECT (SELECT max(priority) FROM runs WHERE status = 'scheduled' AND NOT held AND priority < levels.p)
            FROM levels WHERE levels.p IS NOT NULL)
        """

    /// Locks up to `limit` due runs, highest priority first, then earliest (held runs are not
    /// due), skipping runs another node has locked.
    ///
    /// Walks the priority levels present among scheduled runs (one seek of `runs_claim`
    /// each) and takes each level's due runs by one range scan of the same index: within a
    /// level the due rows come first, so however many runs wait for a later time (a million
    /// idle tasks' next runs), the claim reads the due rows and stops. A single `ORDER BY
    /// priority DESC, scheduled_at` scan instead walks every future row of a level whenever
    /// fewer than `limit` are due.
    static func dueQuery(limit: Int, now: Timestamp, limits: ClaimLimits, explain: Bool = false) -> PostgresQuery {
        """
        \(unescaped: explain ? "EXPLAIN (ANALYZE, BUFFERS)" : "")
        \(unescaped: Self.priorityLevels)
        SELECT d.* FROM levels CROSS JOIN LATERAL (
            SELECT seq, id, task_id, project, module, resource_id, attempt, trigger, performed_by, slot, scheduled_at, priority, queue
            FROM runs
            WHERE status = 'scheduled' AND NOT held AND priority = levels.p AND scheduled_at <= \(now.microseconds)
                AND NOT (queue = ANY(\(limits.fullQueues))) AND NOT (module = ANY(\(limits.fullModules)))
                AND (\(limits.onlyModules == nil) OR module = ANY(\(limits.onlyModules ?? [])))
                AND (\(limits.onlyProject == nil) OR project = \(limits.onlyProject ?? ""))
            ORDER BY scheduled_at LIMIT \(Int64(limit))
            FOR UPDATE SKIP LOCKED) AS d
        ORDER BY d.priority DESC, d.scheduled_at LIMIT \(Int64(limit))
        """
    }

    static func dueRun(_ row: PostgresRandomAccessRow, now: Timestamp) throws -> TaskRun {
        TaskRun(
            id: try row[1].decode(String.self), seq: try row[0].decode(Int64.self), taskID: try row[2].decode(String.self),
            project: try row[3].decode(String.self), module: try row[4].decode(String.self),
            resourceID: try row[5].decode(String?.self), attempt: try row[6].decode(Int64.self), status: .scheduled,
            trigger: RunTrigger(rawValue: try row[7].decode(String.self)) ?? .schedule, performedBy: try row[8].decode(String?.self),
            slot: try PostgresRecords.timestamp(row[9]), scheduledAt: Timestamp(microseconds: try row[10].decode(Int64.self)),
            priority: try row[11].decode(Int64.self), queue: try row[12].decode(String.self), updatedAt: now)
    }

    /// Writes a claim plan's decisions about its runs in one statement: `run` → active under
    /// `node`, `skip` → skipped with its reason, `hold` → held, `spread` → due later.
    func apply(_ plan: ClaimPlan, now: Timestamp, node: String, leaseUntil: Timestamp, _ connection: PostgresConnection) async throws {
        let planned = try plan.runChanges(now: now)
        let changes = planned.map { c -> JSONValue in
            .object([
                "seq": .int(c.seq), "kind": .string(c.change.rawValue), "result": c.result.map { .string($0.jsonText) } ?? .null,
                "at": c.at.map { .int($0.microseconds) } ?? .null,
            ])
        }
        guard !changes.isEmpty else { return }
        // `seq = ANY(…)` beside the join: the rows are reached by their keys, whatever the
        // planner guesses of the JSON's size (a hash join over every scheduled run otherwise).
        // No `status = 'scheduled'` here: the due query locked these rows while scheduled, so
        // nothing has changed them since, and that condition let the planner read every
        // scheduled run through a partial index instead (5 of a claim's 14 ms, 10,000 due).
        try await connection.execute(Hot.ApplyClaim.self, """
            UPDATE runs SET
                status = CASE c.kind WHEN 'run' THEN 'active' WHEN 'skip' THEN 'skipped' ELSE runs.status END,
                started_at = CASE c.kind WHEN 'run' THEN c.at ELSE runs.started_at END,
                node = CASE c.kind WHEN 'run' THEN \(node) ELSE runs.node END,
                lease_expires_at = CASE c.kind WHEN 'run' THEN \(leaseUntil.microseconds) ELSE runs.lease_expires_at END,
                finished_at = CASE c.kind WHEN 'skip' THEN \(now.microseconds) ELSE runs.finished_at END,
                result = CASE c.kind WHEN 'skip' THEN c.result ELSE runs.result END,
                held = CASE c.kind WHEN 'hold' THEN true WHEN 'spread' THEN runs.held ELSE false END,
                scheduled_at = CASE c.kind WHEN 'spread' THEN c.at ELSE runs.scheduled_at END,
                updated_at = \(now.microseconds)
            FROM jsonb_to_recordset(\(JSONValue.array(changes).jsonText)::jsonb) AS c(seq bigint, kind text, result text, at bigint)
            WHERE runs.seq = c.seq AND runs.seq = ANY(\(planned.map(\.seq)))
            """, logger: logger)
    }

    public func nextDueTime(limits: ClaimLimits) async throws -> Timestamp? {
        try await withConnection { connection in
            // The earliest of each priority level's earliest: one index seek per level (a
            // plain min(scheduled_at) reads every scheduled run, future ones included).
            try PostgresRecords.timestamp(try await connection.rows("""
                \(unescaped: Self.priorityLevels)
                SELECT min((SELECT scheduled_at FROM runs
                    WHERE status = 'scheduled' AND NOT held AND priority = levels.p
                        AND NOT (queue = ANY(\(limits.fullQueues))) AND NOT (module = ANY(\(limits.fullModules)))
                        AND (\(limits.onlyModules == nil) OR module = ANY(\(limits.onlyModules ?? [])))
                        AND (\(limits.onlyProject == nil) OR project = \(limits.onlyProject ?? ""))
                    ORDER BY scheduled_at LIMIT 1))
                FROM levels WHERE levels.p IS NOT NULL
                """, logger: self.logger)[0][0])
        }
    }

    public func dueCount(by dueBy: Timestamp) async throws -> Int {
        try await withConnection { connection in
            Int(try await connection.rows("""
                \(unescaped: Self.priorityLevels)
                SELECT coalesce(sum((SELECT count(*) FROM runs
                    WHERE status = 'scheduled' AND NOT held AND priority = levels.p AND scheduled_at <= \(dueBy.microseconds))), 0)::bigint
                FROM levels WHERE levels.p IS NOT NULL
                """, logger: self.logger)[0][0].decode(Int64.self))
        }
    }

    /// The claim's query plan (`EXPLAIN ANALYZE` of the statement that locks due runs), for
    /// the burst benchmark: the claim must reach due rows without walking future ones.
    public func explainClaim(limit: Int, now: Timestamp) async throws -> String {
        try await transaction { connection in
            try await connection.rows(Self.dueQuery(limit: limit, now: now, limits: .none, explain: true), logger: self.logger)
                .map { try $0[0].decode(String.self) }.joined(separator: "\n")
        }
    }
}
