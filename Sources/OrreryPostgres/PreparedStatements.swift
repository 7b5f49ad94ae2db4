import Logging
import OrreryCore
import PostgresNIO
import Synchronization

/// The hot path's statements, each planned once per connection instead of on every call.
///
/// A claim or a record of a batch is a handful of statements, and on a small batch most of
/// each statement's server time was parse and plan: 27% of the server's time in the
/// PostgreSQL throughput benchmark (`pg_stat_statements` with `track_planning`). PostgresNIO
/// prepares a `PostgresPreparedStatement` by name on a connection's first use and then only
/// binds and executes it; the server keeps a generic plan once it is no worse than the
/// custom ones (`plan_cache_mode = auto`).
///
/// A statement is written as any other (`PostgresQuery` interpolation binds its values) and
/// named by a marker type of `Hot`. Its text is the first call's; every later call must
/// build the same text, or it fails as an internal error, so a statement whose text varies
/// (a list spelled into the SQL) cannot be prepared by mistake.
enum Hot {
    enum Due {}
    enum ClaimTasks {}
    enum BusyTasks {}
    enum ApplyClaim {}
    enum EndRuns {}
    enum RunEndTriggers {}
    enum RunEndListeners {}
    enum LockTasks {}
    enum ReleaseHeld {}
    enum NotifiedRuns {}
    enum NotifyingTasks {}
    enum InsertRuns {}
    enum NotifyDue {}
    enum RenewLeases {}
    enum Progress {}
    enum InsertLogs {}
}

/// The text each prepared statement was first built with, by name.
private let preparedTexts = Mutex<[String: String]>([:])

struct Prepared<Name>: PostgresPreparedStatement {
    typealias Row = PostgresRow
    static var name: String { "orrery." + String(describing: Name.self) }
    static var sql: String { preparedTexts.withLock { $0[name] } ?? "" }

    let bindings: PostgresBindings

    init(_ query: PostgresQuery) throws {
        let name = Self.name
        let known = preparedTexts.withLock { texts in
            if let known = texts[name] { return known }
            texts[name] = query.sql
            return query.sql
        }
        guard known == query.sql else {
            throw OrreryError(.internal, "the prepared statement \(name) was built with another text")
        }
        bindings = query.binds
    }

    func makeBindings() -> PostgresBindings { bindings }
    func decodeRow(_ row: PostgresRow) -> PostgresRow { row }
}

extension PostgresConnection {
    /// Runs `query` as the prepared statement `name` and collects its rows.
    @discardableResult
    func rows<Name>(_ name: Name.Type, _ query: PostgresQuery, logger: Logger) async throws -> [PostgresRandomAccessRow] {
        var rows: [PostgresRandomAccessRow] = []
        for try await row in try await execute(Prepared<Name>(query), logger: logger) { rows.append(row.makeRandomAccess()) }
        return rows
    }

    /// Runs `query` as the prepared statement `name`; with `RETURNING`, says how many rows it changed.
    @discardableResult
    func execute<Name>(_ name: Name.Type, _ query: PostgresQuery, logger: Logger) async throws -> Int {
        var count = 0
        for try await _ in try await execute(Prepared<Name>(query), logger: logger) { count += 1 }
        return count
    }
}
