import Logging
public import OrreryCore
import PostgresNIO

/// The notification outbox on PostgreSQL: deliveries written with the run ends that cause
/// them; nodes claim due ones `FOR UPDATE SKIP LOCKED` with a lease, so each notification is
/// sent by one node at a time, and a node that dies leaves it to another when the lease lapses.
extension PostgresStore: NotificationStore {
    static let deliveryColumns = """
        id, run_id, task_id, task_name, project, channel, target, secret, event, status, attempts::text,
        next_attempt_at, created_at, updated_at
        """

    /// Writes the deliveries the tasks' `notify` blocks ask for when `runIDs` ended, in the
    /// caller's transaction: one statement finds the runs whose task notifies anyone, and
    /// one inserts their deliveries when there are any.
    func enqueueNotifications(_ ended: [RunEndRef], now: Timestamp, _ connection: PostgresConnection) async throws {
        guard !ended.isEmpty else { return }
        // One seek of `tasks_notify` (the tasks that notify anyone) for each task of the batch;
        // when none notifies, no run is read.
        let notifying = Set(try await connection.rows(Hot.NotifyingTasks.self, """
            SELECT id FROM tasks WHERE id = ANY(\(Array(Set(ended.map(\.taskID))))) AND notify IS NOT NULL
            """, logger: logger).map { try $0[0].decode(String.self) })
        guard !notifying.isEmpty else { return }
        let runIDs = ended.with(taskIDs: notifying).map(\.id)
        var deliveries: [NotificationDelivery] = []
        for row in try await connection.rows(Hot.NotifiedRuns.self, """
            SELECT r.id, r.task_id, t.name, r.project, r.status, r.error_code, r.result::jsonb ->> 'skipped', t.notify
            FROM runs r JOIN tasks t ON t.id = r.task_id
            WHERE r.id = ANY(\(runIDs)) AND t.notify IS NOT NULL
            """, logger: logger) {
            guard let policy = NotifyPolicy.stored(try? JSONValue.fromStored(try row[7].decode(String.self))),
                  let status = RunStatus(rawValue: try row[4].decode(String.self))
            else { continue }
            let ending = RunEnding(
                runID: try row[0].decode(String.self), taskID: try row[1].decode(String.self), taskName: try row[2].decode(String.self),
                project: try row[3].decode(String.self), status: status, errorCode: try row[5].decode(String?.self),
                skipReason: try row[6].decode(String?.self))
            deliveries += ending.deliveries(for: policy, now: now) { ids.make(at: now) }
        }
        guard !deliveries.isEmpty else { return }
        let rows = JSONValue.array(deliveries.map { d in
            .object([
                "id": .string(d.id), "run_id": .string(d.runID), "task_id": .string(d.taskID), "task_name": .string(d.taskName),
                "project": .string(d.project), "channel": .string(d.channel.rawValue), "target": .string(d.target),
                "secret": d.secret.map(JSONValue.string) ?? .null, "event": .string(d.event.rawValue), "status": .string(d.status.rawValue),
                "next_attempt_at": d.nextAttemptAt.map { .int($0.microseconds) } ?? .null,
                "created_at": .int(d.createdAt.microseconds), "updated_at": .int(d.updatedAt.microseconds),
            ])
        })
        try await connection.execute("""
            INSERT INTO notification_deliveries (id, run_id, task_id, task_name, project, channel, target, secret, event, status,
                next_attempt_at, created_at, updated_at)
            SELECT id, run_id, task_id, task_name, project, channel, target, secret, event, status, next_attempt_at, created_at, updated_at
            FROM jsonb_to_recordset(\(rows.jsonText)::jsonb) AS d(id text, run_id text, task_id text, task_name text, project text,
                channel text, target text, secret text, event text, status text, next_attempt_at bigint, created_at bigint, updated_at bigint)
            """, logger: logger)
    }

    static func delivery(_ row: PostgresRandomAccessRow) throws -> NotificationDelivery {
        guard let channel = NotificationDelivery.Channel(rawValue: try row[5].decode(String.self)),
              let event = RunEndEvent(rawValue: try row[8].decode(String.self)),
              let status = NotificationDelivery.Status(rawValue: try row[9].decode(String.self))
        else { throw OrreryError(.internal, "a stored notification delivery does not read") }
        return NotificationDelivery(
            id: try row[0].decode(String.self), runID: try row[1].decode(String.self), taskID: try row[2].decode(String.self),
            taskName: try row[3].decode(String.self), project: try row[4].decode(String.self), channel: channel,
            target: try row[6].decode(String.self), secret: try row[7].decode(String?.self), event: event, status: status,
            attempts: NotificationDelivery.attempts(fromStored: try row[10].decode(String.self)),
            nextAttemptAt: try PostgresRecords.timestamp(row[11]),
            createdAt: Timestamp(microseconds: try row[12].decode(Int64.self)), updatedAt: Timestamp(microseconds: try row[13].decode(Int64.self)))
    }

    public func claimDueNotifications(limit: Int, now: Timestamp, node: String, leaseUntil: Timestamp) async throws -> [NotificationDelivery] {
        try await withConnection { connection in
            try await connection.rows("""
                WITH due AS (
                    SELECT id FROM notification_deliveries
                    WHERE status = 'pending' AND next_attempt_at <= \(now.microseconds)
                        AND (lease_expires_at IS NULL OR lease_expires_at < \(now.microseconds))
                    ORDER BY next_attempt_at LIMIT \(Int64(limit))
                    FOR UPDATE SKIP LOCKED)
                UPDATE notification_deliveries d SET node = \(node), lease_expires_at = \(leaseUntil.microseconds), updated_at = \(now.microseconds)
                FROM due WHERE d.id = due.id
                RETURNING d.id, d.run_id, d.task_id, d.task_name, d.project, d.channel, d.target, d.secret, d.event, d.status,
                    d.attempts::text, d.next_attempt_at, d.created_at, d.updated_at
                """, logger: self.logger).map(Self.delivery)
        }
    }

    public func recordNotificationAttempt(
        id: String, node: String, attempt: NotificationDelivery.Attempt, retryAt: Timestamp?, now: Timestamp
    ) async throws {
        let status: NotificationDelivery.Status = attempt.succeeded ? .delivered : (retryAt == nil ? .failed : .pending)
        let next = status == .pending ? retryAt?.microseconds : nil
        try await withConnection { connection in
            _ = try await connection.execute("""
                UPDATE notification_deliveries
                SET attempts = attempts || jsonb_build_array(\(attempt.json.jsonText)::jsonb), status = \(status.rawValue),
                    next_attempt_at = \(next), node = NULL, lease_expires_at = NULL, updated_at = \(now.microseconds)
                WHERE id = \(id) AND node = \(node) AND status = 'pending'
                """, logger: self.logger)
        }
    }

    public func listNotifications(_ filter: NotificationFilter) async throws -> [NotificationDelivery] {
        try await withConnection { connection in
            try await connection.rows("""
                SELECT \(unescaped: Self.deliveryColumns) FROM notification_deliveries
                WHERE (\(filter.project)::text IS NULL OR project = \(filter.project))
                    AND (\(filter.runID)::text IS NULL OR run_id = \(filter.runID))
                    AND (\(filter.taskID)::text IS NULL OR task_id = \(filter.taskID))
                    AND (\(filter.status?.rawValue)::text IS NULL OR status = \(filter.status?.rawValue))
                ORDER BY created_at DESC, id DESC LIMIT \(Int64(filter.limit))
                """, logger: self.logger).map(Self.delivery)
        }
    }

    public func nextNotificationTime() async throws -> Timestamp? {
        try await withConnection { connection in
            try PostgresRecords.timestamp(try await connection.rows("""
                SELECT min(greatest(next_attempt_at, lease_expires_at)) FROM notification_deliveries WHERE status = 'pending'
                """, logger: self.logger)[0][0])
        }
    }

    public func pruneNotifications(before: Timestamp, limit: Int) async throws -> Int {
        try await withConnection { connection in
            try await connection.execute("""
                DELETE FROM notification_deliveries WHERE id IN (
                    SELECT id FROM notification_deliveries
                    WHERE created_at < \(before.microseconds) AND status <> 'pending' AND updated_at < \(before.microseconds)
                    ORDER BY created_at LIMIT \(Int64(limit)))
                RETURNING 1
                """, logger: self.logger)
        }
    }
}
