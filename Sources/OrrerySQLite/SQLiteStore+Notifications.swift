import Foundation
import GRDB
public import OrreryCore

/// The notification outbox on SQLite: deliveries written with the run ends that cause them,
/// claimed with a lease, each attempt appended to the row.
extension SQLiteStore: NotificationStore {
    static let deliveryColumns = """
        id, run_id, task_id, task_name, project, channel, target, secret, event, status, attempts,
        next_attempt_at, created_at, updated_at
        """

    /// Writes the deliveries the tasks' `notify` blocks ask for when `ended` ended, in the
    /// caller's transaction. First one seek of `tasks_notify` (the tasks that notify anyone)
    /// for each task of the batch; when none notifies, no run is read and nothing else runs.
    func enqueueNotifications(_ ended: [RunEndRef], now: Timestamp, _ db: Database) throws {
        guard !ended.isEmpty, try Self.any(in: "tasks INDEXED BY tasks_notify WHERE notify IS NOT NULL", db) else { return }
        let notifying = try Set(String.fetchAll(
            db.cachedStatement(sql: """
                SELECT id FROM tasks INDEXED BY tasks_notify WHERE notify IS NOT NULL AND id IN (SELECT value FROM json_each(?))
                """),
            arguments: [JSONValue.array(Set(ended.map(\.taskID)).map(JSONValue.string)).jsonText]))
        guard !notifying.isEmpty else { return }
        let runIDs = ended.with(taskIDs: notifying).map(\.id)
        let rows = try Row.fetchAll(
            db.cachedStatement(sql: """
                SELECT r.id, r.task_id, t.name, r.project, r.status, r.error_code, json_extract(r.result, '$.skipped'), t.notify
                FROM runs r JOIN tasks t ON t.id = r.task_id
                WHERE r.id IN (SELECT value FROM json_each(?)) AND t.notify IS NOT NULL
                """),
            arguments: [JSONValue.array(runIDs.map(JSONValue.string)).jsonText])
        for row in rows {
            guard let policy = NotifyPolicy.stored(try? JSONValue.fromStored(row[7] as String)),
                  let status = RunStatus(rawValue: row[4])
            else { continue }
            let ending = RunEnding(
                runID: row[0], taskID: row[1], taskName: row[2], project: row[3], status: status, errorCode: row[5], skipReason: row[6])
            for delivery in ending.deliveries(for: policy, now: now, id: { ids.make(at: now) }) {
                try db.cachedStatement(sql: """
                    INSERT INTO notification_deliveries (\(Self.deliveryColumns))
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """).execute(arguments: [
                        delivery.id, delivery.runID, delivery.taskID, delivery.taskName, delivery.project, delivery.channel.rawValue,
                        delivery.target, delivery.secret, delivery.event.rawValue, delivery.status.rawValue,
                        NotificationDelivery.attemptsJSON(delivery.attempts), delivery.nextAttemptAt, delivery.createdAt, delivery.updatedAt,
                    ])
            }
        }
    }

    static func delivery(_ row: Row) throws -> NotificationDelivery {
        guard let channel = NotificationDelivery.Channel(rawValue: row["channel"]),
              let event = RunEndEvent(rawValue: row["event"]),
              let status = NotificationDelivery.Status(rawValue: row["status"])
        else { throw OrreryError(.internal, "a stored notification delivery does not read") }
        return NotificationDelivery(
            id: row["id"], runID: row["run_id"], taskID: row["task_id"], taskName: row["task_name"], project: row["project"],
            channel: channel, target: row["target"], secret: row["secret"], event: event, status: status,
            attempts: NotificationDelivery.attempts(fromStored: row["attempts"]), nextAttemptAt: row["next_attempt_at"],
            createdAt: row["created_at"], updatedAt: row["updated_at"])
    }

    public func claimDueNotifications(limit: Int, now: Timestamp, node: String, leaseUntil: Timestamp) async throws -> [NotificationDelivery] {
        try await write { db in
            try Row.fetchAll(
                db.cachedStatement(sql: """
                    UPDATE notification_deliveries SET node = ?, lease_expires_at = ?, updated_at = ?
                    WHERE id IN (
                        SELECT id FROM notification_deliveries INDEXED BY notification_deliveries_due
                        WHERE status = 'pending' AND next_attempt_at <= ? AND (lease_expires_at IS NULL OR lease_expires_at < ?)
                        ORDER BY next_attempt_at LIMIT ?)
                    RETURNING \(Self.deliveryColumns)
                    """),
                arguments: [node, leaseUntil, now, now, now, limit]
            ).map(Self.delivery)
        }
    }

    public func recordNotificationAttempt(
        id: String, node: String, attempt: NotificationDelivery.Attempt, retryAt: Timestamp?, now: Timestamp
    ) async throws {
        let status: NotificationDelivery.Status = attempt.succeeded ? .delivered : (retryAt == nil ? .failed : .pending)
        try await write { db in
            try db.cachedStatement(sql: """
                UPDATE notification_deliveries
                SET attempts = json_insert(attempts, '$[#]', json(?)), status = ?, next_attempt_at = ?,
                    node = NULL, lease_expires_at = NULL, updated_at = ?
                WHERE id = ? AND node = ? AND status = 'pending'
                """).execute(arguments: [
                    attempt.json.jsonText, status.rawValue, status == .pending ? retryAt : nil, now, id, node,
                ])
        }
    }

    public func listNotifications(_ filter: NotificationFilter) async throws -> [NotificationDelivery] {
        try await read { db in
            try Row.fetchAll(
                db.cachedStatement(sql: """
                    SELECT \(Self.deliveryColumns) FROM notification_deliveries
                    WHERE (?1 IS NULL OR project = ?1) AND (?2 IS NULL OR run_id = ?2) AND (?3 IS NULL OR task_id = ?3)
                        AND (?4 IS NULL OR status = ?4)
                    ORDER BY created_at DESC, id DESC LIMIT ?5
                    """),
                arguments: [filter.project, filter.runID, filter.taskID, filter.status?.rawValue, filter.limit]
            ).map(Self.delivery)
        }
    }

    public func nextNotificationTime() async throws -> Timestamp? {
        try await read { db in
            try Timestamp.fetchOne(db.cachedStatement(sql: """
                SELECT min(coalesce(max(next_attempt_at, lease_expires_at), next_attempt_at))
                FROM notification_deliveries INDEXED BY notification_deliveries_due WHERE status = 'pending'
                """))
        }
    }

    public func pruneNotifications(before: Timestamp, limit: Int) async throws -> Int {
        try await write { db in
            try db.cachedStatement(sql: """
                DELETE FROM notification_deliveries WHERE id IN (
                    SELECT id FROM notification_deliveries INDEXED BY notification_deliveries_created
                    WHERE created_at < ? AND status != 'pending' AND updated_at < ? LIMIT ?)
                """).execute(arguments: [before, before, limit])
            return db.changesCount
        }
    }
}
