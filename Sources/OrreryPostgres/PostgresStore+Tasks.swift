import Logging
public import OrreryCore
import PostgresNIO

extension PostgresStore: TaskStore {
    public func createTasks(_ tasks: [(task: ScheduledTask, firstRun: TaskRun?)]) async throws -> [ScheduledTask] {
        try await transaction { connection in try await self.insertTasks(tasks, connection) }
    }

    /// Inserts tasks and their first runs in two statements however many there are (the
    /// rows travel as bound JSON parameters); returns them with their `seq`, in order.
    func insertTasks(_ tasks: [(task: ScheduledTask, firstRun: TaskRun?)], _ connection: PostgresConnection) async throws -> [ScheduledTask] {
        guard !tasks.isEmpty else { return [] }
        func opt<T>(_ value: T?, _ wrap: (T) -> JSONValue) -> JSONValue { value.map(wrap) ?? .null }
        let rows = JSONValue.array(tasks.map { entry in
            let t = entry.task
            return .object([
                "id": .string(t.id), "project": .string(t.project), "name": .string(t.name), "description": opt(t.description, JSONValue.string),
                "module": .string(t.module), "params": .string(t.params.jsonText), "resource_id": opt(t.resourceID, JSONValue.string),
                "labels": .string(PostgresRecords.labelsText(t)), "schedule": .string(t.schedule.json.jsonText),
                "schedule_type": .string(t.schedule.typeName), "enabled": .bool(t.enabled), "queue": .string(t.queue),
                "priority": .int(t.priority), "timeout_sec": opt(t.timeoutSec, JSONValue.int), "retry": .string(t.retry.json.jsonText),
                "overlap": .string(t.overlap.rawValue), "misfire": .string(t.misfire.json.jsonText),
                "notify": opt(t.notify) { .string($0.jsonText) }, "owner": opt(t.owner, JSONValue.string),
                "created_at": .int(t.createdAt.microseconds), "updated_at": .int(t.updatedAt.microseconds), "version": .int(t.version),
            ])
        })
        var seqs: [String: Int64] = [:]
        for row in try await connection.rows("""
            INSERT INTO tasks (id, project, name, description, module, params, resource_id, labels, schedule, schedule_type,
                enabled, queue, priority, timeout_sec, retry, overlap, misfire, notify, owner, created_at, updated_at, version)
            SELECT id, project, name, description, module, params, resource_id, labels, schedule, schedule_type,
                enabled, queue, priority, timeout_sec, retry, overlap, misfire, notify, owner, created_at, updated_at, version
            FROM ROWS FROM (jsonb_to_recordset(\(rows.jsonText)::jsonb) AS (id text, project text, name text, description text,
                module text, params text, resource_id text, labels text, schedule text, schedule_type text, enabled boolean,
                queue text, priority bigint, timeout_sec bigint, retry text, overlap text, misfire text, notify text, owner text,
                created_at bigint, updated_at bigint, version bigint)) WITH ORDINALITY AS t
            ORDER BY t.ordinality
            RETURNING id, seq
            """, logger: logger) {
            seqs[try row[0].decode(String.self)] = try row[1].decode(Int64.self)
        }
        let firstRuns = tasks.compactMap(\.firstRun)
        try await insert(firstRuns, connection)
        if !firstRuns.isEmpty { try await notifyDue(connection) }
        return try tasks.map { task, firstRun in
            guard let seq = seqs[task.id] else { throw OrreryError(.internal, "task \(task.id) was not inserted") }
            var stored = task
            stored.seq = seq
            if let firstRun { stored.nextRunAt = firstRun.scheduledAt }
            return stored
        }
    }

    public func task(id: String, project: String?) async throws -> ScheduledTask {
        try await withConnection { connection in try await self.fetchTask(id: id, project: project, connection) }
    }

    func fetchTask(id: String, project: String?, _ connection: PostgresConnection) async throws -> ScheduledTask {
        let query: PostgresQuery = """
            SELECT \(unescaped: PostgresRecords.taskColumns) FROM tasks
            WHERE id = \(id) AND deleted_at IS NULL AND (\(project)::text IS NULL OR project = \(project))
            """
        guard let row = try await connection.rows(query, logger: logger).first else { throw OrreryError.notFound("task", id) }
        return try PostgresRecords.task(row)
    }

    public func listTasks(_ filter: TaskFilter) async throws -> Page<ScheduledTask> {
        var w = PostgresWhere()
        w.add(filter)
        return try await page(
            table: "tasks", columns: PostgresRecords.taskColumns, filter: w,
            after: try filter.cursor.map { (">", try PageCursor.decode($0)) }, order: "seq", limit: filter.limit,
            offset: filter.offset, count: filter.countTotal, decode: { try PostgresRecords.task($0) }, seq: \.seq)
    }

    public func updateTask(_ task: ScheduledTask, expectedVersion: Int64, reschedule: Reschedule?) async throws -> ScheduledTask {
        try await transaction { connection in
            let current = try await self.fetchTask(id: task.id, project: task.project, connection)
            guard current.version == expectedVersion else {
                throw OrreryError(.versionMismatch, "task \"\(task.id)\" is at version \(current.version), not \(expectedVersion)", field: "If-Match")
            }
            // Only one writer at a time gets past this point with `expectedVersion`.
            let locked = try await connection.execute(
                "SELECT 1 FROM tasks WHERE id = \(task.id) AND version = \(expectedVersion) FOR UPDATE", logger: self.logger)
            guard locked > 0 else {
                throw OrreryError(.versionMismatch, "task \"\(task.id)\" changed meanwhile; it is no longer at version \(expectedVersion)", field: "If-Match")
            }
            try await connection.execute(PostgresRecords.updateTask(task), logger: self.logger)
            if let reschedule {
                try await connection.execute(
                    "DELETE FROM runs WHERE task_id = \(task.id) AND status = 'scheduled' AND trigger = 'schedule'", logger: self.logger)
                if case .replace(let run) = reschedule {
                    try await PostgresRecords.insert(run, connection, logger: self.logger)
                    try await self.notifyDue(connection)
                }
            }
            return try await self.fetchTask(id: task.id, project: task.project, connection)
        }
    }

    public func deleteTask(id: String, project: String?, expectedVersion: Int64?, now: Timestamp) async throws {
        try await transaction { connection in
            _ = try await self.fetchTask(id: id, project: project, connection)
            // The row stays locked to the end: no update can slip between this look and the delete.
            let version = try await connection.rows(
                "SELECT version FROM tasks WHERE id = \(id) FOR UPDATE", logger: self.logger).first?[0].decode(Int64.self)
            if let expectedVersion, let version, version != expectedVersion {
                throw OrreryError(.versionMismatch, "task \"\(id)\" is at version \(version), not \(expectedVersion)", field: "If-Match")
            }
            try await connection.execute(
                "UPDATE tasks SET deleted_at = \(now.microseconds), enabled = false, updated_at = \(now.microseconds) WHERE id = \(id)",
                logger: self.logger)
            try await connection.execute("DELETE FROM runs WHERE task_id = \(id) AND status = 'scheduled'", logger: self.logger)
        }
    }

    public func insertRun(_ run: TaskRun) async throws -> TaskRun {
        try await transaction { connection in
            guard try await PostgresRecords.insert(run, connection, logger: self.logger) else {
                throw OrreryError(.conflict, "a run for this slot already exists")
            }
            if run.status == .scheduled { try await self.notifyDue(connection) }
            return try await self.fetchRun(id: run.id, project: nil, connection)
        }
    }

    public func run(id: String, project: String?) async throws -> TaskRun {
        try await withConnection { connection in try await self.fetchRun(id: id, project: project, connection) }
    }

    func fetchRun(id: String, project: String?, _ connection: PostgresConnection) async throws -> TaskRun {
        let query: PostgresQuery = """
            SELECT \(unescaped: PostgresRecords.runColumns) FROM runs
            WHERE id = \(id) AND (\(project)::text IS NULL OR project = \(project))
            """
        guard let row = try await connection.rows(query, logger: logger).first else { throw OrreryError.notFound("run", id) }
        return try PostgresRecords.run(row)
    }

    public func listRuns(_ filter: RunFilter) async throws -> Page<TaskRun> {
        var w = PostgresWhere()
        w.add(filter)
        return try await page(
            table: "runs", columns: PostgresRecords.runColumns, filter: w,
            after: try filter.cursor.map { ("<", try PageCursor.decode($0)) }, order: "seq DESC", limit: filter.limit,
            offset: filter.offset, count: filter.countTotal, decode: PostgresRecords.run, seq: \.seq)
    }

    /// One page of a keyset-paginated listing (`after` positions it past the cursor's row;
    /// one row more than `limit` is read, to know whether a next page exists) and the exact
    /// count of what the filters match.
    private func page<Item: Sendable>(
        table: String, columns: String, filter: PostgresWhere, after cursor: (comparison: String, seq: Int64)?,
        order: String, limit: Int, offset: Int, count shouldCount: Bool,
        decode: @escaping @Sendable (PostgresRandomAccessRow) throws -> Item, seq: @escaping @Sendable (Item) -> Int64
    ) async throws -> Page<Item> {
        let count = filter.query { conditions, _ in "SELECT count(*) FROM \(table) WHERE \(conditions)" }
        var pageFilter = filter
        if let cursor { pageFilter.add("seq \(cursor.comparison) \(pageFilter.bind(cursor.seq))") }
        let page = pageFilter.query([Int64(limit + 1), Int64(offset)]) { conditions, p in
            "SELECT \(columns) FROM \(table) WHERE \(conditions) ORDER BY \(order) LIMIT \(p[0]) OFFSET \(p[1])"
        }
        // No transaction: under READ COMMITTED each statement sees its own snapshot anyway, and
        // BEGIN/COMMIT would cost a listing two more round trips.
        return try await withConnection { connection in
            let rows = try await connection.rows(page, logger: self.logger).map(decode)
            let total = shouldCount ? Int(try await connection.rows(count, logger: self.logger)[0][0].decode(Int64.self)) : nil
            return Page(overfetched: rows, limit: limit, totalCount: total, seq: seq)
        }
    }

    public func logs(runID: String, offset: Int, limit: Int) async throws -> [LogEntry] {
        try await withConnection { connection in
            try await connection.rows("""
                SELECT run_id, idx, level, msg, progress_percent, timestamp FROM run_logs
                WHERE run_id = \(runID) AND idx >= \(Int64(offset)) ORDER BY idx LIMIT \(Int64(limit))
                """, logger: self.logger).map(PostgresRecords.logEntry)
        }
    }

    public func cancel(runID: String, project: String?, now: Timestamp) async throws -> TaskRun {
        try await transaction { connection in
            let run = try await self.fetchRun(id: runID, project: project, connection)
            _ = try run.status.transition(to: .canceled)
            if run.status == .scheduled {
                try await connection.execute("""
                    UPDATE runs SET status = 'canceled', canceled_at = \(now.microseconds), finished_at = \(now.microseconds),
                        updated_at = \(now.microseconds)
                    WHERE id = \(runID) AND status = 'scheduled'
                    """, logger: self.logger)
                if try await self.emitRunEnds([RunEndRef(run, status: .canceled)], errors: [:], now: now, connection) > 0 { try await self.notifyDue(connection) }
                // Cancelling one slot does not stop the schedule: the next slot takes its place.
                try await self.materializeSuccessors(of: run, now: now, connection)
            } else {
                try await connection.execute("""
                    UPDATE runs SET cancel_requested_at = coalesce(cancel_requested_at, \(now.microseconds)),
                        updated_at = \(now.microseconds)
                    WHERE id = \(runID)
                    """, logger: self.logger)
                // Whichever node executes it hears this when the transaction commits.
                try await self.notifyCancel(runID: runID, connection)
            }
            return try await self.fetchRun(id: runID, project: project, connection)
        }
    }

    public func dismiss(runID: String, project: String?, by: String?, now: Timestamp) async throws -> TaskRun {
        try await transaction { connection in
            let run = try await self.fetchRun(id: runID, project: project, connection)
            guard run.status.isFinished else {
                throw OrreryError(.illegalTransition, "only a finished run can be dismissed; this one is \(run.status.rawValue)", field: "status")
            }
            try await connection.execute("""
                UPDATE runs SET dismissed_by = \(by), dismissed_at = coalesce(dismissed_at, \(now.microseconds)),
                    updated_at = \(now.microseconds)
                WHERE id = \(runID)
                """, logger: self.logger)
            return try await self.fetchRun(id: runID, project: project, connection)
        }
    }

    // MARK: Tokens

    public func tokenRole(hash: String, now: Timestamp) async throws -> TokenGrant? {
        try await withConnection { connection in
            try await connection.rows("""
                SELECT id, name, role, project, rights, expires_at FROM tokens
                WHERE hash = \(hash) AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > \(now.microseconds))
                    AND (user_id IS NULL OR user_id IN (SELECT id FROM users WHERE disabled_at IS NULL))
                """, logger: self.logger).first.map {
                TokenGrant(tokenID: try $0[0].decode(String.self), name: try $0[1].decode(String.self),
                           role: try $0[2].decode(String.self), project: try $0[3].decode(String.self),
                           rights: StoredToken.rights(fromStoredJSON: try $0[4].decode(String.self)),
                           expiresAt: try PostgresRecords.timestamp($0[5]))
            }
        }
    }

    public func insertToken(_ token: StoredToken) async throws {
        try await withConnection { connection in try await self.insertToken(token, connection) }
    }

    func insertToken(_ token: StoredToken, _ connection: PostgresConnection) async throws {
        try await connection.execute("""
            INSERT INTO tokens (id, hash, name, role, project, created_at, expires_at, user_id, rights, prefix)
            VALUES (\(token.id), \(token.hash), \(token.name), \(token.role), \(token.project), \(token.createdAt.microseconds),
                \(token.expiresAt?.microseconds), \(token.userID), \(token.rightsJSON), \(token.prefix))
            """, logger: logger)
    }

    public func listTokens() async throws -> [StoredToken] {
        try await withConnection { connection in
            try await connection.rows(
                "SELECT id, name, role, project, created_at, expires_at, revoked_at, user_id, rights, prefix FROM tokens ORDER BY created_at DESC, id DESC",
                logger: self.logger
            ).map { row in
                var token = StoredToken(
                    id: try row[0].decode(String.self), hash: "", name: try row[1].decode(String.self), role: try row[2].decode(String.self),
                    project: try row[3].decode(String.self), createdAt: Timestamp(microseconds: try row[4].decode(Int64.self)),
                    expiresAt: try PostgresRecords.timestamp(row[5]), userID: try row[7].decode(String?.self),
                    rights: StoredToken.rights(fromStoredJSON: try row[8].decode(String.self)), prefix: try row[9].decode(String?.self))
                token.revokedAt = try PostgresRecords.timestamp(row[6])
                return token
            }
        }
    }

    public func revokeToken(id: String, now: Timestamp) async throws {
        let changed = try await transaction { connection in
            try await self.refuseLosingLastAdmin(tokenID: id, userID: nil, what: "token \"\(id)\"", now: now, connection)
            try await self.notifyTokensChanged(connection)
            return try await connection.execute(
                "UPDATE tokens SET revoked_at = coalesce(revoked_at, \(now.microseconds)) WHERE id = \(id) RETURNING 1", logger: self.logger)
        }
        guard changed > 0 else { throw OrreryError.notFound("token", id) }
    }

    /// Throws `lastAdmin` when the token `tokenID` (or the tokens of user `userID`), about to
    /// stop working, include an active admin token and no other would remain. The table lock
    /// serializes this with other revokes and with `insertFirstAdminToken` on every node.
    func refuseLosingLastAdmin(tokenID: String?, userID: String?, what: String, now: Timestamp, _ connection: PostgresConnection) async throws {
        try await connection.execute("LOCK TABLE tokens IN SHARE ROW EXCLUSIVE MODE", logger: logger)
        let rows = try await connection.rows("""
            SELECT (id = \(tokenID) OR user_id = \(userID)) AS losing FROM tokens
            WHERE role = 'admin' AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > \(now.microseconds))
                AND (user_id IS NULL OR user_id IN (SELECT id FROM users WHERE disabled_at IS NULL))
            """, logger: logger)
        let losing = try rows.map { try $0[0].decode(Bool?.self) ?? false }
        if losing.contains(true) && !losing.contains(false) { throw OrreryError.lastAdmin(what) }
    }

    public func tokenCount() async throws -> Int {
        try await withConnection { connection in
            Int(try await connection.rows("SELECT count(*) FROM tokens WHERE revoked_at IS NULL", logger: self.logger)[0][0].decode(Int64.self))
        }
    }
}
