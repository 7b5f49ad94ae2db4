import GRDB
import OrreryCore

/// A WHERE clause built from filters, with its values bound as arguments (never spliced
/// into the SQL text). Column names are the caller's constants, never request input.
struct Where {
    private(set) var clauses: [String] = []
    private(set) var arguments: [DatabaseValue] = []

    var sql: String { clauses.isEmpty ? "1" : clauses.joined(separator: " AND ") }

    mutating func add(_ clause: String, _ values: [DatabaseValue] = []) {
        clauses.append(clause)
        arguments += values
    }

    mutating func add(_ clause: String, _ value: some DatabaseValueConvertible) {
        add(clause, [value.databaseValue])
    }

    mutating func equal(_ column: String, _ value: (some DatabaseValueConvertible)?) {
        if let value { add("\(column) = ?", value) }
    }

    mutating func among(_ column: String, _ values: [String]) {
        guard !values.isEmpty else { return }
        add("\(column) IN (\(Array(repeating: "?", count: values.count).joined(separator: ",")))", values.map(\.databaseValue))
    }

    mutating func before(_ column: String, _ time: Timestamp?) {
        if let time { add("\(column) < ?", time) }
    }

    mutating func after(_ column: String, _ time: Timestamp?) {
        if let time { add("\(column) >= ?", time) }
    }

    /// Every `key: value` pair must be in the JSON object stored in `column`.
    mutating func labels(_ labels: [String: String], column: String) {
        for (key, value) in labels.sorted(by: { $0.key < $1.key }) {
            add("EXISTS (SELECT 1 FROM json_each(\(column)) WHERE json_each.key = ? AND json_each.value = ?)", [key.databaseValue, value.databaseValue])
        }
    }
}
