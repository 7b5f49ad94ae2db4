import Foundation
public import OrreryCore
import OrreryPostgres
import OrrerySQLite

/// Everything a store must do to pass the conformance suite.
public typealias ConformingStore = TaskStore & RunQueue & PruningStore & EventStore

/// The stores the conformance suite runs against (River's driver tests, Oban's engine
/// loop): SQLite always, PostgreSQL when `ORRERY_TEST_POSTGRES_URL` names a server
/// (`scripts/test` starts one) — and always with `CI=true`, where a missing server makes every
/// PostgreSQL case fail instead of dropping it from the arguments. Each test gets a fresh store: a new temporary file, or a
/// new database on the PostgreSQL server.
public enum StoreKind: String, Sendable, CaseIterable, CustomStringConvertible {
    case sqlite
    case postgres

    /// The PostgreSQL server the tests may use, if any (a database on it they may create
    /// others from).
    public static var postgresURL: String? {
        ProcessInfo.processInfo.environment["ORRERY_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The kinds this run tests: PostgreSQL too when a server is named or on CI.
    public static var enabled: [StoreKind] { Prerequisite.postgresRuns ? [.sqlite, .postgres] : [.sqlite] }

    /// The kinds several nodes can share (PostgreSQL).
    public static var shared: [StoreKind] { enabled.filter { $0 == .postgres } }

    public var description: String { rawValue }

    /// Runs `body` with `count` handles on one fresh store (several handles on one store
    /// are several nodes, or another process's connection), then throws it all away.
    public func withStores(_ count: Int = 1, _ body: ([any ConformingStore]) async throws -> Void) async throws {
        switch self {
        case .sqlite:
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let stores = try (0..<count).map { _ in try SQLiteStore(path: dir.file("orrery.sqlite")) }
            try await body(stores)
        case .postgres:
            try await Self.withFreshDatabase { url in
                var stores: [PostgresStore] = []
                defer { stores.forEach { $0.close() } }
                for _ in 0..<count { stores.append(try await PostgresStore.connect(url: url, connectWait: StoreKind.testConnectWait)) }
                try await body(stores)
            }
        }
    }

    /// Runs `body` with a fresh, empty place for a store (a temporary directory, or a new
    /// database), which it may open several times — a restart, or another process's handle.
    public func withLocation(_ body: (StoreLocation) async throws -> Void) async throws {
        switch self {
        case .sqlite:
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            try await body(.sqlite(dir))
        case .postgres:
            try await Self.withFreshDatabase { url in try await body(.postgres(url: url)) }
        }
    }

    /// Runs `body` with one fresh store.
    public func withStore(_ body: (any ConformingStore) async throws -> Void) async throws {
        try await withStores(1) { try await body($0[0]) }
    }

    /// A new, empty database on the test server for the length of `body` (its URL), dropped after.
    public static func withFreshDatabase(_ body: (String) async throws -> Void) async throws {
        guard let server = postgresURL else {
            throw Prerequisite.Missing(description: "ORRERY_TEST_POSTGRES_URL is not set: the PostgreSQL test server did not start (scripts/test starts it; with CI=true this fails instead of skipping)")
        }
        let name = "orrery_t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
        let url = try await PostgresAdmin.createDatabase(String(name), serverURL: server)
        do {
            try await body(url)
        } catch {
            try? await PostgresAdmin.dropDatabase(String(name), serverURL: server)
            throw error
        }
        try await PostgresAdmin.dropDatabase(String(name), serverURL: server)
    }
}

/// Where a test's store lives, so that it can be opened again.
public enum StoreLocation: Sendable {
    case sqlite(TemporaryDirectory)
    case postgres(url: String)

    public var kind: StoreKind {
        switch self {
        case .sqlite: .sqlite
        case .postgres: .postgres
        }
    }

    /// Opens (and migrates) the store. `exclusive` takes SQLite's one-server lock; PostgreSQL
    /// is shared by design and ignores it.
    public func open(exclusive: Bool = false) async throws -> any ConformingStore {
        switch self {
        case .sqlite(let dir): try SQLiteStore(path: dir.file("orrery.sqlite"), options: .init(exclusive: exclusive))
        case .postgres(let url): try await PostgresStore.connect(url: url, connectWait: StoreKind.testConnectWait)
        }
    }

    /// Lets go of a store `open` returned (PostgreSQL's pool; SQLite closes with its last reference).
    public func close(_ store: any ConformingStore) {
        (store as? PostgresStore)?.close()
    }

    /// Opens the store for the length of `body`.
    public func withStore<R>(exclusive: Bool = false, _ body: (any ConformingStore) async throws -> R) async throws -> R {
        let store = try await open(exclusive: exclusive)
        defer { close(store) }
        return try await body(store)
    }
}

extension StoreKind {
    /// How long a test's PostgreSQL store waits for a connection (a served store waits 5 s).
    /// The suite opens about a hundred stores on fresh databases at once on 2 cores; a CI
    /// run saw a few of them wait past 5 s for their first connection and fail as
    /// "unreachable" before any test step ran. Tests of unavailability connect on their own.
    public static let testConnectWait: Duration = .seconds(30)
}
