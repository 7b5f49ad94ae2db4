public import Logging
import OrreryCore
import PostgresNIO
public import ServiceLifecycle
import Synchronization

/// The shared store: one PostgreSQL database that several Orrery nodes use at once,
/// behind `TaskStore`, `RunQueue` and `PruningStore` with the same semantics as
/// `SQLiteStore`, plus wake-ups between nodes (`NotifyingStore`) and a leader lease
/// (`LeaderStore`).
///
/// Every method is one transaction on a pooled connection. Values only ever travel as
/// bound parameters (`PostgresQuery` interpolation). When the database cannot be reached
/// every method throws `.unavailable` (the API answers 503) and the pool reconnects by
/// itself when the server is back.
public final class PostgresStore: Sendable {
    let client: PostgresClient
    let logger: Logger
    let ids = IDGenerator()
    /// How long a call may wait for a connection before it is `.unavailable`.
    let connectWait: Duration
    /// How long a call may use its connection before the connection is closed under it.
    let operationLimit: Duration = .seconds(20)
    private let runner: Task<Void, Never>
    /// Where this store connects, without the password (for logs and `orrery migrate`).
    public let displayURL: String

    /// Connects to `url` (`postgres://user[:password]@host[:port]/database`, optional
    /// `?sslmode=disable|prefer|require` and `?host=/socket/dir`) and applies pending migrations.
    /// `connectWait`: how long a call may wait for a connection before it is `.unavailable`.
    /// `transactionIdleLimit`: how long the server keeps a transaction of this node open while
    /// the node sends nothing (PostgreSQL's `idle_in_transaction_session_timeout`), after which
    /// it ends the session and frees its row locks. No transaction of Orrery waits on the node
    /// between statements; a node frozen inside one (SIGSTOP, a suspended VM, a stalled
    /// process) would otherwise hold its runs' rows, and the other nodes' rescue skips locked
    /// rows, so its runs would stay stuck until it woke up. Below the lease (30 s by default)
    /// it adds nothing to a rescue; set well above a loaded machine's stalls, since the
    /// server ends a transaction that idles past it and the work is then retried.
    public static func connect(
        url: String, logger: Logger = Logger(label: "orrery.postgres"), maxConnections: Int = 20, connectWait: Duration = .seconds(5),
        transactionIdleLimit: Duration = defaultTransactionIdleLimit
    ) async throws -> PostgresStore {
        let location = try PostgresLocation(url: url)
        let store = PostgresStore(
            location: location, logger: logger, maxConnections: maxConnections, connectWait: connectWait, transactionIdleLimit: transactionIdleLimit)
        do {
            try await store.migrate()
        } catch {
            store.close()
            throw error
        }
        return store
    }

    public static let defaultTransactionIdleLimit: Duration = .seconds(10)

    init(location: PostgresLocation, logger: Logger, maxConnections: Int, connectWait: Duration = .seconds(5), transactionIdleLimit: Duration = defaultTransactionIdleLimit) {
        var configuration = location.clientConfiguration
        configuration.options.maximumConnections = maxConnections
        configuration.options.connectTimeout = connectWait
        let idleMilliseconds = max(1, transactionIdleLimit.components.seconds * 1_000 + transactionIdleLimit.components.attoseconds / 1_000_000_000_000_000)
        configuration.options.additionalStartupParameters.append(("idle_in_transaction_session_timeout", String(idleMilliseconds)))
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        self.logger = logger
        self.connectWait = connectWait
        self.displayURL = location.displayURL
        self.runner = client.startRunning()
    }

    deinit { runner.cancel() }

    /// Closes every connection; the store is unusable afterwards.
    public func close() { runner.cancel() }

    /// Closes every connection and returns when the pool has stopped (every connection to the
    /// server is closed by then); the store is unusable afterwards.
    public func closeAndWait() async {
        runner.cancel()
        await runner.value
    }

    // MARK: - Running statements

    /// Runs `body` in one transaction: committed when it returns, rolled back when it throws.
    /// Database errors come out as `OrreryError`s; an `OrreryError` the body throws passes as is.
    @discardableResult
    func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await withConnection { connection in
            try await connection.query("BEGIN", logger: self.logger)
            do {
                let value = try await body(connection)
                try await connection.query("COMMIT", logger: self.logger)
                return value
            } catch {
                do {
                    try await connection.query("ROLLBACK", logger: self.logger)
                } catch {
                    // A connection whose transaction state is unknown must not go back to the pool.
                    try? await connection.close()
                }
                throw error
            }
        }
    }

    /// Runs `body` on a pooled connection (one statement or several, each autocommitted).
    /// Bounded in time: waiting for a connection by `connectWait` (an unreachable database
    /// is `.unavailable`, never a hang), and the work on it by `operationLimit`, after which
    /// the connection is closed under it (a server that vanished mid-query).
    @discardableResult
    func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let lease = LeaseState()
        let outcome = Outcome<T>()
        // The work answers the caller itself when it ends (no task in between on the hot path).
        let work = Task {
            do {
                outcome.resolve(.success(try await self.client.withConnection { connection in
                    lease.leased(connection)
                    return try await body(connection)
                }))
            } catch {
                outcome.resolve(.failure(lease.didTimeOut ? OrreryError(.unavailable, "the database is unreachable") : self.translate(error)))
            }
        }
        let connectWait = self.connectWait, operationLimit = self.operationLimit
        // The caller gets an answer when the work ends or when the watchdog gives up on it,
        // whichever comes first. A pool wait or a query that ignores cancellation after an
        // outage is left to end by itself; it never holds the caller (or the engine) hostage.
        let watchdog = Task {
            try await Task.sleep(for: connectWait)
            guard let connection = lease.connection else {
                lease.timedOut()
                work.cancel()
                outcome.resolve(.failure(OrreryError(.unavailable, "the database is unreachable")))
                return
            }
            try await Task.sleep(for: operationLimit)
            lease.timedOut()
            try? await connection.close()
            work.cancel()
            outcome.resolve(.failure(OrreryError(.unavailable, "the database is unreachable")))
        }
        defer { watchdog.cancel() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                outcome.wait(continuation)
            }
        } onCancel: {
            // A cancelled caller (a node shutting down) answers at once; work that ignores
            // cancellation (a query on a connection that died in an outage) ends by itself.
            work.cancel()
            watchdog.cancel()
            outcome.resolve(.failure(CancellationError()))
        }
    }

    /// The one answer a call gives, from whichever side has it first.
    private final class Outcome<T: Sendable>: Sendable {
        private let state = Mutex<(continuation: CheckedContinuation<T, any Error>?, result: Result<T, any Error>?)>((nil, nil))

        func wait(_ continuation: CheckedContinuation<T, any Error>) {
            let ready = state.withLock { s -> Result<T, any Error>? in
                if let result = s.result { return result }
                s.continuation = continuation
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }

        func resolve(_ result: Result<T, any Error>) {
            let waiting = state.withLock { s -> CheckedContinuation<T, any Error>? in
                guard s.result == nil else { return nil }
                s.result = result
                defer { s.continuation = nil }
                return s.continuation
            }
            waiting?.resume(with: result)
        }
    }

    /// A connection leased for one call, and whether the call ran out of time.
    private final class LeaseState: Sendable {
        private let state = Mutex<(connection: PostgresConnection?, timedOut: Bool)>((nil, false))
        func leased(_ connection: PostgresConnection) { state.withLock { $0.connection = connection } }
        func timedOut() { state.withLock { $0.timedOut = true } }
        var connection: PostgresConnection? { state.withLock { $0.connection } }
        var didTimeOut: Bool { state.withLock { $0.timedOut } }
    }

    /// Database errors become Orrery's: a unique violation is `.conflict`, a lost or refused
    /// connection `.unavailable`; no PostgreSQL text reaches a client (it is logged).
    func translate(_ error: any Error) -> any Error {
        if error is OrreryError || error is CancellationError { return error }
        guard let psql = error as? PSQLError else {
            // The pool's own errors (no connection could be made) mean the same as a refused one.
            if String(reflecting: type(of: error)).contains("ConnectionPoolError") {
                return OrreryError(.unavailable, "the database is unreachable")
            }
            logger.error("database call failed", metadata: ["error": "\(String(reflecting: error))"])
            return OrreryError(.internal, "database error")
        }
        switch psql.code {
        case .server:
            let state = psql.serverInfo?[.sqlState] ?? ""
            switch state {
            case "23505":
                return OrreryError(.conflict, "a record with this key already exists")
            case "22021", "22P05":
                // character_not_in_repertoire, untranslatable_character: text or JSON holding
                // U+0000, which PostgreSQL cannot store. The client's input, never a 500.
                return OrreryError(.invalidField, "text must not contain the NUL character (U+0000)")
            case "40001", "40P01", "55P03":
                return OrreryError(.unavailable, "the database is busy; try again")
            case _ where state.hasPrefix("08") || state.hasPrefix("57") || state.hasPrefix("53"):
                return OrreryError(.unavailable, "the database is unavailable")
            default:
                logger.error("database error", metadata: [
                    "sqlstate": "\(state)", "message": "\(psql.serverInfo?[.message] ?? "")",
                ])
                return OrreryError(.internal, "database error \(state)")
            }
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .poolClosed, .queryCancelled,
             .uncleanShutdown, .sslUnsupported, .failedToAddSSLHandler:
            return OrreryError(.unavailable, "the database is unreachable")
        default:
            logger.error("database call failed", metadata: ["error": "\(String(reflecting: psql))"])
            return OrreryError(.internal, "database error")
        }
    }
}

extension PostgresClient {
    /// Runs the pool in a task of its own, and has entered `run()` when it returns.
    ///
    /// A lease before `run()` is entered waits for it, but PostgresNIO logs a warning for it
    /// ("`PostgresClient.run()` hasn't been called yet"), and a user of `orrery token create
    /// --database …` saw that line on standard error now and then. A `Task { }` starts later,
    /// on another thread, so no signal sent from it can come after `run()`'s first line; a
    /// `Task.immediate` runs `run()` on this thread up to its first suspension, which is
    /// after it marked the client running.
    func startRunning() -> Task<Void, Never> {
        Task.immediate { await self.run() }
    }
}

extension PostgresConnection {
    /// Runs `query` and collects its rows (row sets here are bounded by the callers' limits).
    @discardableResult
    func rows(_ query: PostgresQuery, logger: Logger) async throws -> [PostgresRandomAccessRow] {
        try await self.query(query, logger: logger).collect().map { $0.makeRandomAccess() }
    }

    /// Runs a statement; a statement with `RETURNING` says how many rows it changed.
    @discardableResult
    func execute(_ query: PostgresQuery, logger: Logger) async throws -> Int {
        var count = 0
        for try await _ in try await self.query(query, logger: logger) { count += 1 }
        return count
    }
}

/// The connection pool as a service of the node's `ServiceGroup`. The pool starts with the
/// store (`connect` migrates before any service runs); the group owns when it stops. A group
/// tells its services to shut down in reverse order, each after the one before has returned,
/// so with the store first in the list the pool closes last: after the engine has handed back
/// or ended its runs and the HTTP server has answered its last request, all of which write
/// to the database. It then closes every connection and returns once they are closed, so a
/// node that stops leaves no session behind on the server.
extension PostgresStore: Service {
    public func run() async throws {
        // Returns on a graceful shutdown, throws when the group is canceled: either way, close.
        try? await gracefulShutdown()
        await closeAndWait()
    }
}
