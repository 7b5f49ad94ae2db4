import Foundation
import GRDB
public import OrreryCore

extension SQLiteStore: EventStore {
    public func acceptEvents(_ events: [IncomingEvent], project: String, now: Timestamp, replaySince: Timestamp) async throws -> [EventAnswer] {
        try await write { db in
            try events.map { incoming in
                let id = incoming.id ?? self.ids.make(at: now)
                // An id seen within the replay window answers as it did; an older one is forgotten.
                try db.cachedStatement(sql: """
                    UPDATE events SET dedupe_key = NULL WHERE project = ? AND dedupe_key = ? AND received_at < ?
                    """).execute(arguments: [project, id, replaySince])
                if let row = try Row.fetchOne(
                    db.cachedStatement(sql: "SELECT id, fired FROM events WHERE project = ? AND dedupe_key = ?"),
                    arguments: [project, id]) {
                    return EventAnswer(id: row[0], fired: Self.firedIDs(row[1]), replayed: true)
                }
                let event = StoredEvent(
                    id: id, project: project, type: incoming.type, resourceID: incoming.resourceID, payload: incoming.payload,
                    receivedAt: now)
                let fired = try self.fire(event, sourceTaskID: nil, dedupe: true, storeAlways: true, now: now, db)
                return EventAnswer(id: id, fired: fired)
            }
        }
    }

    /// Stores `event` and inserts the run of every trigger task it matches, inside the
    /// caller's transaction; returns the runs' ids. With `storeAlways` false (run ends) the
    /// event is stored only when a trigger task waits for its type.
    @discardableResult
    func fire(_ event: StoredEvent, sourceTaskID: String?, dedupe: Bool, storeAlways: Bool, now: Timestamp, _ db: Database) throws -> [String] {
        let candidates = try Self.triggerCandidates(project: event.project, type: event.type, db)
        let runs = candidates.compactMap { $0.run(for: event, sourceTaskID: sourceTaskID, now: now, id: ids.make(at: now)) }
        // A chain cut at its depth bound is kept, so the cut shows in `GET /v1/events`.
        guard storeAlways || !runs.isEmpty || (!candidates.isEmpty && event.depth > EventChain.maxDepth) else { return [] }
        let seq = try Int64.fetchOne(
            db.cachedStatement(sql: """
                INSERT INTO events (id, project, type, resource_id, payload, received_at, caused_by_run, depth, dedupe_key)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq
                """),
            arguments: [
                event.id, event.project, event.type, event.resourceID, event.payload?.jsonText, event.receivedAt,
                event.causedByRun, event.depth, dedupe ? event.id : nil,
            ])!
        guard !runs.isEmpty else { return [] }
        let insert = try db.cachedStatement(sql: """
            INSERT INTO runs (id, task_id, project, module, resource_id, attempt, status, trigger, scheduled_at, updated_at,
                priority, queue, event_id, event_seq)
            VALUES (?, ?, ?, ?, ?, 1, 'scheduled', 'event', ?, ?, ?, ?, ?, ?)
            """)
        for run in runs {
            try insert.execute(arguments: [
                run.id, run.taskID, run.project, run.module, run.resourceID, run.scheduledAt, run.updatedAt, run.priority,
                run.queue, event.id, seq,
            ])
        }
        let fired = runs.map(\.id)
        try db.cachedStatement(sql: "UPDATE events SET fired = ? WHERE seq = ?")
            .execute(arguments: [JSONValue.array(fired.map(JSONValue.string)).jsonText, seq])
        return fired
    }

    /// The trigger tasks of `project` waiting for events of `type`: one index seek.
    static func triggerCandidates(project: String, type: String, _ db: Database) throws -> [TriggerCandidate] {
        try Row.fetchAll(
            db.cachedStatement(sql: """
                SELECT id, project, module, resource_id, queue, enabled, schedule FROM tasks INDEXED BY tasks_trigger_event
                WHERE project = ? AND json_extract(schedule, '$.event') = ? AND schedule_type = 'trigger' AND deleted_at IS NULL
                """),
            arguments: [project, type]
        ).map { row in
            TriggerCandidate(
                taskID: row[0], project: row[1], module: row[2], resourceID: row[3], queue: row[4], enabled: row[5],
                schedule: try Schedule.parse(try JSONValue.fromStored(row[6]), now: .epoch))
        }
    }

    /// A run's end is the event `run.<status>`: it fires the trigger tasks that follow it,
    /// in the transaction that ends the run.
    func emitRunEnd(_ end: RunEndRef, error: RunError?, now: Timestamp, _ db: Database) throws {
        try emitRunEnds([end], errors: error.map { [end.id: $0] } ?? [:], now: now, db)
    }

    /// Run ends are events `run.<status>`: they fire the trigger tasks that follow them, in
    /// the transaction that ends the runs. First one seek of `tasks_trigger_event` for each
    /// distinct project and status of the batch; the runs are read only when a trigger task
    /// waits for some of them, so a batch no trigger task follows reads no run and stores nothing.
    func emitRunEnds(_ ended: [RunEndRef], errors: [String: RunError], now: Timestamp, _ db: Database) throws {
        guard !ended.isEmpty, try Self.any(in: "tasks INDEXED BY tasks_trigger_event WHERE schedule_type = 'trigger' AND deleted_at IS NULL", db)
        else { return }
        let keys = ended.eventKeys
        var listened: [(project: String, type: String)] = []
        try Records.forEachRow(
            db.cachedStatement(sql: """
                SELECT k.value ->> 0, k.value ->> 1 FROM json_each(?) k WHERE EXISTS (
                    SELECT 1 FROM tasks f INDEXED BY tasks_trigger_event
                    WHERE f.project = k.value ->> 0 AND json_extract(f.schedule, '$.event') = k.value ->> 1
                        AND f.schedule_type = 'trigger' AND f.deleted_at IS NULL)
                """),
            arguments: [JSONValue.array(keys.map { .array([.string($0.project), .string($0.type)]) }).jsonText]
        ) { row in listened.append((row[0], row[1])) }
        guard !listened.isEmpty else { return }
        let rows = try Row.fetchAll(
            db.cachedStatement(sql: """
                SELECT r.id, r.task_id, r.project, r.resource_id, r.status, coalesce(t.name, ''),
                    coalesce((SELECT depth FROM events WHERE seq = r.event_seq), 0) + 1
                FROM runs r LEFT JOIN tasks t ON t.id = r.task_id
                WHERE r.id IN (SELECT value FROM json_each(?))
                """),
            arguments: [JSONValue.array(ended.with(eventKeys: listened).map { .string($0.id) }).jsonText])
        guard !rows.isEmpty else { return }
        for row in rows {
            let runID: String = row[0], taskID: String = row[1]
            let status = RunStatus(rawValue: row[4]) ?? .failed
            let event = StoredEvent(
                id: ids.make(at: now), project: row[2], type: EventChain.runEndType(status), resourceID: row[3],
                payload: EventChain.runEndPayload(taskID: taskID, taskName: row[5], runID: runID, status: status, error: errors[runID]),
                receivedAt: now, causedByRun: runID, depth: row[6])
            try fire(event, sourceTaskID: taskID, dedupe: false, storeAlways: false, now: now, db)
        }
    }

    /// A retry keeps the event its failed attempt was fired by (the module sees it again, and
    /// the chain's depth holds across retries).
    func carryEvent(from failedRunID: String, to retryRunID: String, _ db: Database) throws {
        try db.cachedStatement(sql: """
            UPDATE runs SET event_id = f.event_id, event_seq = f.event_seq
            FROM (SELECT event_id, event_seq FROM runs WHERE id = ?) AS f
            WHERE runs.id = ? AND f.event_seq IS NOT NULL
            """).execute(arguments: [failedRunID, retryRunID])
    }

    /// The claimed runs with the events that fired them (one query, only when some were).
    static func withEvents(_ claimed: [ClaimedRun], _ db: Database) throws -> [ClaimedRun] {
        let ids = claimed.filter { $0.run.trigger == .event || $0.run.trigger == .retry }.map { JSONValue.string($0.run.id) }
        guard !ids.isEmpty else { return claimed }
        var events: [String: RunEvent] = [:]
        for row in try Row.fetchAll(
            db.cachedStatement(sql: """
                SELECT r.id, e.id, e.type, e.resource_id, e.payload FROM runs r JOIN events e ON e.seq = r.event_seq
                WHERE r.id IN (SELECT value FROM json_each(?))
                """),
            arguments: [JSONValue.array(ids).jsonText]) {
            let payload: String? = row[4]
            events[row[0]] = RunEvent(id: row[1], type: row[2], resourceID: row[3], payload: try payload.map(JSONValue.fromStored))
        }
        return ClaimedRun.attaching(events, to: claimed)
    }

    public func listEvents(_ filter: EventFilter) async throws -> Page<StoredEvent> {
        var w = Where()
        if let project = filter.project { w.add("project = ?", [project.databaseValue]) }
        if let type = filter.type { w.add("type = ?", [type.databaseValue]) }
        if let resource = filter.resourceID { w.add("resource_id = ?", [resource.databaseValue]) }
        if let after = filter.after { w.add("received_at >= ?", [after.databaseValue]) }
        if let before = filter.before { w.add("received_at < ?", [before.databaseValue]) }
        if let cursor = filter.cursor { w.add("seq < ?", [try PageCursor.decode(cursor).databaseValue]) }
        let sql = """
            SELECT seq, id, project, type, resource_id, payload, received_at, caused_by_run, depth, fired
            FROM events WHERE \(w.sql) ORDER BY seq DESC LIMIT ?
            """
        let arguments = StatementArguments(w.arguments + [(filter.limit + 1).databaseValue])
        let limit = filter.limit
        return try await read { db in
            let rows = try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
                let payload: String? = row[5]
                return StoredEvent(
                    seq: row[0], id: row[1], project: row[2], type: row[3], resourceID: row[4],
                    payload: try payload.map(JSONValue.fromStored), receivedAt: row[6], causedByRun: row[7], depth: row[8],
                    fired: Self.firedIDs(row[9]))
            }
            return Page(overfetched: rows, limit: limit, totalCount: nil, seq: \.seq)
        }
    }

    public func pruneEvents(before receivedBefore: Timestamp, limit: Int) async throws -> Int {
        try await write { db in
            try db.cachedStatement(sql: """
                DELETE FROM events WHERE seq IN (
                    SELECT seq FROM events INDEXED BY events_received WHERE received_at < ? ORDER BY received_at LIMIT ?)
                """).execute(arguments: [receivedBefore, limit])
            return db.changesCount
        }
    }

    static func firedIDs(_ text: String) -> [String] {
        ((try? JSONValue.parse(Array(text.utf8)))?.arrayValue ?? []).compactMap(\.stringValue)
    }
}
