import Foundation
import GRDB
import GRDBSQLite
import Synchronization
import OrreryCore

/// Row ↔ model mapping for tasks, runs and log entries.
enum Records {
    static let taskColumns = """
        seq, id, project, name, description, module, params, resource_id, labels, schedule, enabled, queue,
        priority, timeout_sec, retry, overlap, misfire, notify, owner, created_at, updated_at, version,
        \(lastRunSQL) AS last_run, deleted_at,
        (SELECT min(r.scheduled_at) FROM runs r INDEXED BY runs_task
         WHERE r.task_id = tasks.id AND r.seq >= tasks.open_seq AND r.status = 'scheduled') AS next_run_at
        """

    /// A task's last run, as `'<start> <end> <seq> <status>'` (the numbers 20 digits each;
    /// NULL when it has none): read from its runs, so that no run's end writes its task row
    /// (issue 16: in a store of scattered tasks that write was the largest cost of a run,
    /// `Benchmarks/sqlite.md`). The newest-started ended run, ties to the later end; a failure
    /// that was retried leaves it to its next attempt. A text, so that one scan gives every
    /// value and `max` picks the newest without a sort. (`runs.retried`: migration v14.)
    ///
    /// Only runs from the task's `open_seq` on are read: a bound below every open run and
    /// at or below the last run when it last moved (`SQLiteStore.advanceOpenSeq`), so every
    /// run that has ended since is above it too. Runs that pruning deleted left their task's
    /// last run in `tasks.last_run_at` and `last_status` (`keepLastRuns`); the newer of the two
    /// is the last run (`lastRunSQL`).
    static let lastRunOfRunsSQL = """
        (SELECT max(printf('%020d %020d %020d %s', coalesce(r.started_at, r.finished_at), r.finished_at, r.seq, r.status))
         \(lastRunCandidates))
        """

    /// The runs `lastRunOfRunsSQL` picks a task's last run from (as `r`): ended, not retried,
    /// from the task's `open_seq` on.
    static let lastRunCandidates = """
        FROM runs r INDEXED BY runs_task
         WHERE r.task_id = tasks.id AND r.seq >= tasks.open_seq AND r.finished_at IS NOT NULL AND r.retried = 0
        """

    /// A task's last run (`lastRunOfRunsSQL`), or what pruning kept of it, whichever is newer.
    static let lastRunSQL = """
        nullif(max(coalesce(\(lastRunOfRunsSQL), ''),
            CASE WHEN tasks.last_status IS NULL THEN ''
                 ELSE printf('%020d %020d %020d %s', tasks.last_run_at, 0, 0, tasks.last_status) END), '')
        """

    /// The parts of a `lastRunOfRunsSQL` / `lastRunSQL` text, as SQL expressions of `key`.
    static func lastRunStart(_ key: String) -> String { "CAST(substr(\(key), 1, 20) AS INTEGER)" }
    static func lastRunSeq(_ key: String) -> String { "CAST(substr(\(key), 43, 20) AS INTEGER)" }
    static func lastRunStatus(_ key: String) -> String { "substr(\(key), 64)" }

    /// A task's last status (`lastRunSQL`), for a filter.
    static let lastStatusSQL = lastRunStatus(lastRunSQL)

    /// The start and status of `lastRunSQL`'s text.
    static func lastRun(_ text: String?) -> (at: Timestamp, status: RunStatus)? {
        guard var text else { return nil }
        // By UTF-8 offsets: `prefix` and `dropFirst` of the `String` walk it by characters.
        return text.withUTF8 { bytes -> (at: Timestamp, status: RunStatus)? in
            guard bytes.count > 63, let micros = Int64(decimal: UnsafeBufferPointer(rebasing: bytes[..<20])),
                  let status = RunStatus(rawValue: String(decoding: UnsafeBufferPointer(rebasing: bytes[63...]), as: UTF8.self))
            else { return nil }
            return (Timestamp(microseconds: micros), status)
        }
    }

    /// Decodes each row of `statement` where SQLite holds it. `Row.fetchAll` and `fetchOne`
    /// first copy every column into a `Row` of their own, and decoding from that copy goes
    /// through `DatabaseValue`: together most of a GET by id's store time (issue 16).
    /// `decode` must not keep its row, which the next step reuses.
    static func decodeAll<T>(_ statement: Statement, arguments: StatementArguments, _ decode: (Row) throws -> T) throws -> [T] {
        var items: [T] = []
        try forEachRow(statement, arguments: arguments) { items.append(try decode($0)) }
        return items
    }

    /// Calls `body` with each row of `statement` where SQLite holds it (see `decodeAll`).
    static func forEachRow(_ statement: Statement, arguments: StatementArguments, _ body: (Row) throws -> Void) throws {
        let cursor = try Row.fetchCursor(statement, arguments: arguments)
        while let row = try cursor.next() { try body(row) }
    }

    /// The first row of `statement` (read-only), decoded from the statement as it is stepped
    /// (`StatementColumns`): a point read by id makes no `Row`, whose making names every
    /// column again (a lowercased copy of each name, in a new dictionary: about 27,000
    /// instructions of a GET /v1/tasks/{id}, issue 16).
    static func decodeFirst<T>(
        _ statement: Statement, arguments: StatementArguments, _ decode: (StatementColumns) throws -> T
    ) throws -> T? {
        precondition(statement.isReadonly, "decodeFirst steps read-only statements only")
        try statement.setArguments(arguments)  // resets the statement, then binds
        let sqlite = statement.sqliteStatement
        defer { sqlite3_reset(sqlite) }
        switch sqlite3_step(sqlite) {
        case SQLITE_ROW: return try decode(StatementColumns(sqlite: sqlite))
        case SQLITE_DONE: return nil
        case let code: throw stepFailure(code, of: statement)
        }
    }

    /// The error of a step of `statement` that SQLite failed with `code`, as GRDB reports one.
    static func stepFailure(_ code: CInt, of statement: Statement) -> DatabaseError {
        DatabaseError(
            resultCode: ResultCode(rawValue: code),
            message: String(cString: sqlite3_errmsg(sqlite3_db_handle(statement.sqliteStatement))), sql: statement.sql)
    }

    /// A task from a row of `taskColumns`, with what `cache` holds of the row at its version:
    /// only `rowState` is decoded again.
    static func task(_ row: some PositionalColumns, cache: TaskDecodeCache) throws -> ScheduledTask {
        var task = try cache.task(seq: row[0], version: row[21], updatedAt: row[20]) { try versioned(row) }
        rowState(of: row, into: &task)
        return task
    }

    /// A task from a row of `taskColumns`, by position: by name, GRDB looks each column up
    /// case-insensitively (a `lowercased()` per column), which was most of a GET task's decode.
    static func task(_ row: some PositionalColumns) throws -> ScheduledTask {
        var task = try versioned(row)
        rowState(of: row, into: &task)
        return task
    }

    /// What a task's version names (`TaskDecodeCache`): every column but `rowState`'s.
    private static func versioned(_ row: some PositionalColumns) throws -> ScheduledTask {
        let labelsJSON = try JSONValue.fromStored(row[8])
        var labels: [String: String] = [:]
        for (k, v) in labelsJSON.objectValue ?? [:] { labels[k] = v.stringValue }
        let notifyText: String? = row[17]
        return ScheduledTask(
            id: row[1], seq: row[0], project: row[2], name: row[3],
            description: row[4], module: row[5],
            params: try JSONValue.fromStored(row[6]), resourceID: row[7], labels: labels,
            schedule: try Schedule.parse(try JSONValue.fromStored(row[9]), now: .epoch),
            queue: row[11], priority: row[12], timeoutSec: row[13],
            retry: try RetryPolicy.parse(try JSONValue.fromStored(row[14]), path: "retry"),
            overlap: OverlapPolicy(rawValue: row[15]) ?? .skip,
            misfire: try MisfirePolicy.parse(try JSONValue.fromStored(row[16]), path: "misfire"),
            notify: try notifyText.map(JSONValue.fromStored), owner: row[18],
            createdAt: row[19], updatedAt: row[20], version: row[21])
    }

    /// The columns of a task row that change without a new version: `enabled` and `deleted_at`
    /// (a delete), and its last and next run (read from its runs).
    private static func rowState(of row: some PositionalColumns, into task: inout ScheduledTask) {
        let last = lastRun(row[22])
        task.enabled = row[10]
        task.nextRunAt = row[24]
        task.lastRunAt = last?.at
        task.lastStatus = last?.status
        task.deletedAt = row[23]
    }

    static func taskArguments(_ t: ScheduledTask) -> StatementArguments {
        [
            t.id, t.project, t.name, t.description, t.module, t.params.jsonText, t.resourceID,
            JSONValue.object(t.labels.mapValues { .string($0) }).jsonText, t.schedule.json.jsonText, t.schedule.typeName,
            t.enabled, t.queue, t.priority, t.timeoutSec, t.retry.json.jsonText, t.overlap.rawValue,
            t.misfire.json.jsonText, t.notify?.jsonText, t.owner, t.createdAt, t.updatedAt, t.version,
        ]
    }

    static let insertTaskSQL = """
        INSERT INTO tasks (id, project, name, description, module, params, resource_id, labels, schedule, schedule_type,
            enabled, queue, priority, timeout_sec, retry, overlap, misfire, notify, owner, created_at, updated_at, version)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """

    static let runColumns = """
        seq, id, task_id, project, module, resource_id, attempt, status, trigger, performed_by, slot, scheduled_at,
        started_at, finished_at, canceled_at, updated_at, priority, progress_percent, progress_message, result,
        error_code, error_message, node, lease_expires_at, dismissed_by, dismissed_at, queue, event_id
        """

    /// Decodes a row selected with `runColumns`, by position (the hot path: claims and lists).
    static func run(_ row: some PositionalColumns) throws -> TaskRun {
        var run = try positionalRun(row)
        run.eventID = row[27]  // event_id, the last of runColumns
        return run
    }

    private static func positionalRun(_ row: some PositionalColumns) throws -> TaskRun {
        let percent: Double? = row[17]
        let message: String? = row[18]
        let resultText: String? = row[19]
        let errorCode: String? = row[20]
        return TaskRun(
            id: row[1], seq: row[0], taskID: row[2], project: row[3], module: row[4],
            resourceID: row[5], attempt: row[6],
            status: RunStatus(rawValue: row[7]) ?? .failed,
            trigger: RunTrigger(rawValue: row[8]) ?? .schedule, performedBy: row[9],
            slot: row[10], scheduledAt: row[11], startedAt: row[12],
            finishedAt: row[13], canceledAt: row[14], priority: row[16], queue: row[26],
            updatedAt: row[15],
            progress: (percent == nil && message == nil) ? nil : RunProgress(percent: percent, message: message),
            result: try resultText.map(JSONValue.fromStored),
            error: errorCode.map { RunError(code: $0, message: row[21] ?? "") },
            node: row[22], leaseExpiresAt: row[23],
            dismissedBy: row[24], dismissedAt: row[25])
    }

    static let insertRunColumns = """
        INSERT OR IGNORE INTO runs (id, task_id, project, module, resource_id, attempt, status, trigger, performed_by,
            slot, scheduled_at, updated_at, priority, finished_at, result, queue)
        VALUES
        """

    /// Binds one row of `insertRunColumns` (16 columns).
    static func bindInsertValues(_ run: TaskRun, into bindings: inout Bindings) {
        bindings.add(
            run.id, run.taskID, run.project, run.module, run.resourceID, run.attempt, run.status.rawValue,
            run.trigger.rawValue, run.performedBy, run.slot, run.scheduledAt, run.updatedAt, run.priority,
            run.finishedAt, run.result?.jsonText, run.queue)
    }

    /// Inserts a scheduled run; returns false when its slot already exists (it never fires twice).
    @discardableResult
    static func insert(_ run: TaskRun, _ db: Database) throws -> Bool {
        try insert(CollectionOfOne(run), db)
        return db.changesCount > 0
    }

    /// Inserts runs with multi-row statements of up to `rowsPerStatement` rows, their values
    /// bound as they are (no JSON to write and parse again per column); a slot that already
    /// has a run keeps it.
    static func insert(_ runs: some Collection<TaskRun>, _ db: Database) throws {
        try forEachChunk(of: runs, columns: 16) { placeholders, chunk in
            var bindings = Bindings(try db.cachedStatement(sql: insertRunColumns + " " + placeholders))
            for run in chunk { bindInsertValues(run, into: &bindings) }
            try bindings.execute()
        }
    }

    /// Calls `body` with chunks of `items` of at most 100 rows, each with its rows'
    /// placeholders for a multi-row `VALUES`: `columns` numbered ones per row, after the
    /// `constants` that the statement names itself as `?1…?constants` — for 2 columns after
    /// 3 constants, `(?4, ?5), (?6, ?7), …`. The body binds the constants first, then the rows.
    /// Rows bound as they are, never a JSON text that SQL must parse again per column. One
    /// cached statement per chunk size: the full size and at most one remainder.
    static func forEachChunk<C: Collection>(
        of items: C, columns: Int, constants: Int = 0, _ body: (_ placeholders: String, _ chunk: C.SubSequence) throws -> Void
    ) throws {
        var rest = items[...]
        while !rest.isEmpty {
            let chunk = rest.prefix(100)
            rest = rest.dropFirst(chunk.count)
            try body(placeholders(rows: chunk.count, columns: columns, constants: constants), chunk)
        }
    }

    /// `forEachChunk`'s placeholder text, made once per shape (a claim or a record asks for
    /// the same few on every call).
    private static func placeholders(rows: Int, columns: Int, constants: Int) -> String {
        let shape = [rows, columns, constants]
        if let made = placeholderTexts.withLock({ $0[shape] }) { return made }
        let made = (0..<rows).map { row in
            "(" + (0..<columns).map { "?\(constants + row * columns + $0 + 1)" }.joined(separator: ", ") + ")"
        }.joined(separator: ", ")
        placeholderTexts.withLock { $0[shape] = made }
        return made
    }

    private static let placeholderTexts = Mutex<[[Int]: String]>([:])

    static func logEntry(_ row: Row) -> LogEntry {
        LogEntry(
            runID: row["run_id"], idx: row["idx"], level: LogEntry.Level(rawValue: row["level"]) ?? .info,
            message: row["msg"], progressPercent: row["progress_percent"], timestamp: row["timestamp"])
    }
}

/// Tasks as decoded from their rows, by row and version: a task's JSON columns (params,
/// labels, schedule, retry, misfire, notify) are parsed once per version, not at every read
/// (issue 16: parsing them was about half of a GET /v1/tasks/{id}'s store time).
///
/// A row's `version` and `updated_at` name one state of its columns but the run-derived ones
/// (last and next run), `enabled` and `deleted_at`, which are decoded at every read: every
/// change of a task through `TaskInput` sets a new version, a delete a new `updated_at`. The
/// store forgets a task when it writes it, too, for a caller that keeps the version. Only
/// reads of committed data fill it (`pointRead`, the readers), so a state that a rolled-back
/// write saw never gets in. Bounded: when full it starts again empty.
final class TaskDecodeCache: Sendable {
    static let capacity = 4_096
    private let entries = Mutex<[Int64: (version: Int64, updatedAt: Timestamp, task: ScheduledTask)]>([:])

    func task(seq: Int64, version: Int64, updatedAt: Timestamp, decode: () throws -> ScheduledTask) throws -> ScheduledTask {
        if let entry = entries.withLock({ $0[seq] }), entry.version == version, entry.updatedAt == updatedAt { return entry.task }
        let task = try decode()
        entries.withLock { e in
            if e.count >= Self.capacity { e.removeAll(keepingCapacity: true) }
            e[seq] = (version, updatedAt, task)
        }
        return task
    }

    /// The task of row `seq` was written.
    func forget(seq: Int64) {
        _ = entries.withLock { $0.removeValue(forKey: seq) }
    }
}

extension Int64 {
    /// The value of `digits`, optionally signed decimal digits (`printf('%020d')`'s), or nil.
    init?(decimal digits: UnsafeBufferPointer<UInt8>) {
        var rest = digits[...]
        let negative = rest.first == UInt8(ascii: "-")
        if negative { rest = rest.dropFirst() }
        guard !rest.isEmpty else { return nil }
        var value: Int64 = 0
        for byte in rest {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(Int64(byte - UInt8(ascii: "0")))
            guard !o1, !o2 else { return nil }
            value = sum
        }
        self = negative ? -value : value
    }
}

/// The columns of a row by position, as `Records`' decoders read them: GRDB's `Row`, or
/// `StatementColumns`. Read with the same two subscripts `Row` has (the extension below): the
/// second, for values SQLite hands over without a `DatabaseValue` (strings, integers), is the
/// one picked for them.
protocol PositionalColumns {
    func value<Value: DatabaseValueConvertible>(at index: Int) -> Value
    func fastValue<Value: DatabaseValueConvertible & StatementColumnConvertible>(at index: Int) -> Value
}

extension PositionalColumns {
    subscript<Value: DatabaseValueConvertible>(_ index: Int) -> Value { value(at: index) }
    subscript<Value: DatabaseValueConvertible & StatementColumnConvertible>(_ index: Int) -> Value { fastValue(at: index) }
}

extension Row: PositionalColumns {
    func value<Value: DatabaseValueConvertible>(at index: Int) -> Value { self[index] }
    func fastValue<Value: DatabaseValueConvertible & StatementColumnConvertible>(at index: Int) -> Value { self[index] }
}

/// The current row of a statement being stepped (`Records.decodeFirst`). A value that
/// does not convert stops the process, as `Row`'s subscripts do: the columns are ours.
struct StatementColumns: PositionalColumns {
    let sqlite: SQLiteStatement

    func value<Value: DatabaseValueConvertible>(at index: Int) -> Value {
        let value = DatabaseValue(sqliteStatement: sqlite, index: CInt(index))
        guard let converted = Value.fromDatabaseValue(value) else {
            fatalError("column \(index): \(value) is not a \(Value.self)")
        }
        return converted
    }

    func fastValue<Value: DatabaseValueConvertible & StatementColumnConvertible>(at index: Int) -> Value {
        guard let value = Value.fromStatement(sqlite, atUncheckedIndex: CInt(index)) else {
            fatalError("column \(index): \(DatabaseValue(sqliteStatement: sqlite, index: CInt(index))) is not a \(Value.self)")
        }
        return value
    }
}
