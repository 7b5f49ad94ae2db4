import Logging
public import OrreryCore
import PostgresNIO

/// Users and idempotent creation.
extension PostgresStore {
    public func createTask(
        _ task: ScheduledTask, firstRun: TaskRun?, idempotencyKey key: IdempotencyKey
    ) async throws -> (task: ScheduledTask, replayed: Bool) {
        try await transaction { connection in
            // Two requests with one key at once: the second waits here for the first's commit.
            try await connection.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(\(key.project) || '/' || \(key.key), 0))", logger: self.logger)
            if let row = try await connection.rows(
                "SELECT request_hash, task_id FROM idempotency_keys WHERE project = \(key.project) AND key = \(key.key)",
                logger: self.logger).first {
                guard try row[0].decode(String.self) == key.requestHash else {
                    throw OrreryError(.conflict, "Idempotency-Key \"\(key.key)\" was already used with a different request", field: "Idempotency-Key")
                }
                let taskID = try row[1].decode(String.self)
                guard let stored = try await connection.rows(
                    "SELECT \(unescaped: PostgresRecords.taskColumns) FROM tasks WHERE id = \(taskID)", logger: self.logger).first
                else { throw OrreryError.notFound("task", taskID) }
                return (try PostgresRecords.task(stored), true)
            }
            let created = try await self.insertTasks([(task, firstRun)], connection)[0]
            try await connection.execute("""
                INSERT INTO idempotency_keys (project, key, request_hash, task_id, created_at)
                VALUES (\(key.project), \(key.key), \(key.requestHash), \(task.id), \(key.createdAt.microseconds))
                """, logger: self.logger)
            return (created, false)
        }
    }

    public func insertUser(_ user: StoredUser) async throws {
        try await withConnection { connection in
            try await connection.execute("""
                INSERT INTO users (id, name, role, project, created_at)
                VALUES (\(user.id), \(user.name), \(user.role), \(user.project), \(user.createdAt.microseconds))
                """, logger: self.logger)
        }
    }

    public func listUsers() async throws -> [StoredUser] {
        try await withConnection { connection in
            try await connection.rows(
                "SELECT id, name, role, project, created_at, disabled_at FROM users ORDER BY created_at, id", logger: self.logger
            ).map(Self.user)
        }
    }

    public func user(name: String) async throws -> StoredUser {
        try await withConnection { connection in
            guard let row = try await connection.rows(
                "SELECT id, name, role, project, created_at, disabled_at FROM users WHERE name = \(name)", logger: self.logger).first
            else { throw OrreryError.notFound("user", name) }
            return try Self.user(row)
        }
    }

    public func disableUser(id: String, now: Timestamp) async throws {
        try await transaction { connection in
            try await self.refuseLosingLastAdmin(tokenID: nil, userID: id, what: "user \"\(id)\"", now: now, connection)
            let changed = try await connection.execute(
                "UPDATE users SET disabled_at = coalesce(disabled_at, \(now.microseconds)) WHERE id = \(id) RETURNING 1", logger: self.logger)
            guard changed > 0 else { throw OrreryError.notFound("user", id) }
            try await connection.execute(
                "UPDATE tokens SET revoked_at = coalesce(revoked_at, \(now.microseconds)) WHERE user_id = \(id)", logger: self.logger)
            try await self.notifyTokensChanged(connection)
        }
    }

    private static func user(_ row: PostgresRandomAccessRow) throws -> StoredUser {
        StoredUser(
            id: try row[0].decode(String.self), name: try row[1].decode(String.self), role: try row[2].decode(String.self),
            project: try row[3].decode(String.self), createdAt: Timestamp(microseconds: try row[4].decode(Int64.self)),
            disabledAt: try PostgresRecords.timestamp(row[5]))
    }
}
