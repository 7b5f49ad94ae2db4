import GRDB
import OrreryCore
@testable import OrrerySQLite
import Testing

/// `Bindings`, the hot path's own parameter binding (issue 16): what it binds must read back
/// as GRDB's `StatementArguments` would have written it, and a mistake must fail the
/// statement, never run it with NULLs.
@Suite("SQLite parameter bindings")
struct BindingsTests {
    private func database() throws -> DatabaseQueue {
        let db = try DatabaseQueue()
        try db.write { try $0.execute(sql: "CREATE TABLE t (k INTEGER PRIMARY KEY, text TEXT, n INTEGER, at INTEGER) STRICT") }
        return db
    }

    @Test("texts (empty and multi-byte), integers, timestamps and nils read back as bound, RETURNING rows included")
    func roundTrip() throws {
        let db = try database()
        let at = Timestamp(rfc3339: "2026-03-01T12:00:00.123456Z")!
        let returned = try db.write { db -> [String?] in
            var bindings = Bindings(try db.cachedStatement(sql: "INSERT INTO t (k, text, n, at) VALUES (?, ?, ?, ?), (?, ?, ?, ?), (?, ?, ?, ?) RETURNING text"))
            bindings.add(Int64(1), "", Int64(-7), at)
            bindings.add(2, "héllo ✓ 日本", Int64?.none, Timestamp?.none)
            bindings.add(Int64(3), String?.none, Int64.max, at.adding(microseconds: 1))
            var texts: [String?] = []
            try bindings.forEachRow { texts.append($0[0]) }
            return texts
        }
        #expect(returned == ["", "héllo ✓ 日本", nil])
        let rows = try db.read { try Row.fetchAll($0, sql: "SELECT k, text, n, at FROM t ORDER BY k") }
        #expect(rows.count == 3)
        #expect(rows[0]["text"] as String? == "")  // empty, not NULL
        #expect(rows[0]["n"] as Int64? == -7)
        #expect(rows[0]["at"] as Timestamp? == at)
        #expect(rows[1]["text"] as String? == "héllo ✓ 日本")
        #expect(rows[1]["n"] as Int64? == nil)
        #expect(rows[1]["at"] as Timestamp? == nil)
        #expect(rows[2]["text"] as String? == nil)
        #expect(rows[2]["n"] as Int64? == Int64.max)
        #expect(rows[2]["at"] as Timestamp? == at.adding(microseconds: 1))
    }

    @Test("too few or too many values fail the statement and write nothing; the statement runs again afterwards")
    func countMismatch() throws {
        let db = try database()
        let sql = "INSERT INTO t (k, text) VALUES (?, ?)"
        for values in [[Int64(1)], [Int64(1), 2, 3]] {
            #expect(throws: DatabaseError.self) {
                try db.write { db in
                    var bindings = Bindings(try db.cachedStatement(sql: sql))
                    for value in values { bindings.add(value) }
                    try bindings.execute()
                }
            }
        }
        #expect(try db.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM t") } == 0)
        // A constraint failure, then the same cached statement with good values.
        try db.write { try $0.execute(sql: "INSERT INTO t (k, text) VALUES (5, 'five')") }
        #expect(throws: DatabaseError.self) {
            try db.write { db in
                var bindings = Bindings(try db.cachedStatement(sql: sql))
                bindings.add(Int64(5), "again")
                try bindings.execute()
            }
        }
        try db.write { db in
            var bindings = Bindings(try db.cachedStatement(sql: sql))
            bindings.add(Int64(6), "six")
            try bindings.execute()
        }
        #expect(try db.read { try String.fetchAll($0, sql: "SELECT text FROM t ORDER BY k") } == ["five", "six"])
    }
}
