import GRDB
import GRDBSQLite
import OrreryCore

/// The parameters of one execution of a hot-path write, bound straight to its SQLite
/// handle in order (`?1`, `?2`, …), and the statement stepped there too, as
/// `Records.decodeFirst` steps a read. `StatementArguments` boxes every value in an
/// existential, converts it to a `DatabaseValue` and copies each text into a C string before
/// SQLite copies it again, and GRDB's execution validates every parameter by name: together
/// about 1,000 instructions a value, a seventh of a claimed and ended run's writer time at
/// batches of 100 (issue 16, `Benchmarks/sqlite.md`). Texts are still copied by SQLite
/// (`SQLITE_TRANSIENT`), once.
///
/// For statements inside a write transaction, which a failure rolls back whole (GRDB's
/// `write`): nothing here tracks transactions or observers, and the store registers none.
struct Bindings: ~Copyable {
    private let statement: Statement
    private let sqlite: SQLiteStatement
    private var index: CInt = 1
    private var failure: CInt = SQLITE_OK

    init(_ statement: Statement) {
        self.statement = statement
        sqlite = statement.sqliteStatement
        // A failed step leaves its code for the next reset: not this execution's.
        sqlite3_reset(sqlite)
        sqlite3_clear_bindings(sqlite)
    }

    /// Binds `values` to the next parameters, in order.
    @inline(__always)
    mutating func add<each Value: SQLiteBindable>(_ values: repeat each Value) {
        for value in repeat each values {
            let code = value.bindParameter(to: sqlite, at: index)
            if failure == SQLITE_OK { failure = code }
            index += 1
        }
    }

    /// Runs the statement to its end.
    consuming func execute() throws {
        try forEachRow { _ in }
    }

    /// Runs the statement, calling `body` with each row where SQLite holds it (`body` must
    /// not keep it: the next step reuses it).
    consuming func forEachRow(_ body: (StatementColumns) throws -> Void) throws {
        try check()
        defer { sqlite3_reset(sqlite) }
        while true {
            switch sqlite3_step(sqlite) {
            case SQLITE_ROW: try body(StatementColumns(sqlite: sqlite))
            case SQLITE_DONE: return
            case let code: throw Records.stepFailure(code, of: statement)
            }
        }
    }

    /// Every parameter bound, each accepted: a mismatch is this code's mistake, reported
    /// as the database's error rather than run with NULLs.
    private func check() throws {
        let expected = sqlite3_bind_parameter_count(sqlite)
        guard failure == SQLITE_OK, index - 1 == expected else {
            throw DatabaseError(
                resultCode: failure == SQLITE_OK ? .SQLITE_MISUSE : ResultCode(rawValue: failure),
                message: "bound \(index - 1) of \(expected) parameters", sql: statement.sql)
        }
    }
}

/// A value `Bindings` binds as it is (NULL for nil).
protocol SQLiteBindable {
    /// Binds this value to parameter `index`; SQLite's result code.
    func bindParameter(to sqlite: SQLiteStatement, at index: CInt) -> CInt
}

extension String: SQLiteBindable {
    @inline(__always)
    func bindParameter(to sqlite: SQLiteStatement, at index: CInt) -> CInt {
        var text = self
        return text.withUTF8 { bytes in
            // SQLITE_TRANSIENT: SQLite copies the text now.
            let transient = unsafeBitCast(-1 as Int, to: sqlite3_destructor_type.self)
            guard let start = bytes.baseAddress else { return sqlite3_bind_text(sqlite, index, "", 0, transient) }
            return start.withMemoryRebound(to: CChar.self, capacity: bytes.count) {
                sqlite3_bind_text(sqlite, index, $0, CInt(bytes.count), transient)
            }
        }
    }
}

extension Int64: SQLiteBindable {
    @inline(__always)
    func bindParameter(to sqlite: SQLiteStatement, at index: CInt) -> CInt { sqlite3_bind_int64(sqlite, index, self) }
}

extension Int: SQLiteBindable {
    @inline(__always)
    func bindParameter(to sqlite: SQLiteStatement, at index: CInt) -> CInt { sqlite3_bind_int64(sqlite, index, Int64(self)) }
}

extension Timestamp: SQLiteBindable {
    @inline(__always)
    func bindParameter(to sqlite: SQLiteStatement, at index: CInt) -> CInt { sqlite3_bind_int64(sqlite, index, microseconds) }
}

extension Optional: SQLiteBindable where Wrapped: SQLiteBindable {
    @inline(__always)
    func bindParameter(to sqlite: SQLiteStatement, at index: CInt) -> CInt {
        switch self {
        case .some(let value): value.bindParameter(to: sqlite, at: index)
        case .none: sqlite3_bind_null(sqlite, index)
        }
    }
}
