import GRDB
public import OrreryCore

/// Users and idempotent creation.
extension SQLiteStore {
    public func createTask(
        _ task: ScheduledTask, firstRun: TaskRun?, idempotencyKey key: IdempotencyKey
    ) async throws -> (task: ScheduledTask, replayed: Bool) {
        try await write { db in
            if let row = try Row.fetchOne(
                db, sql: "SELECT request_hash, task_id FROM idempotency_keys WHERE project = ? AND key = ?",
                arguments: [key.project, key.key]) {
                guard (row[0] as String) == key.requestHash else {
                    throw OrreryError(.conflict, "Idempotency-Key \"\(key.key)\" was already used with a different request", field: "Idempotency-Key")
                }
                let taskID: String = row[1]
                guard let stored = try Row.fetchOne(
                    db, sql: "SELECT \(Records.taskColumns) FROM tasks WHERE id = ?", arguments: [taskID]) else {
                    throw OrreryError.notFound("task", taskID)
                }
                return (try Records.task(stored), true)
            }
            try db.execute(sql: Records.insertTaskSQL, arguments: Records.taskArguments(task))
            var created = task
            created.seq = db.lastInsertedRowID
            if let firstRun {
                try Records.insert(firstRun, db)
                created.nextRunAt = firstRun.scheduledAt
            }
            try db.execute(
                sql: "INSERT INTO idempotency_keys (project, key, request_hash, task_id, created_at) VALUES (?, ?, ?, ?, ?)",
                arguments: [key.project, key.key, key.requestHash, task.id, key.createdAt])
            return (created, false)
        }
    }

    public func insertUser(_ user: StoredUser) async throws {
        try await write { db in
            try db.execute(
                sql: "INSERT INTO users (id, name, role, project, created_at) VALUES (?, ?, ?, ?, ?)",
                arguments: [user.id, user.name, user.role, user.project, user.createdAt])
        }
    }

    public func listUsers() async throws -> [StoredUser] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT id, name, role, project, created_at, disabled_at FROM users ORDER BY created_at, id")
                .map(Self.user)
        }
    }

    public func user(name: String) async throws -> StoredUser {
        try await read { db in
            guard let row = try Row.fetchOne(
                db, sql: "SELECT id, name, role, project, created_at, disabled_at FROM users WHERE name = ?", arguments: [name])
            else { throw OrreryError.notFound("user", name) }
            return Self.user(row)
        }
    }

    public func disableUser(id: String, now: Timestamp) async throws {
        try await write { db in
            try Self.refuseLosingLastAdmin(losing: "user_id = ?", id, what: "user \"\(id)\"", now: now, db)
            try db.execute(sql: "UPDATE users SET disabled_at = coalesce(disabled_at, ?) WHERE id = ?", arguments: [now, id])
            guard db.changesCount > 0 else { throw OrreryError.notFound("user", id) }
            try db.execute(sql: "UPDATE tokens SET revoked_at = coalesce(revoked_at, ?) WHERE user_id = ?", arguments: [now, id])
        }
    }

    private static func user(_ row: Row) -> StoredUser {
        StoredUser(id: row[0], name: row[1], role: row[2], project: row[3], createdAt: row[4], disabledAt: row[5])
    }
}
