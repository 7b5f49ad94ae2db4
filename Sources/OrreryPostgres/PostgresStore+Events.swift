import Logging
public import OrreryCore
import PostgresNIO

extension PostgresStore: EventStore {
    public func acceptEvents(_ events: [IncomingEvent], project: String, now: Timestamp, replaySince: Timestamp) async throws -> [EventAnswer] {
        try await transaction { connection in
            var answers: [EventAnswer] = []
            var firedAny = false
            for incoming in events {
                let id = incoming.id ?? self.ids.make(at: now)
                // An id seen within the replay window answers as it did; an older one is forgotten.
                try await connection.execute("""
                    UPDATE events SET dedupe_key = NULL
                    WHERE project = \(project) AND dedupe_key = \(id) AND received_at < \(replaySince.microseconds)
                    """, logger: self.logger)
                let event = StoredEvent(
                    id: id, project: project, type: incoming.type, resourceID: incoming.resourceID, payload: incoming.payload,
                    receivedAt: now)
                if let fired = try await self.fire(event, sourceTaskID: nil, dedupe: true, storeAlways: true, now: now, connection) {
                    answers.append(EventAnswer(id: id, fired: fired))
                    firedAny = firedAny || !fired.isEmpty
                    continue
                }
                // Accepted before (or by a request committing this instant, which the insert waited for).
                guard let row = try await connection.rows(
                    "SELECT id, fired FROM events WHERE project = \(project) AND dedupe_key = \(id)", logger: self.logger).first
                else { throw OrreryError(.conflict, "event \"\(id)\" is being accepted by another request", field: "id") }
                answers.append(EventAnswer(
                    id: try row[0].decode(String.self), fired: Self.firedIDs(try row[1].decode(String.self)), replayed: true))
            }
            if firedAny { try await self.notifyDue(connection) }
            return answers
        }
    }

    /// Stores `event` with the run of every trigger task it matches, inside the caller's
    /// transaction, and returns the runs' ids; nil when `dedupe` found the id already taken.
    /// With `storeAlways` false (run ends) the event is stored only when a trigger task waits
    /// for its type.
    func fire(
        _ event: StoredEvent, sourceTaskID: String?, dedupe: Bool, storeAlways: Bool, now: Timestamp, _ connection: PostgresConnection
    ) async throws -> [String]? {
        let candidates = try await triggerCandidates(project: event.project, type: event.type, connection)
        let runs = candidates.compactMap { $0.run(for: event, sourceTaskID: sourceTaskID, now: now, id: ids.make(at: now)) }
        // A chain cut at its depth bound is kept, so the cut shows in `GET /v1/events`.
        guard storeAlways || !runs.isEmpty || (!candidates.isEmpty && event.depth > EventChain.maxDepth) else { return [] }
        let fired = runs.map(\.id)
        let rows = JSONValue.array(runs.map { run in
            .object([
                "id": .string(run.id), "task_id": .string(run.taskID), "module": .string(run.module),
                "resource_id": run.resourceID.map(JSONValue.string) ?? .null, "scheduled_at": .int(run.scheduledAt.microseconds),
                "priority": .int(run.priority), "queue": .string(run.queue),
            ])
        })
        // One statement: the event (unless its id is taken) and its runs, which need its seq.
        let inserted = try await connection.rows("""
            WITH e AS (
                INSERT INTO events (id, project, type, resource_id, payload, received_at, caused_by_run, depth, fired, dedupe_key)
                VALUES (\(event.id), \(event.project), \(event.type), \(event.resourceID), \(event.payload?.jsonText),
                    \(event.receivedAt.microseconds), \(event.causedByRun), \(event.depth),
                    \(JSONValue.array(fired.map(JSONValue.string)).jsonText), \(dedupe ? event.id : nil))
                ON CONFLICT (project, dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING
                RETURNING seq),
            r AS (
                INSERT INTO runs (id, task_id, project, module, resource_id, attempt, status, trigger, scheduled_at, updated_at,
                    priority, queue, event_id, event_seq)
                SELECT r.id, r.task_id, \(event.project), r.module, r.resource_id, 1, 'scheduled', 'event', r.scheduled_at,
                    \(now.microseconds), r.priority, r.queue, \(event.id), e.seq
                FROM e, jsonb_to_recordset(\(rows.jsonText)::jsonb) AS r(id text, task_id text, module text, resource_id text,
                    scheduled_at bigint, priority bigint, queue text)
                RETURNING 1)
            SELECT seq FROM e
            """, logger: logger)
        return inserted.isEmpty ? nil : fired
    }

    /// The trigger tasks of `project` waiting for events of `type`: one index seek.
    func triggerCandidates(project: String, type: String, _ connection: PostgresConnection) async throws -> [TriggerCandidate] {
        try await connection.rows("""
            SELECT id, project, module, resource_id, queue, enabled, schedule FROM tasks
            WHERE project = \(project) AND (schedule::jsonb ->> 'event') = \(type) AND schedule_type = 'trigger' AND deleted_at IS NULL
            """, logger: logger).map { row in
            TriggerCandidate(
                taskID: try row[0].decode(String.self), project: try row[1].decode(String.self), module: try row[2].decode(String.self),
                resourceID: try row[3].decode(String?.self), queue: try row[4].decode(String.self), enabled: try row[5].decode(Bool.self),
                schedule: try Schedule.parse(try JSONValue.fromStored(try row[6].decode(String.self)), now: .epoch))
        }
    }

    /// Run ends are events `run.<status>`: they fire the trigger tasks that follow them, in
    /// the transaction that ends the runs. First one seek of `tasks_trigger_event` for each
    /// distinct project and status of the batch; the runs are read only when a trigger task
    /// waits for some of them, so a batch no trigger task follows reads no run and stores
    /// nothing. Returns how many runs were fired.
    func emitRunEnds(_ ended: [RunEndRef], errors: [String: RunError], now: Timestamp, _ connection: PostgresConnection) async throws -> Int {
        guard !ended.isEmpty else { return 0 }
        let keys = ended.eventKeys
        let listened = try await connection.rows(Hot.RunEndListeners.self, """
            SELECT k.project, k.type FROM unnest(\(keys.map(\.project))::text[], \(keys.map(\.type))::text[]) AS k(project, type)
            WHERE EXISTS (
                SELECT 1 FROM tasks f WHERE f.project = k.project AND (f.schedule::jsonb ->> 'event') = k.type
                    AND f.schedule_type = 'trigger' AND f.deleted_at IS NULL)
            """, logger: logger).map { (project: try $0[0].decode(String.self), type: try $0[1].decode(String.self)) }
        guard !listened.isEmpty else { return 0 }
        let rows = try await connection.rows(Hot.RunEndTriggers.self, """
            SELECT r.id, r.task_id, r.project, r.resource_id, r.status, coalesce(t.name, ''),
                coalesce((SELECT depth FROM events WHERE seq = r.event_seq), 0) + 1
            FROM runs r LEFT JOIN tasks t ON t.id = r.task_id
            WHERE r.id = ANY(\(ended.with(eventKeys: listened).map(\.id)))
            """, logger: logger)
        guard !rows.isEmpty else { return 0 }
        var fired = 0
        for row in rows {
            let runID = try row[0].decode(String.self), taskID = try row[1].decode(String.self)
            let status = RunStatus(rawValue: try row[4].decode(String.self)) ?? .failed
            let event = StoredEvent(
                id: ids.make(at: now), project: try row[2].decode(String.self), type: EventChain.runEndType(status),
                resourceID: try row[3].decode(String?.self),
                payload: EventChain.runEndPayload(
                    taskID: taskID, taskName: try row[5].decode(String.self), runID: runID, status: status, error: errors[runID]),
                receivedAt: now, causedByRun: runID, depth: try row[6].decode(Int64.self))
            fired += try await fire(event, sourceTaskID: taskID, dedupe: false, storeAlways: false, now: now, connection)?.count ?? 0
        }
        return fired
    }

    /// Retries keep the event their failed attempt was fired by (the module sees it again,
    /// and a chain's depth holds across retries). `retries`: retry run id by failed run id.
    func carryEvents(_ retries: [String: String], _ connection: PostgresConnection) async throws {
        guard !retries.isEmpty else { return }
        let pairs = JSONValue.array(retries.map { .object(["failed": .string($0.key), "retry": .string($0.value)]) })
        try await connection.execute("""
            UPDATE runs SET event_id = f.event_id, event_seq = f.event_seq
            FROM jsonb_to_recordset(\(pairs.jsonText)::jsonb) AS p(failed text, retry text)
            JOIN runs f ON f.id = p.failed
            WHERE runs.id = p.retry AND f.event_seq IS NOT NULL
            """, logger: logger)
    }

    /// The claimed runs with the events that fired them (one query, only when some were).
    func withEvents(_ claimed: [ClaimedRun], _ connection: PostgresConnection) async throws -> [ClaimedRun] {
        let ids = claimed.filter { $0.run.trigger == .event || $0.run.trigger == .retry }.map(\.run.id)
        guard !ids.isEmpty else { return claimed }
        var events: [String: RunEvent] = [:]
        for row in try await connection.rows("""
            SELECT r.id, e.id, e.type, e.resource_id, e.payload FROM runs r JOIN events e ON e.seq = r.event_seq
            WHERE r.id = ANY(\(ids))
            """, logger: logger) {
            events[try row[0].decode(String.self)] = RunEvent(
                id: try row[1].decode(String.self), type: try row[2].decode(String.self), resourceID: try row[3].decode(String?.self),
                payload: try row[4].decode(String?.self).map(JSONValue.fromStored))
        }
        return ClaimedRun.attaching(events, to: claimed)
    }

    public func listEvents(_ filter: EventFilter) async throws -> Page<StoredEvent> {
        var w = PostgresWhere()
        if let project = filter.project { w.add("project = \(w.bind(project))") }
        if let type = filter.type { w.add("type = \(w.bind(type))") }
        if let resource = filter.resourceID { w.add("resource_id = \(w.bind(resource))") }
        if let after = filter.after { w.add("received_at >= \(w.bind(after.microseconds))") }
        if let before = filter.before { w.add("received_at < \(w.bind(before.microseconds))") }
        if let cursor = filter.cursor { w.add("seq < \(w.bind(try PageCursor.decode(cursor)))") }
        let limit = filter.limit
        let query = w.query([Int64(limit + 1)]) { conditions, p in
            """
            SELECT seq, id, project, type, resource_id, payload, received_at, caused_by_run, depth, fired
            FROM events WHERE \(conditions) ORDER BY seq DESC LIMIT \(p[0])
            """
        }
        return try await withConnection { connection in
            let rows = try await connection.rows(query, logger: self.logger).map { row in
                StoredEvent(
                    seq: try row[0].decode(Int64.self), id: try row[1].decode(String.self), project: try row[2].decode(String.self),
                    type: try row[3].decode(String.self), resourceID: try row[4].decode(String?.self),
                    payload: try row[5].decode(String?.self).map(JSONValue.fromStored),
                    receivedAt: Timestamp(microseconds: try row[6].decode(Int64.self)), causedByRun: try row[7].decode(String?.self),
                    depth: try row[8].decode(Int64.self), fired: Self.firedIDs(try row[9].decode(String.self)))
            }
            return Page(overfetched: rows, limit: limit, totalCount: nil, seq: \.seq)
        }
    }

    public func pruneEvents(before receivedBefore: Timestamp, limit: Int) async throws -> Int {
        try await withConnection { connection in
            try await connection.execute("""
                DELETE FROM events WHERE seq IN (
                    SELECT seq FROM events WHERE received_at < \(receivedBefore.microseconds) ORDER BY received_at LIMIT \(Int64(limit)))
                RETURNING 1
                """, logger: self.logger)
        }
    }

    static func firedIDs(_ text: String) -> [String] {
        ((try? JSONValue.parse(Array(text.utf8)))?.arrayValue ?? []).compactMap(\.stringValue)
    }
}
