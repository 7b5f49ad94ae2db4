public import Foundation
import GRDB
public import OrreryCore

extension SQLiteStore {
    /// What a backup copied, read back from the copy.
    public struct BackupSummary: Sendable {
        public var path: String
        public var tasks: Int
        public var runs: Int
        public var bytes: Int
    }

    /// Copies the database to a new file with SQLite's online backup, while this or another
    /// process keeps writing: every page is copied in one step inside one read transaction,
    /// so the copy is the database as of one commit. The copy is then switched from WAL to a
    /// rollback journal (one self-contained file) and checked with `PRAGMA integrity_check`.
    /// An existing file is never overwritten.
    public func backup(to path: String) throws -> BackupSummary {
        guard !FileManager.default.fileExists(atPath: path) else {
            throw OrreryError(.conflict, "\(path) already exists; a backup is written to a new file", field: "file")
        }
        do {
            let copy = try DatabaseQueue(path: path)
            try pool.backup(to: copy)
            return try copy.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA journal_mode = DELETE")
                let check = try String.fetchAll(db, sql: "PRAGMA integrity_check")
                guard check == ["ok"] else {
                    throw OrreryError(.internal, "the copy failed its integrity check: \(check.prefix(5).joined(separator: "; "))")
                }
                let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
                return BackupSummary(
                    path: path, tasks: try Int.fetchOne(db, sql: "SELECT count(*) FROM tasks") ?? 0,
                    runs: try Int.fetchOne(db, sql: "SELECT count(*) FROM runs") ?? 0, bytes: size)
            }
        } catch let error as DatabaseError {
            throw OrreryError(.unavailable, "cannot back up to \(path): \(error.message ?? "\(error.resultCode)")")
        }
    }
}
