import GRDB
import OrreryCore

/// A WHERE clause built from filters, with its values bound as arguments (never spliced
/// into the SQL text). Column names are the caller's constants, never request input.
struct Where: FilterClauses {
    private(set) var clauses: [String] = []
    private(set) var arguments: [DatabaseValue] = []

    var sql: String { clauses.isEmpty ? "1" : clauses.joined(separator: " AND ") }

    mutating func add(_ clause: String, _ values: [DatabaseValue]) {
        clauses.append(clause)
        arguments += values
    }

    mutating func add(_ clause: String) { add(clause, []) }

    mutating func equal(_ column: String, _ value: FilterValue) {
        let bound: DatabaseValue = switch value {
        case .text(let text): text.databaseValue
        case .integer(let number): number.databaseValue
        case .boolean(let flag): flag.databaseValue
        }
        add("\(column) = ?", [bound])
    }

    mutating func among(_ column: String, _ values: [String]) {
        guard !values.isEmpty else { return }
        add("\(column) IN \(Self.list(values.count))", values.map(\.databaseValue))
    }

    /// `(?,?,…)` with `count` placeholders, for `IN`.
    private static func list(_ count: Int) -> String { "(" + Array(repeating: "?", count: count).joined(separator: ",") + ")" }

    mutating func before(_ column: String, _ time: Timestamp) { add("\(column) < ?", [time.databaseValue]) }

    mutating func after(_ column: String, _ time: Timestamp) { add("\(column) >= ?", [time.databaseValue]) }

    mutating func contains(_ column: String, _ part: String) { add("instr(lower(\(column)), lower(?)) > 0", [part.databaseValue]) }

    mutating func labels(_ labels: [String: String], column: String) {
        for (key, value) in labels.sorted(by: { $0.key < $1.key }) {
            add("EXISTS (SELECT 1 FROM json_each(\(column)) WHERE json_each.key = ? AND json_each.value = ?)", [key.databaseValue, value.databaseValue])
        }
    }

    mutating func taskMatching(_ build: (inout Where) -> Void) {
        var inner = Where()
        build(&inner)
        guard !inner.clauses.isEmpty else { return }
        add("task_id IN (SELECT id FROM tasks WHERE \(inner.sql))", inner.arguments)
    }

    static func jsonText(_ column: String, key: String) -> String { "json_extract(\(column), '$.\(key)')" }

    /// Read from the task's runs (`Records.lastRunSQL`): no run's end writes its task row.
    /// That read costs about 4.6 µs per task scanned (the `sqlite3` module, 4 runs above each
    /// task's bound), and a filter that few tasks match scans them all. So each task is first
    /// asked whether it could match at all, which most cannot: its kept status is one of
    /// `values`, or one of its runs from the bound on ended so (the runs' rows, no text
    /// built), about 1.8 µs per task. `CASE` keeps that order.
    mutating func lastStatusAmong(_ values: [String]) {
        let list = Self.list(values.count)
        add("""
            CASE WHEN tasks.last_status IN \(list) OR EXISTS (SELECT 1 \(Records.lastRunCandidates) AND r.status IN \(list))
                THEN \(Records.lastStatusSQL) IN \(list) ELSE 0 END
            """, Array(repeating: values.map(\.databaseValue), count: 3).flatMap { $0 })
    }
}
