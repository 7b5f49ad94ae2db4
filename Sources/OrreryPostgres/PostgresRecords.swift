import OrreryCore
import PostgresNIO

/// Row ↔ model mapping for tasks, runs, log entries and tokens.
enum PostgresRecords {
    /// Selected by position (see `task(_:)`); `next_run_at` is derived.
    static let taskColumns = storedTaskColumns + """
        ,
        (SELECT min(r.scheduled_at) FROM runs r WHERE r.task_id = tasks.id AND r.status = 'scheduled') AS next_run_at
        """

    /// The task columns without the derived `next_run_at` (claiming does not need it).
    static let storedTaskColumns = """
        seq, id, project, name, description, module, params, resource_id, labels, schedule, enabled, queue,
        priority, timeout_sec, retry, overlap, misfire, notify, owner, created_at, updated_at, version,
        \(lastRunSQL) AS last_run, deleted_at
        """

    /// A task's last run, as `'<start> <status>'` (NULL when it has none): read from its runs,
    /// so that no run's end writes its task row (migration v12). The newest-started ended run,
    /// ties to the later end, then to the later run (`runs_task_last` holds them in that
    /// order); a failure that was retried leaves it to its next attempt. Runs that pruning
    /// deleted left their task's last run in `tasks.last_run_at` and `last_status`
    /// (`keepLastRuns`): the newer of the two is the last run, the runs' on a tie. The same
    /// choice as SQLite's `Records.lastRunSQL`.
    static let lastRunSQL = """
        (SELECT l.at || ' ' || l.status FROM (
            (SELECT coalesce(r.started_at, r.finished_at) AS at, r.finished_at AS fin, r.seq, r.status FROM runs r
             WHERE r.task_id = tasks.id AND r.finished_at IS NOT NULL AND NOT r.retried
             ORDER BY coalesce(r.started_at, r.finished_at) DESC, r.finished_at DESC, r.seq DESC LIMIT 1)
            UNION ALL
            SELECT tasks.last_run_at, -1, -1, tasks.last_status WHERE tasks.last_status IS NOT NULL) AS l
         ORDER BY l.at DESC, l.fin DESC, l.seq DESC LIMIT 1)
        """

    /// A task's last status (`lastRunSQL`), for a filter.
    static let lastStatusSQL = "split_part(\(lastRunSQL), ' ', 2)"

    /// The start and status of a `lastRunSQL` text.
    static func lastRun(_ text: String?) -> (at: Timestamp, status: RunStatus)? {
        guard let text, let space = text.firstIndex(of: " "), let at = Int64(text[..<space]),
              let status = RunStatus(rawValue: String(text[text.index(after: space)...]))
        else { return nil }
        return (Timestamp(microseconds: at), status)
    }

    /// Decodes a row selected with `taskColumns` (`derived`) or `storedTaskColumns`.
    static func task(_ row: PostgresRandomAccessRow, derived: Bool = true) throws -> ScheduledTask {
        let labelsJSON = try JSONValue.fromStored(try row[8].decode(String.self))
        var labels: [String: String] = [:]
        for (k, v) in labelsJSON.objectValue ?? [:] { labels[k] = v.stringValue }
        let last = lastRun(try row[22].decode(String?.self))
        return ScheduledTask(
            id: try row[1].decode(String.self), seq: try row[0].decode(Int64.self), project: try row[2].decode(String.self),
            name: try row[3].decode(String.self), description: try row[4].decode(String?.self), module: try row[5].decode(String.self),
            params: try JSONValue.fromStored(try row[6].decode(String.self)), resourceID: try row[7].decode(String?.self),
            labels: labels,
            schedule: try Schedule.parse(try JSONValue.fromStored(try row[9].decode(String.self)), now: .epoch),
            enabled: try row[10].decode(Bool.self), queue: try row[11].decode(String.self), priority: try row[12].decode(Int64.self),
            timeoutSec: try row[13].decode(Int64?.self),
            retry: try RetryPolicy.parse(try JSONValue.fromStored(try row[14].decode(String.self)), path: "retry"),
            overlap: OverlapPolicy(rawValue: try row[15].decode(String.self)) ?? .skip,
            misfire: try MisfirePolicy.parse(try JSONValue.fromStored(try row[16].decode(String.self)), path: "misfire"),
            notify: try row[17].decode(String?.self).map(JSONValue.fromStored), owner: try row[18].decode(String?.self),
            createdAt: Timestamp(microseconds: try row[19].decode(Int64.self)),
            updatedAt: Timestamp(microseconds: try row[20].decode(Int64.self)), version: try row[21].decode(Int64.self),
            nextRunAt: derived ? try timestamp(row[24]) : nil, lastRunAt: last?.at,
            lastStatus: last?.status, deletedAt: try timestamp(row[23]))
    }

    static let runColumns = """
        seq, id, task_id, project, module, resource_id, attempt, status, trigger, performed_by, slot, scheduled_at,
        started_at, finished_at, canceled_at, updated_at, priority, progress_percent, progress_message, result,
        error_code, error_message, node, lease_expires_at, dismissed_by, dismissed_at, queue, event_id
        """

    /// Decodes a row selected with `runColumns`, by position.
    static func run(_ row: PostgresRandomAccessRow) throws -> TaskRun {
        var run = try positionalRun(row)
        run.eventID = try row["event_id"].decode(String?.self)
        return run
    }

    private static func positionalRun(_ row: PostgresRandomAccessRow) throws -> TaskRun {
        let percent = try row[17].decode(Double?.self)
        let message = try row[18].decode(String?.self)
        let errorCode = try row[20].decode(String?.self)
        return TaskRun(
            id: try row[1].decode(String.self), seq: try row[0].decode(Int64.self), taskID: try row[2].decode(String.self),
            project: try row[3].decode(String.self), module: try row[4].decode(String.self),
            resourceID: try row[5].decode(String?.self), attempt: try row[6].decode(Int64.self),
            status: RunStatus(rawValue: try row[7].decode(String.self)) ?? .failed,
            trigger: RunTrigger(rawValue: try row[8].decode(String.self)) ?? .schedule, performedBy: try row[9].decode(String?.self),
            slot: try timestamp(row[10]), scheduledAt: Timestamp(microseconds: try row[11].decode(Int64.self)),
            startedAt: try timestamp(row[12]), finishedAt: try timestamp(row[13]), canceledAt: try timestamp(row[14]),
            priority: try row[16].decode(Int64.self), queue: try row[26].decode(String.self),
            updatedAt: Timestamp(microseconds: try row[15].decode(Int64.self)),
            progress: (percent == nil && message == nil) ? nil : RunProgress(percent: percent, message: message),
            result: try row[19].decode(String?.self).map(JSONValue.fromStored),
            error: try errorCode.map { RunError(code: $0, message: try row[21].decode(String?.self) ?? "") },
            node: try row[22].decode(String?.self), leaseExpiresAt: try timestamp(row[23]),
            dismissedBy: try row[24].decode(String?.self), dismissedAt: try timestamp(row[25]))
    }

    static func timestamp(_ cell: PostgresCell) throws -> Timestamp? {
        try cell.decode(Int64?.self).map(Timestamp.init(microseconds:))
    }

    static func updateTask(_ t: ScheduledTask) -> PostgresQuery {
        """
        UPDATE tasks SET project = \(t.project), name = \(t.name), description = \(t.description), module = \(t.module),
            params = \(t.params.jsonText), resource_id = \(t.resourceID), labels = \(labelsText(t)),
            schedule = \(t.schedule.json.jsonText), schedule_type = \(t.schedule.typeName), enabled = \(t.enabled),
            queue = \(t.queue), priority = \(t.priority), timeout_sec = \(t.timeoutSec), retry = \(t.retry.json.jsonText),
            overlap = \(t.overlap.rawValue), misfire = \(t.misfire.json.jsonText), notify = \(t.notify?.jsonText),
            owner = \(t.owner), created_at = \(t.createdAt.microseconds), updated_at = \(t.updatedAt.microseconds),
            version = \(t.version)
        WHERE id = \(t.id)
        """
    }

    static func labelsText(_ t: ScheduledTask) -> String {
        JSONValue.object(t.labels.mapValues { .string($0) }).jsonText
    }

    /// Inserts a run unless its slot already has one (a slot never fires twice); returns
    /// whether it was inserted.
    @discardableResult
    static func insert(_ run: TaskRun, _ connection: PostgresConnection, logger: Logger) async throws -> Bool {
        try await connection.execute("""
            INSERT INTO runs (id, task_id, project, module, resource_id, attempt, status, trigger, performed_by,
                slot, scheduled_at, updated_at, priority, finished_at, result, queue)
            VALUES (\(run.id), \(run.taskID), \(run.project), \(run.module), \(run.resourceID), \(run.attempt),
                \(run.status.rawValue), \(run.trigger.rawValue), \(run.performedBy), \(run.slot?.microseconds),
                \(run.scheduledAt.microseconds), \(run.updatedAt.microseconds), \(run.priority), \(run.finishedAt?.microseconds),
                \(run.result?.jsonText), \(run.queue))
            ON CONFLICT DO NOTHING
            RETURNING 1
            """, logger: logger) > 0
    }

    static func logEntry(_ row: PostgresRandomAccessRow) throws -> LogEntry {
        LogEntry(
            runID: try row[0].decode(String.self), idx: try row[1].decode(Int64.self),
            level: LogEntry.Level(rawValue: try row[2].decode(String.self)) ?? .info,
            message: try row[3].decode(String.self), progressPercent: try row[4].decode(Double?.self),
            timestamp: Timestamp(microseconds: try row[5].decode(Int64.self)))
    }
}
