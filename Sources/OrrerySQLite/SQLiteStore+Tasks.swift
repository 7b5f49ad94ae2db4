import Foundation
import GRDB
public import OrreryCore

extension SQLiteStore: TaskStore {
    public func createTasks(_ tasks: [(task: ScheduledTask, firstRun: TaskRun?)]) async throws -> [ScheduledTask] {
        try await write { db in
            var created: [ScheduledTask] = []
            created.reserveCapacity(tasks.count)
            let insertTask = try db.cachedStatement(sql: Records.insertTaskSQL)
            for (task, firstRun) in tasks {
                try insertTask.execute(arguments: Records.taskArguments(task))
                var stored = task
                stored.seq = db.lastInsertedRowID
                if let firstRun {
                    try Records.insert(firstRun, db)
                    stored.nextRunAt = firstRun.scheduledAt
                }
                created.append(stored)
            }
            return created
        }
    }

    public func task(id: String, project: String?) async throws -> ScheduledTask {
        // Committed data only (a reader of its own): the decoded task may be kept.
        try pointRead { db in try Self.fetchTask(id: id, project: project, db) { [taskCache] in try Records.task($0, cache: taskCache) } }
    }

    /// Made once: interpolated at each read, the text (about 1,500 characters) was built and
    /// then hashed for GRDB's statement cache every time.
    static let taskByIDSQL = "SELECT \(Records.taskColumns) FROM tasks WHERE id = ? AND deleted_at IS NULL AND (? IS NULL OR project = ?)"
    static let runByIDSQL = "SELECT \(Records.runColumns) FROM runs WHERE id = ? AND (? IS NULL OR project = ?)"

    /// `decode`: with the store's cache where the read sees committed data only.
    static func fetchTask(
        id: String, project: String?, _ db: Database, decode: (StatementColumns) throws -> ScheduledTask = Records.task
    ) throws -> ScheduledTask {
        let task = try Records.decodeFirst(db.cachedStatement(sql: taskByIDSQL), arguments: [id, project, project], decode)
        guard let task else { throw OrreryError.notFound("task", id) }
        return task
    }

    public func listTasks(_ filter: TaskFilter) async throws -> Page<ScheduledTask> {
        var w = Where()
        w.add(filter)
        return try await page(
            table: "tasks", columns: Records.taskColumns, filter: w,
            after: try filter.cursor.map { ("seq > ?", try PageCursor.decode($0)) }, order: "seq", limit: filter.limit,
            offset: filter.offset, count: filter.countTotal, decode: { [taskCache] in try Records.task($0, cache: taskCache) }, seq: \.seq)
    }

    public func updateTask(_ task: ScheduledTask, expectedVersion: Int64, reschedule: Reschedule?) async throws -> ScheduledTask {
        let stored = try await write { db in
            let current = try Self.fetchTask(id: task.id, project: task.project, db)
            guard current.version == expectedVersion else {
                throw OrreryError(.versionMismatch, "task \"\(task.id)\" is at version \(current.version), not \(expectedVersion)", field: "If-Match")
            }
            var args = Records.taskArguments(task)
            args += [task.id]
            try db.execute(sql: """
                UPDATE tasks SET id = ?, project = ?, name = ?, description = ?, module = ?, params = ?, resource_id = ?,
                    labels = ?, schedule = ?, schedule_type = ?, enabled = ?, queue = ?, priority = ?, timeout_sec = ?,
                    retry = ?, overlap = ?, misfire = ?, notify = ?, owner = ?, created_at = ?, updated_at = ?, version = ?
                WHERE id = ?
                """, arguments: args)
            if let reschedule {
                try db.execute(
                    sql: "DELETE FROM runs WHERE \(Self.openRunsOfTask) AND status = 'scheduled' AND trigger = 'schedule'",
                    arguments: [task.id])
                if case .replace(let run) = reschedule { try Records.insert(run, db) }
            }
            return try Self.fetchTask(id: task.id, project: task.project, db)
        }
        // After the commit: a read between the write and it would keep the row as it was.
        taskCache.forget(seq: stored.seq)
        return stored
    }

    public func deleteTask(id: String, project: String?, expectedVersion: Int64?, now: Timestamp) async throws {
        let seq = try await write { db in
            let current = try Self.fetchTask(id: id, project: project, db)
            if let expectedVersion, current.version != expectedVersion {
                throw OrreryError(.versionMismatch, "task \"\(id)\" is at version \(current.version), not \(expectedVersion)", field: "If-Match")
            }
            try db.execute(sql: "UPDATE tasks SET deleted_at = ?, enabled = 0, updated_at = ? WHERE id = ?", arguments: [now, now, id])
            try db.execute(sql: "DELETE FROM runs WHERE \(Self.openRunsOfTask) AND status = 'scheduled'", arguments: [id])
            return current.seq
        }
        taskCache.forget(seq: seq)
    }

    public func insertRun(_ run: TaskRun) async throws -> TaskRun {
        try await write { db in
            guard try Records.insert(run, db) else {
                throw OrreryError(.conflict, "a run for this slot already exists")
            }
            return try Self.fetchRun(id: run.id, project: nil, db)
        }
    }

    public func run(id: String, project: String?) async throws -> TaskRun {
        try pointRead { db in try Self.fetchRun(id: id, project: project, db) }
    }

    static func fetchRun(id: String, project: String?, _ db: Database) throws -> TaskRun {
        let run = try Records.decodeFirst(db.cachedStatement(sql: runByIDSQL), arguments: [id, project, project], Records.run)
        guard let run else { throw OrreryError.notFound("run", id) }
        return run
    }

    public func listRuns(_ filter: RunFilter) async throws -> Page<TaskRun> {
        let (w, after) = try Self.runListing(filter)
        return try await page(
            table: "runs", columns: Records.runColumns, filter: w, after: after, order: "seq DESC", limit: filter.limit,
            offset: filter.offset, count: filter.countTotal, decode: Records.run, seq: \.seq)
    }

    /// The plan of a run listing's page query (`EXPLAIN QUERY PLAN`, a line per step), so
    /// tests can check which index a listing walks whatever the store's size.
    package func explainListRuns(_ filter: RunFilter) async throws -> String {
        let (w, after) = try Self.runListing(filter)
        let query = Self.pageQuery(
            table: "runs", columns: Records.runColumns, filter: w, after: after, order: "seq DESC", limit: filter.limit,
            offset: filter.offset)
        return try await read { db in
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + query.sql, arguments: query.arguments)
                .map { $0["detail"] as String }.joined(separator: "\n")
        }
    }

    /// A run listing's filters, and the position its cursor gives (newest first, by seq).
    private static func runListing(_ filter: RunFilter) throws -> (filter: Where, after: (clause: String, seq: Int64)?) {
        var w = Where()
        w.add(filter)
        return (w, try filter.cursor.map { ("seq < ?", try PageCursor.decode($0)) })
    }

    /// A listing's page query: the filters, then past the cursor's row, one more row than
    /// asked (is there a next page?).
    private static func pageQuery(
        table: String, columns: String, filter: Where, after cursor: (clause: String, seq: Int64)?, order: String,
        limit: Int, offset: Int
    ) -> (sql: String, arguments: StatementArguments) {
        var pageFilter = filter
        if let cursor { pageFilter.add(cursor.clause, [cursor.seq.databaseValue]) }
        return ("SELECT \(columns) FROM \(table) WHERE \(pageFilter.sql) ORDER BY \(order) LIMIT ? OFFSET ?",
                StatementArguments(pageFilter.arguments + [(limit + 1).databaseValue, offset.databaseValue]))
    }

    /// One page of a keyset-paginated listing (`after` positions it past the cursor's row)
    /// and, when `count`, the exact count of everything the filters match.
    private func page<Item: Sendable>(
        table: String, columns: String, filter: Where, after cursor: (clause: String, seq: Int64)?,
        order: String, limit: Int, offset: Int, count: Bool, decode: @escaping @Sendable (Row) throws -> Item,
        seq: @escaping @Sendable (Item) -> Int64
    ) async throws -> Page<Item> {
        let countSQL = "SELECT count(*) FROM \(table) WHERE \(filter.sql)"
        let (pageSQL, fetchArgs) = Self.pageQuery(
            table: table, columns: columns, filter: filter, after: cursor, order: order, limit: limit, offset: offset)
        let countArgs = StatementArguments(filter.arguments)
        return try await read { db in
            let rows = try Records.decodeAll(db.makeStatement(sql: pageSQL), arguments: fetchArgs, decode)
            let total = count ? try Int.fetchOne(db, sql: countSQL, arguments: countArgs) ?? 0 : nil
            return Page(overfetched: rows, limit: limit, totalCount: total, seq: seq)
        }
    }

    public func logs(runID: String, offset: Int, limit: Int) async throws -> [LogEntry] {
        try await read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM run_logs WHERE run_id = ? AND idx >= ? ORDER BY idx LIMIT ?",
                arguments: [runID, offset, limit]
            ).map(Records.logEntry)
        }
    }

    public func cancel(runID: String, project: String?, now: Timestamp) async throws -> TaskRun {
        try await write { db in
            let run = try Self.fetchRun(id: runID, project: project, db)
            _ = try run.status.transition(to: .canceled)
            if run.status == .scheduled {
                try db.execute(
                    sql: "UPDATE runs SET status = 'canceled', canceled_at = ?, finished_at = ?, updated_at = ? WHERE id = ? AND status = 'scheduled'",
                    arguments: [now, now, now, runID])
                try self.emitRunEnd(RunEndRef(run, status: .canceled), error: nil, now: now, db)
                // Cancelling one slot does not stop the schedule: the next slot takes its place.
                try self.materializeSuccessors(of: run, now: now, db)
            } else {
                try db.execute(
                    sql: "UPDATE runs SET cancel_requested_at = coalesce(cancel_requested_at, ?), updated_at = ? WHERE id = ?",
                    arguments: [now, now, runID])
            }
            return try Self.fetchRun(id: runID, project: project, db)
        }
    }

    public func dismiss(runID: String, project: String?, by: String?, now: Timestamp) async throws -> TaskRun {
        try await write { db in
            let run = try Self.fetchRun(id: runID, project: project, db)
            guard run.status.isFinished else {
                throw OrreryError(.illegalTransition, "only a finished run can be dismissed; this one is \(run.status.rawValue)", field: "status")
            }
            try db.execute(
                sql: "UPDATE runs SET dismissed_by = ?, dismissed_at = coalesce(dismissed_at, ?), updated_at = ? WHERE id = ?",
                arguments: [by, now, now, runID])
            return try Self.fetchRun(id: runID, project: project, db)
        }
    }

    /// The runs of task `?1` that may be open (`tasks.open_seq`, migration v12), by `runs_task`.
    static let openRunsOfTask = "task_id = ?1 AND seq >= (SELECT open_seq FROM tasks WHERE id = ?1)"


    // MARK: Tokens

    public func tokenRole(hash: String, now: Timestamp) async throws -> TokenGrant? {
        try await read { db in
            try Row.fetchOne(
                db.cachedStatement(sql: """
                    SELECT id, name, role, project, rights, expires_at FROM tokens
                    WHERE hash = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)
                        AND (user_id IS NULL OR user_id IN (SELECT id FROM users WHERE disabled_at IS NULL))
                    """),
                arguments: [hash, now]
            ).map { row in
                TokenGrant(
                    tokenID: row["id"], name: row["name"], role: row["role"], project: row["project"],
                    rights: StoredToken.rights(fromStoredJSON: row["rights"]), expiresAt: row["expires_at"])
            }
        }
    }

    public func insertToken(_ token: StoredToken) async throws {
        try await write { db in
            try db.execute(
                sql: "INSERT INTO tokens (id, hash, name, role, project, created_at, expires_at, user_id, rights, prefix) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                arguments: [
                    token.id, token.hash, token.name, token.role, token.project, token.createdAt, token.expiresAt, token.userID,
                    token.rightsJSON, token.prefix,
                ])
        }
    }

    public func listTokens() async throws -> [StoredToken] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT id, name, role, project, created_at, expires_at, revoked_at, user_id, rights, prefix FROM tokens ORDER BY created_at DESC, id DESC")
                .map { row in
                    var token = StoredToken(
                        id: row[0], hash: "", name: row[1], role: row[2], project: row[3], createdAt: row[4], expiresAt: row[5], userID: row[7],
                        rights: StoredToken.rights(fromStoredJSON: row[8]), prefix: row[9])
                    token.revokedAt = row[6]
                    return token
                }
        }
    }

    public func revokeToken(id: String, now: Timestamp) async throws {
        try await write { db in
            try Self.refuseLosingLastAdmin(losing: "id = ?", id, what: "token \"\(id)\"", now: now, db)
            try db.execute(sql: "UPDATE tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?", arguments: [now, id])
            guard db.changesCount > 0 else { throw OrreryError.notFound("token", id) }
        }
    }

    /// A token anyone can use as admin now: not revoked, not expired, its user (if any) enabled.
    static let activeAdmin = """
        role = 'admin' AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > :now)
        AND (user_id IS NULL OR user_id IN (SELECT id FROM users WHERE disabled_at IS NULL))
        """

    /// Throws `lastAdmin` when the tokens matching `losing` (about to stop working) include
    /// an active admin token and no other active admin token would remain. Inside the write
    /// transaction (SQLite has one writer), so two revokes cannot both pass.
    static func refuseLosingLastAdmin(losing condition: String, _ value: String, what: String, now: Timestamp, _ db: Database) throws {
        let arguments: StatementArguments = ["now": now, "value": value]
        let condition = condition.replacingOccurrences(of: "?", with: ":value")
        let losingAdmin = try Bool.fetchOne(
            db, sql: "SELECT EXISTS (SELECT 1 FROM tokens WHERE \(activeAdmin) AND \(condition))", arguments: arguments) ?? false
        guard losingAdmin else { return }
        let remaining = try Int.fetchOne(
            db, sql: "SELECT count(*) FROM tokens WHERE \(activeAdmin) AND NOT coalesce(\(condition), 0)", arguments: arguments) ?? 0
        if remaining == 0 { throw OrreryError.lastAdmin(what) }
    }

    public func tokenCount() async throws -> Int {
        try await read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM tokens WHERE revoked_at IS NULL") ?? 0 }
    }
}

extension SQLiteStore: TokenBootstrapStore {
    public func reinstateAdminToken(_ token: StoredToken) async throws {
        try await write { db in
            try db.execute(
                sql: """
                    INSERT INTO tokens (id, hash, name, role, project, created_at, prefix) VALUES (?, ?, ?, 'admin', ?, ?, ?)
                    ON CONFLICT (hash) DO UPDATE SET role = 'admin', revoked_at = NULL, expires_at = NULL, user_id = NULL
                    """,
                arguments: [token.id, token.hash, token.name, token.project, token.createdAt, token.prefix])
        }
    }

    public func insertFirstAdminToken(_ token: StoredToken) async throws -> Bool {
        try await write { db in
            guard try Int.fetchOne(db, sql: "SELECT count(*) FROM tokens WHERE role = 'admin' AND revoked_at IS NULL") == 0 else { return false }
            try db.execute(
                sql: "INSERT INTO tokens (id, hash, name, role, project, created_at, expires_at, prefix) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                arguments: [token.id, token.hash, token.name, token.role, token.project, token.createdAt, token.expiresAt, token.prefix])
            return true
        }
    }
}
