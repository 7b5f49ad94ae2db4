import Logging
public import OrreryCore
import PostgresNIO

extension PostgresStore: NotifyingStore {
    /// The channel every node listens on; a notice means "runs were scheduled".
    static let dueChannel = "orrery_due"

    /// Tells every listening node, when this transaction commits, that runs were scheduled.
    func notifyDue(_ connection: PostgresConnection) async throws {
        try await connection.execute(Hot.NotifyDue.self, "SELECT pg_notify(\(Self.dueChannel), '')", logger: logger)
    }

    /// The same notice outside a transaction; a failure only delays other nodes until
    /// their next look.
    func notifyDueSoon() async {
        _ = try? await withConnection { connection in try await self.notifyDue(connection) }
    }

    /// The channel of cancel requests; a notice's payload is the run's id.
    static let cancelChannel = "orrery_cancel"

    /// Tells every listening node, when this transaction commits, that `runID` is to stop.
    func notifyCancel(runID: String, _ connection: PostgresConnection) async throws {
        try await connection.execute("SELECT pg_notify(\(Self.cancelChannel), \(runID))", logger: logger)
    }

    public func listenForDueRuns(_ wake: @escaping @Sendable () -> Void) async {
        // Notices sent while we were not listening are lost: look once on every (re)connection.
        await listen(on: Self.dueChannel, what: "due runs", connected: wake) { _ in wake() }
    }

    public func listenForCancelRequests(_ cancel: @escaping @Sendable (String) -> Void) async {
        // A request missed while reconnecting reaches its node at its next lease renewal.
        await listen(on: Self.cancelChannel, what: "cancel requests", connected: {}) { cancel($0) }
    }

    /// Listens on `channel` until the calling task is canceled, reconnecting with back-off.
    func listen(
        on channel: String, what: String, connected: @escaping @Sendable () -> Void, notice: @escaping @Sendable (String) -> Void
    ) async {
        var failures = 0
        while !Task.isCancelled {
            do {
                try await client.withConnection { connection in
                    try await connection.listen(on: channel) { notices in
                        failures = 0
                        connected()
                        for try await received in notices { notice(received.payload) }
                    }
                }
            } catch {
                if Task.isCancelled { return }
                failures += 1
                if failures == 1 { logger.warning("listening for \(what) failed; reconnecting", metadata: ["error": "\(error)"]) }
            }
            try? await Task.sleep(for: .milliseconds(min(100 * failures, 2_000)))
        }
    }
}

extension PostgresStore: LeaderStore {
    public func claimLeadership(_ name: String, node: String, now: Timestamp, until: Timestamp) async throws -> Bool {
        try await withConnection { connection in
            try await connection.execute("""
                INSERT INTO leaders (name, node, elected_at, expires_at)
                VALUES (\(name), \(node), \(now.microseconds), \(until.microseconds))
                ON CONFLICT (name) DO UPDATE SET node = excluded.node, expires_at = excluded.expires_at,
                    elected_at = CASE WHEN leaders.node = excluded.node THEN leaders.elected_at ELSE excluded.elected_at END
                WHERE leaders.node = excluded.node OR leaders.expires_at < \(now.microseconds)
                RETURNING 1
                """, logger: self.logger) > 0
        }
    }

    public func resignLeadership(_ name: String, node: String) async throws {
        try await withConnection { connection in
            try await connection.execute("DELETE FROM leaders WHERE name = \(name) AND node = \(node)", logger: self.logger)
        }
    }
}

extension PostgresStore: TokenBootstrapStore {
    public func reinstateAdminToken(_ token: StoredToken) async throws {
        try await withConnection { connection in
            try await connection.execute("""
                INSERT INTO tokens (id, hash, name, role, project, created_at, rights, prefix)
                VALUES (\(token.id), \(token.hash), \(token.name), 'admin', \(token.project), \(token.createdAt.microseconds), '[]', \(token.prefix))
                ON CONFLICT (hash) DO UPDATE SET role = 'admin', revoked_at = NULL, expires_at = NULL, user_id = NULL
                """, logger: self.logger)
            try await self.notifyTokensChanged(connection)
        }
    }

    public func insertFirstAdminToken(_ token: StoredToken) async throws -> Bool {
        try await transaction { connection in
            // Nodes starting together queue here; the first inserts, the others find its token.
            try await connection.execute("LOCK TABLE tokens IN SHARE ROW EXCLUSIVE MODE", logger: self.logger)
            let admins = try await connection.rows(
                "SELECT 1 FROM tokens WHERE role = 'admin' AND revoked_at IS NULL LIMIT 1", logger: self.logger)
            guard admins.isEmpty else { return false }
            try await self.insertToken(token, connection)
            return true
        }
    }
}
