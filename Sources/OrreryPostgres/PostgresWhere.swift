import OrreryCore
import PostgresNIO

/// A WHERE clause built from filters: each value becomes a bound parameter (`$n`), never
/// text in the SQL. Column names are the caller's constants, never request input.
struct PostgresWhere: FilterClauses {
    private(set) var clauses: [String] = []
    private(set) var bindings = PostgresBindings()

    var sql: String { clauses.isEmpty ? "true" : clauses.joined(separator: " AND ") }

    /// Binds `value` and returns its placeholder.
    mutating func bind(_ value: some PostgresDynamicTypeEncodable) -> String {
        bindings.append(value)
        return "$\(bindings.count)"
    }

    mutating func add(_ clause: String) { clauses.append(clause) }

    mutating func equal(_ column: String, _ value: FilterValue) {
        let placeholder = switch value {
        case .text(let text): bind(text)
        case .integer(let number): bind(number)
        case .boolean(let flag): bind(flag)
        }
        add("\(column) = \(placeholder)")
    }

    mutating func among(_ column: String, _ values: [String]) {
        guard !values.isEmpty else { return }
        add("\(column) = ANY(\(bind(values)))")
    }

    /// The task's last status, read as its tasks read it (`PostgresRecords.lastRunSQL`).
    mutating func lastStatusAmong(_ values: [String]) { among(PostgresRecords.lastStatusSQL, values) }

    mutating func before(_ column: String, _ time: Timestamp) { add("\(column) < \(bind(time.microseconds))") }

    mutating func after(_ column: String, _ time: Timestamp) { add("\(column) >= \(bind(time.microseconds))") }

    mutating func contains(_ column: String, _ part: String) { add("strpos(lower(\(column)), lower(\(bind(part)))) > 0") }

    mutating func labels(_ labels: [String: String], column: String) {
        for (key, value) in labels.sorted(by: { $0.key < $1.key }) {
            add("(\(column)::jsonb ->> \(bind(key))) = \(bind(value))")
        }
    }

    /// The inner clauses share this clause's placeholders, so they are built on it and then
    /// folded into one.
    mutating func taskMatching(_ build: (inout PostgresWhere) -> Void) {
        let before = clauses.count
        build(&self)
        guard clauses.count > before else { return }
        let inner = clauses[before...].joined(separator: " AND ")
        clauses.removeSubrange(before...)
        clauses.append("task_id IN (SELECT id FROM tasks WHERE \(inner))")
    }

    static func jsonText(_ column: String, key: String) -> String { "(\(column)::jsonb ->> '\(key)')" }

    /// The statement `sql(whereClause)` with this clause's bindings, plus `extra` values
    /// bound after them (`sql` receives their placeholders).
    func query(_ extra: [Int64] = [], _ sql: (_ where: String, _ extra: [String]) -> String) -> PostgresQuery {
        var bindings = self.bindings
        var placeholders: [String] = []
        for value in extra {
            bindings.append(value)
            placeholders.append("$\(bindings.count)")
        }
        return PostgresQuery(unsafeSQL: sql(self.sql, placeholders), binds: bindings)
    }
}
