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
        try await read { db in try Self.fetchTask(id: id, project: project, db) }
    }

    static func fetchTask(id: String, project: String?, _ db: Database) throws -> ScheduledTask {
        let row = try Row.fetchOne(
            db.cachedStatement(sql: "SELECT \(Records.taskColumns) FROM tasks WHERE id = ? AND deleted_at IS NULL AND (? IS NULL OR project = ?)"),
            arguments: [id, project, project])
        guard let row else { throw OrreryError.notFound("task", id) }
        return try Records.task(row)
    }

    public func listTasks(_ filter: TaskFilter) async throws -> Page<ScheduledTask> {
        var clauses = ["deleted_at IS NULL"]
        var args: [DatabaseValue] = []
        if let project = filter.project { clauses.append("project = ?"); args.append(project.databaseValue) }
        if let module = filter.module { clauses.append("module = ?"); args.append(module.databaseValue) }
        if let resource = filter.resourceID { clauses.append("resource_id = ?"); args.append(resource.databaseValue) }
        if let enabled = filter.enabled { clauses.append("enabled = ?"); args.append(enabled.databaseValue) }
        if !filter.lastStatus.isEmpty {
            clauses.append("last_status IN (\(Array(repeating: "?", count: filter.lastStatus.count).joined(separator: ",")))")
            args += filter.lastStatus.map(\.rawValue.databaseValue)
        }
        return try await page(
            table: "tasks", columns: Records.taskColumns, filters: clauses, arguments: args,
            after: try filter.cursor.map { ("seq > ?", try PageCursor.decode($0)) }, order: "seq", limit: filter.limit,
            decode: Records.task, seq: \.seq)
    }

    public func updateTask(_ task: ScheduledTask, expectedVersion: Int64, reschedule: Reschedule?) async throws -> ScheduledTask {
        try await write { db in
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
                    sql: "DELETE FROM runs WHERE task_id = ? AND status = 'scheduled' AND trigger = 'schedule'",
                    arguments: [task.id])
                if case .replace(let run) = reschedule { try Records.insert(run, db) }
            }
            return try Self.fetchTask(id: task.id, project: task.project, db)
        }
    }

    public func deleteTask(id: String, project: String?, now: Timestamp) async throws {
        try await write { db in
            _ = try Self.fetchTask(id: id, project: project, db)
            try db.execute(sql: "UPDATE tasks SET deleted_at = ?, enabled = 0, updated_at = ? WHERE id = ?", arguments: [now, now, id])
            try db.execute(sql: "DELETE FROM runs WHERE task_id = ? AND status = 'scheduled'", arguments: [id])
        }
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
        try await read { db in try Self.fetchRun(id: id, project: project, db) }
    }

    static func fetchRun(id: String, project: String?, _ db: Database) throws -> TaskRun {
        let row = try Row.fetchOne(
            db.cachedStatement(sql: "SELECT \(Records.runColumns) FROM runs WHERE id = ? AND (? IS NULL OR project = ?)"),
            arguments: [id, project, project])
        guard let row else { throw OrreryError.notFound("run", id) }
        return try Records.run(row)
    }

    public func listRuns(_ filter: RunFilter) async throws -> Page<TaskRun> {
        var clauses: [String] = []
        var args: [DatabaseValue] = []
        if let project = filter.project { clauses.append("project = ?"); args.append(project.databaseValue) }
        if let taskID = filter.taskID { clauses.append("task_id = ?"); args.append(taskID.databaseValue) }
        if let module = filter.module { clauses.append("module = ?"); args.append(module.databaseValue) }
        if let resource = filter.resourceID { clauses.append("resource_id = ?"); args.append(resource.databaseValue) }
        if !filter.statuses.isEmpty {
            clauses.append("status IN (\(Array(repeating: "?", count: filter.statuses.count).joined(separator: ",")))")
            args += filter.statuses.map(\.rawValue.databaseValue)
        }
        if let before = filter.scheduledBefore { clauses.append("scheduled_at < ?"); args.append(before.databaseValue) }
        if let after = filter.scheduledAfter { clauses.append("scheduled_at >= ?"); args.append(after.databaseValue) }
        switch (filter.includeDismissed, filter.dismissed) {
        case (true, _): break
        case (false, true?): clauses.append("dismissed_at IS NOT NULL")
        case (false, false?), (false, nil): clauses.append("dismissed_at IS NULL")
        }
        return try await page(
            table: "runs", columns: Records.runColumns, filters: clauses, arguments: args,
            after: try filter.cursor.map { ("seq < ?", try PageCursor.decode($0)) }, order: "seq DESC", limit: filter.limit,
            decode: Records.run, seq: \.seq)
    }

    /// One page of a keyset-paginated listing (`after` positions it past the cursor's row)
    /// and the exact count of everything the filters match.
    private func page<Item: Sendable>(
        table: String, columns: String, filters: [String], arguments: [DatabaseValue], after cursor: (clause: String, seq: Int64)?,
        order: String, limit: Int, decode: @escaping @Sendable (Row) throws -> Item, seq: @escaping @Sendable (Item) -> Int64
    ) async throws -> Page<Item> {
        let filterSQL = filters.isEmpty ? "1" : filters.joined(separator: " AND ")
        let countSQL = "SELECT count(*) FROM \(table) WHERE \(filterSQL)"
        var pageWhere = filterSQL
        var pageArgs = arguments
        if let cursor {
            pageWhere += " AND \(cursor.clause)"
            pageArgs.append(cursor.seq.databaseValue)
        }
        pageArgs.append((limit + 1).databaseValue)  // one more than asked: is there a next page?
        let pageSQL = "SELECT \(columns) FROM \(table) WHERE \(pageWhere) ORDER BY \(order) LIMIT ?"
        let countArgs = StatementArguments(arguments)
        let fetchArgs = StatementArguments(pageArgs)
        return try await read { db in
            let rows = try Row.fetchAll(db, sql: pageSQL, arguments: fetchArgs)
            let items = try rows.prefix(limit).map(decode)
            let total = try Int.fetchOne(db, sql: countSQL, arguments: countArgs) ?? 0
            let next = rows.count > limit ? items.last.map { PageCursor.encode(seq($0)) } : nil
            return Page(items: items, nextCursor: next, totalCount: total)
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
                try Self.recordLastStatus(taskID: run.taskID, status: .canceled, at: now, db)
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

    /// A task's `last_status` is its newest finished run's status.
    static func recordLastStatus(taskID: String, status: RunStatus, at: Timestamp, _ db: Database) throws {
        try db.cachedStatement(sql: """
            UPDATE tasks SET last_status = ?, last_run_at = ? WHERE id = ? AND (last_run_at IS NULL OR last_run_at <= ?)
            """).execute(arguments: [status.rawValue, at, taskID, at])
    }

    // MARK: Tokens

    public func tokenRole(hash: String, now: Timestamp) async throws -> TokenGrant? {
        try await read { db in
            try Row.fetchOne(
                db.cachedStatement(sql: """
                    SELECT id, name, role, project FROM tokens
                    WHERE hash = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)
                    """),
                arguments: [hash, now]
            ).map { TokenGrant(tokenID: $0["id"], name: $0["name"], role: $0["role"], project: $0["project"]) }
        }
    }

    public func insertToken(_ token: StoredToken) async throws {
        try await write { db in
            try db.execute(
                sql: "INSERT INTO tokens (id, hash, name, role, project, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                arguments: [token.id, token.hash, token.name, token.role, token.project, token.createdAt, token.expiresAt])
        }
    }

    public func listTokens() async throws -> [StoredToken] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT id, name, role, project, created_at, expires_at, revoked_at FROM tokens ORDER BY created_at DESC, id DESC")
                .map { row in
                    var token = StoredToken(id: row[0], hash: "", name: row[1], role: row[2], project: row[3], createdAt: row[4], expiresAt: row[5])
                    token.revokedAt = row[6]
                    return token
                }
        }
    }

    public func revokeToken(id: String, now: Timestamp) async throws {
        try await write { db in
            try db.execute(sql: "UPDATE tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?", arguments: [now, id])
            guard db.changesCount > 0 else { throw OrreryError.notFound("token", id) }
        }
    }

    public func tokenCount() async throws -> Int {
        try await read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM tokens WHERE revoked_at IS NULL") ?? 0 }
    }
}

extension SQLiteStore: TokenBootstrapStore {
    public func insertFirstAdminToken(_ token: StoredToken) async throws -> Bool {
        try await write { db in
            guard try Int.fetchOne(db, sql: "SELECT count(*) FROM tokens WHERE role = 'admin' AND revoked_at IS NULL") == 0 else { return false }
            try db.execute(
                sql: "INSERT INTO tokens (id, hash, name, role, project, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                arguments: [token.id, token.hash, token.name, token.role, token.project, token.createdAt, token.expiresAt])
            return true
        }
    }
}
