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
        add("\(column) IN (\(Array(repeating: "?", count: values.count).joined(separator: ",")))", values.map(\.databaseValue))
    }

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
    static var taskLastStatus: String { Records.lastStatusSQL }
}
