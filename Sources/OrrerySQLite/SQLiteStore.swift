public import Foundation
import Synchronization
public import GRDB
import GRDBSQLite
public import OrreryCore
#if canImport(Glibc)
import Glibc
#endif

/// The embedded store: one SQLite file in WAL mode, behind `TaskStore` and `RunQueue`.
///
/// All writes go through GRDB's single writer connection (so API writers and the engine
/// queue rather than fail with "database is locked"), and other processes that open the
/// same file (`orrery token create`) wait on a busy timeout.
public final class SQLiteStore: Sendable {
    public struct Options: Sendable {
        /// `NORMAL` survives a killed process (WAL); `FULL` also survives power loss, slower.
        public var synchronousFull: Bool = false
        /// Take an exclusive lock on `<file>.lock`: one serving process per database file.
        /// Its holder knows every `active` run from before it started is orphaned.
        public var exclusive: Bool = false
        public var busyTimeout: TimeInterval = 10
        public init(synchronousFull: Bool = false, exclusive: Bool = false) {
            self.synchronousFull = synchronousFull
            self.exclusive = exclusive
        }
    }

    let pool: DatabasePool
    /// Read-only connections of their own for `pointRead`, used only synchronously, taken
    /// in turn (two pool threads rarely wait for the same one).
    private let pointReaders: [DatabaseQueue]
    private let nextPointReader = Atomic<Int>(0)
    let ids = IDGenerator()
    /// Decoded tasks by row version, for reads of committed data.
    let taskCache = TaskDecodeCache()
    private let lockFD: Int32?
    private let checkpointer: Task<Void, Never>?
    public let path: String

    public init(path: String, options: Options = Options()) throws {
        self.path = path
        if options.exclusive {
            let fd = open(path + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw OrreryError(.unavailable, "cannot open lock file \(path).lock") }
            guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
                close(fd)
                throw OrreryError(.conflict, "another Orrery process is serving \(path) (lock held on \(path).lock)")
            }
            lockFD = fd
        } else {
            lockFD = nil
        }
        var config = Configuration()
        config.busyMode = .timeout(options.busyTimeout)
        config.foreignKeysEnabled = false
        let synchronous = options.synchronousFull ? "FULL" : "NORMAL"
        // The serving process checkpoints the WAL from its own connection (below), so that a
        // checkpoint's fsync rarely stalls a commit on the writer and firing stays punctual.
        // The writer's own automatic checkpoint stays as a backstop (at 40 MB instead of 4)
        // for when writes never pause long enough for the background one to catch up.
        let autoCheckpoint = options.exclusive ? 10_000 : 1_000
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(synchronous); PRAGMA cache_size = -16384; PRAGMA wal_autocheckpoint = \(autoCheckpoint)")
        }
        do {
            pool = try DatabasePool(path: path, configuration: config)
            try Migrations.migrator.migrate(pool)
            var readOnly = config
            readOnly.readonly = true
            pointReaders = try (0..<3).map { _ in try DatabaseQueue(path: path, configuration: readOnly) }
            if options.exclusive {
                var checkpointConfig = Configuration()
                checkpointConfig.busyMode = .timeout(options.busyTimeout)
                let queue = try DatabaseQueue(path: path, configuration: checkpointConfig)
                checkpointer = Task.detached(priority: .background) {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .milliseconds(100))
                        _ = try? await queue.writeWithoutTransaction { db in try db.checkpoint(.passive) }
                    }
                }
            } else {
                checkpointer = nil
            }
        } catch let error as DatabaseError {
            throw OrreryError(.unavailable, "cannot open database \(path): \(error.message ?? "\(error.resultCode)")")
        }
    }

    deinit {
        checkpointer?.cancel()
        if let lockFD { close(lockFD) }
    }

    /// The schema version names applied, oldest first (for `orrery migrate`).
    public func appliedMigrations() throws -> [String] {
        try pointRead { db in try Migrations.migrator.appliedMigrations(db) }
    }

    // MARK: - Running statements

    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await pool.write(body)
        } catch {
            throw translate(error)
        }
    }

    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await pool.read(body)
        } catch {
            throw translate(error)
        }
    }

    /// A point read (one row by its primary key) on the calling thread, from a read-only
    /// connection of its own: `read` hops to a reader's queue and back, two thread switches
    /// that cost more than the read itself on a loaded 2-core machine (issue 16, GET by id).
    ///
    /// Not from the pool's readers: an async `read` gives its reader back only when its task
    /// resumes on the concurrency pool, so a synchronous wait for one of the pool's readers on
    /// a pool thread can wait for itself. With 2 cores the concurrency pool has 2 threads, and
    /// two GETs waiting so while five listings held the readers stopped every task in the
    /// process (the CI hangs of 2026-12-02). This connection is only ever used synchronously,
    /// so whoever holds it gives it back without waiting for anything. Only reads bounded by
    /// a key come here; listings, counts and scans take `read`. No transaction around it: one
    /// statement sees one snapshot, and BEGIN and COMMIT cost as much as the read.
    func pointRead<T>(_ body: (Database) throws -> T) throws -> T {
        let reader = pointReaders[nextPointReader.wrappingAdd(1, ordering: .relaxed).oldValue % pointReaders.count]
        do {
            return try reader.inDatabase(body)
        } catch {
            throw translate(error)
        }
    }

    /// Whether `rows` (`<table> INDEXED BY <partial index> WHERE <its condition>`) holds any
    /// row: one seek. Most stores have no trigger task, no notifying task and no held run, and
    /// then a batch of run ends skips the look-ups (and the keys built for them) that would
    /// find none for each of its runs (issue 16).
    static func any(in rows: String, _ db: Database) throws -> Bool {
        try Bool.fetchOne(db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM \(rows))")) ?? false
    }

    /// Database errors become Orrery's; no SQLite text reaches a client.
    func translate(_ error: any Error) -> any Error {
        guard let dbError = error as? DatabaseError else { return error }
        switch dbError.extendedResultCode {
        case .SQLITE_CONSTRAINT_UNIQUE, .SQLITE_CONSTRAINT_PRIMARYKEY:
            return OrreryError(.conflict, "a record with this key already exists")
        default:
            break
        }
        switch dbError.resultCode {
        case .SQLITE_FULL:
            // The transaction was rolled back whole; it succeeds again once space returns.
            return OrreryError(.storageFull, "the disk holding the database is full; nothing was written")
        case .SQLITE_BUSY, .SQLITE_LOCKED, .SQLITE_IOERR, .SQLITE_CANTOPEN:
            return OrreryError(.unavailable, "the database is unavailable (\(dbError.resultCode))")
        default:
            return OrreryError(.internal, "database error \(dbError.resultCode)")
        }
    }
}

// MARK: - Column helpers

extension Timestamp: DatabaseValueConvertible {
    public var databaseValue: DatabaseValue { microseconds.databaseValue }
    public static func fromDatabaseValue(_ dbValue: DatabaseValue) -> Timestamp? {
        Int64.fromDatabaseValue(dbValue).map(Timestamp.init(microseconds:))
    }
}

/// Read straight from the statement, as `Int64` is: through `DatabaseValue` a timestamp
/// column cost about 1,300 instructions, two of them a claimed run (issue 16).
extension Timestamp: StatementColumnConvertible {
    public init?(sqliteStatement: SQLiteStatement, index: CInt) {
        guard sqlite3_column_type(sqliteStatement, index) == SQLITE_INTEGER else {
            guard let value = Timestamp.fromDatabaseValue(DatabaseValue(sqliteStatement: sqliteStatement, index: index)) else { return nil }
            self = value
            return
        }
        self.init(microseconds: sqlite3_column_int64(sqliteStatement, index))
    }
}
