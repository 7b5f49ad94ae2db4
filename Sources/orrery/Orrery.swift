import ArgumentParser
import Foundation
import Hummingbird
import HummingbirdCore
import NIOCore
import Logging
import OrreryCore
import OrreryEngine
import OrreryEventLoops
import OrreryHTTP
import OrreryModules
import OrreryPostgres
import OrrerySQLite
import ServiceLifecycle
import UnixSignals

@main
struct Orrery: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "orrery",
        abstract: "Orrery: a self-hosted scheduled-task service.",
        discussion: ExitStatus.summary,
        subcommands: [
            Serve.self, Migrate.self, BackupCommand.self, TokenCommand.self, ScheduleCommand.self,
            TaskCommand.self, RunCommand.self, ModulesCommand.self, EventsCommand.self,
        ])

    /// In every command, tasks woken on NIO's event loops stay there (`EventLoopConcurrency`), installed
    /// first, on the main thread, before any task is enqueued.
    static func main() async {
        EventLoopConcurrency.install()
        await main(nil)
    }
}

/// Where the data lives, shared by every command that opens the store.
struct StoreOptions: ParsableArguments {
    @Option(help: "A JSON file of settings (env ORRERY_CONFIG); flags and ORRERY_… variables take precedence.")
    var config: String?

    @Option(help: "Directory for the embedded SQLite database (env ORRERY_DATA_DIR; default ./orrery-data).")
    var dataDir: String?

    @Option(help: "A postgres:// URL to use PostgreSQL instead of SQLite (env ORRERY_DATABASE).")
    var database: String?

    /// The settings' sources: flags, environment, configuration file (read once per call).
    func settings() throws -> Settings { try Settings(configPath: config) }

    func resolvedDataDir(_ settings: Settings) throws -> String { try settings.string(dataDir, "data_dir") ?? "./orrery-data" }

    /// Opens the store the options name (and applies pending migrations). `exclusive`:
    /// this process serves the SQLite file alone (PostgreSQL is shared by design).
    func open(exclusive: Bool, settings given: Settings? = nil, logger: Logger = Logger(label: "orrery")) async throws -> OpenedStore {
        let settings = try given ?? self.settings()
        if let url = try settings.string(database, "database"), !url.isEmpty {
            do {
                return .postgres(try await PostgresStore.connect(url: url, logger: logger))
            } catch let error as OrreryError {
                throw ValidationError("--database: \(error.description)")
            }
        }
        let dataDir = try resolvedDataDir(settings)
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        return .sqlite(try SQLiteStore(
            path: (dataDir as NSString).appendingPathComponent("orrery.sqlite"),
            options: .init(exclusive: exclusive)))
    }
}

/// The store a command opened: embedded SQLite or shared PostgreSQL.
enum OpenedStore {
    case sqlite(SQLiteStore)
    case postgres(PostgresStore)

    var store: any OrreryStore & PruningStore {
        switch self {
        case .sqlite(let s): s
        case .postgres(let s): s
        }
    }

    /// The same store as the live streams' change feed reads it.
    var feedStore: any RunFeed.Store {
        switch self {
        case .sqlite(let s): s
        case .postgres(let s): s
        }
    }

    /// Where the data is, for people.
    var location: String {
        switch self {
        case .sqlite(let s): s.path
        case .postgres(let s): s.displayURL
        }
    }

    func close() {
        if case .postgres(let s) = self { s.close() }
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the scheduler and its HTTP API.")

    @OptionGroup var store: StoreOptions
    @OptionGroup var logging: LogOptions

    @Option(help: "On SIGTERM, seconds active runs may take to finish before they are handed back (env ORRERY_SHUTDOWN_GRACE_SEC; default 10).")
    var shutdownGraceSec: Int?

    @Option(help: "Address to listen on (env ORRERY_HOST; default 127.0.0.1).")
    var host: String?

    @Option(help: "Port to listen on; 0 picks a free one (env ORRERY_PORT; default 8080).")
    var port: Int?

    @Option(help: "Runs executing at once; 0: this node serves the API and runs nothing, other nodes on the same PostgreSQL do (env ORRERY_CONCURRENCY; default 100).")
    var concurrency: Int?

    @Option(help: "Seconds a run's lease lasts without renewal (env ORRERY_LEASE_SEC; default 30).")
    var leaseSec: Int?

    @Flag(help: "Let the http module reach loopback, link-local and private addresses (env ORRERY_ALLOW_PRIVATE_NETWORKS; off: SSRF guard).")
    var allowPrivateNetworks = false

    @Option(help: "Days finished runs and their logs are kept; 0: forever (env ORRERY_RETENTION_DAYS; default 7).")
    var retentionDays: Int?

    @Option(help: "Keep at most this many finished runs per task (env ORRERY_KEEP_RUNS; default: no limit).")
    var keepRuns: Int?

    @Option(help: "Failed authentications an address may make per minute before it gets 429s; 0: no limit (env ORRERY_AUTH_FAILURES_PER_MINUTE; default 30).")
    var authFailuresPerMinute: Int?

    @Option(help: "Path prefix the dashboard and API are served under behind a reverse proxy, e.g. /orrery (env ORRERY_BASE_PATH; default: the root).")
    var basePath: String?

    @Option(help: "The sendmail program notification e-mails go through (env ORRERY_SENDMAIL; default /usr/sbin/sendmail).")
    var sendmail: String?

    @Option(help: "The From address of notification e-mails (env ORRERY_MAIL_FROM; default orrery@<hostname>).")
    var mailFrom: String?

    func run() async throws {
        let env = ProcessInfo.processInfo.environment
        // Every setting is resolved and checked before anything is opened or written.
        let settings = try store.settings()
        let host = try settings.string(host, "host") ?? "127.0.0.1"
        let port = try settings.int(port, "port") ?? 8080
        let concurrency = try settings.int(concurrency, "concurrency") ?? 100
        let leaseSec = try settings.int(leaseSec, "lease_sec") ?? 30
        let retentionDays = try settings.int(retentionDays, "retention_days") ?? 7
        let keepRuns = try settings.int(keepRuns, "keep_runs")
        let authFailuresPerMinute = try settings.int(authFailuresPerMinute, "auth_failures_per_minute") ?? 30
        let allowPrivateNetworks = try settings.bool(allowPrivateNetworks, "allow_private_networks")
        guard (0...65_535).contains(port) else { throw ValidationError("port must be 0 to 65535, not \(port)") }
        guard concurrency >= 0 else { throw ValidationError("concurrency must be 0 or more, not \(concurrency)") }
        guard leaseSec >= 1 else { throw ValidationError("lease-sec must be at least 1, not \(leaseSec)") }
        guard retentionDays >= 0 else { throw ValidationError("retention-days must be 0 (forever) or more, not \(retentionDays)") }
        if let keepRuns, keepRuns < 1 { throw ValidationError("keep-runs must be at least 1, not \(keepRuns)") }
        guard authFailuresPerMinute >= 0 else { throw ValidationError("auth-failures-per-minute must be 0 (no limit) or more, not \(authFailuresPerMinute)") }
        let basePath = try settings.string(basePath, "base_path") ?? ""
        let sendmail = try settings.string(sendmail, "sendmail") ?? SendmailTransport.defaultPath
        let mailFrom = try settings.string(mailFrom, "mail_from")
        if let mailFrom, !NotifyPolicy.isValidAddress(mailFrom) { throw ValidationError("mail-from must be an e-mail address, not \"\(mailFrom)\"") }
        guard DashboardConfiguration.isValidBasePath(basePath) else { throw ValidationError("base-path may hold only letters, digits and -_.~/, not \"\(basePath)\"") }
        let shutdownGraceSec = try settings.int(shutdownGraceSec, "shutdown_grace_sec") ?? 10
        guard shutdownGraceSec >= 0 else { throw ValidationError("shutdown-grace-sec must be 0 or more, not \(shutdownGraceSec)") }
        let (logFormat, logLevel) = try logging.resolve(settings)
        let dataDir = try store.resolvedDataDir(settings)
        LogOptions.bootstrap(format: logFormat, level: logLevel)
        var logger = Logger(label: "orrery")
        logger.logLevel = logLevel
        let metrics = ServerMetrics()
        let opened = try await store.open(exclusive: true, settings: settings, logger: logger)
        defer { opened.close() }
        let shared = opened.store
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        let clock = SystemClock()
        switch try await AdminToken.ensure(store: shared, environmentToken: env["ORRERY_ADMIN_TOKEN"], dataDir: dataDir, now: clock.now()) {
        case .generated(let token, let file):
            say("Admin token (shown once, also written to \(file)):\n\(token)")
        case .fromEnvironment, .existing:
            break
        }
        var config = Engine.Configuration(node: "\(ProcessInfo.processInfo.hostName)-\(getpid())-\(IDGenerator().make(at: clock.now()).suffix(4))")
        config.concurrency = concurrency
        config.leaseDuration = .seconds(leaseSec)
        config.rescueInterval = .seconds(max(1, leaseSec / 3))
        config.shutdownGrace = .seconds(shutdownGraceSec)
        config.metrics = metrics.runMetrics
        var pruning = Pruner.Configuration()
        pruning.retention = retentionDays > 0 ? .seconds(Int64(retentionDays) * 86_400) : nil
        pruning.keepNewestPerTask = keepRuns
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if case .postgres(let postgres) = opened {
            // First in the group, so the last to stop: everything after it writes to the database.
            services.append(.init(service: postgres))
            // Several nodes share the database: one leader rescues and prunes, and nodes
            // wake each other with LISTEN/NOTIFY (with a poll as a safety net).
            var election = LeaderElector.Configuration(node: config.node)
            election.ttl = .seconds(Int64(max(3, leaseSec)))
            election.renewInterval = election.ttl / 3
            let elector = LeaderElector(configuration: election, store: postgres, clock: clock, logger: logger)
            config.leadership = elector.leadership
            config.maxIdleSleep = .seconds(5)
            pruning.leadership = elector.leadership
            services.append(.init(service: elector))
        } else {
            config.exclusiveStore = true
        }
        let engine = Engine(configuration: config, store: shared, modules: ModuleRegistry(BuiltinModules.all(allowPrivateNetworks: allowPrivateNetworks)), clock: clock, logger: logger)
        let service = TaskService(store: shared, engine: engine)
        // External modules (issue 13) are known before the engine's first claim, which leaves
        // their runs to workers; with several nodes, each reads them again every 2 s.
        if let moduleStore = shared as? any ModuleStore {
            try await engine.externalModules.refresh(from: moduleStore)
            if case .postgres = opened {
                services.append(.init(service: ExternalModuleRefresher(catalogue: engine.externalModules, store: moduleStore, clock: clock, logger: logger)))
            }
        }
        let pruner = Pruner(configuration: pruning, store: shared, clock: clock, logger: logger)
        // Notifications (e-mail, webhooks) leave from the store's outbox; on PostgreSQL each
        // delivery is claimed by one node. The webhook SSRF guard follows the http module's.
        if let outbox = shared as? any Notifier.Store {
            let transports: [any NotificationTransport] = [
                SendmailTransport(path: sendmail, from: mailFrom),
                WebhookTransport(addressGuard: AddressGuard(allowPrivateNetworks: allowPrivateNetworks)),
            ]
            services.append(.init(service: Notifier(
                configuration: Notifier.Configuration(node: config.node), store: outbox, transports: transports, clock: clock, logger: logger)))
        }
        // Live streams read the store for changes: often on PostgreSQL (other nodes write
        // too), rarely on SQLite, where every write is this node's and rings the feed at once.
        var streaming = RunFeed.Configuration()
        if case .sqlite = opened { streaming.pollInterval = .seconds(2) }
        // Other nodes' writes: a row's updated_at is taken before its transaction commits (and
        // on another machine's clock), so reads look 5 s back, not 1 s (a loaded test run missed
        // changes that became visible more than 1 s after their updated_at).
        if case .postgres = opened { streaming.lookback = .seconds(5) }
        let feed = RunFeed(configuration: streaming, store: opened.feedStore, engine: engine, logger: logger)
        let app = Application(
            router: BasePathRouter(
                basePath: basePath,
                router: OrreryRoutes.build(
                    service: service, feed: feed, metrics: metrics, dashboard: DashboardConfiguration(basePath: basePath),
                    failedAuthLimit: authFailuresPerMinute > 0 ? FailedAuthLimiter.Configuration(failures: authFailuresPerMinute) : nil)),
            // A connection that sends and receives nothing for a minute is closed: idle and
            // slowloris clients cannot pile up for ever (live streams send heartbeats).
            server: .http1(configuration: .init(idleTimeout: .seconds(60))),
            configuration: .init(address: .hostname(host, port: port), serverName: "Orrery"),
            onServerRunning: { [logger] channel in
                let bound = channel.localAddress?.port ?? port
                logger.info("tasks woken on NIO's event loops \(EventLoopConcurrency.isInstalled ? "stay there" : "hop to Swift's concurrency pool")")
                say("Orrery listening on http://\(host):\(bound) (data: \(opened.location))")
            },
            logger: logger)
        // Services stop in reverse order: the feed first, so open streams end and do not hold
        // up the HTTP server's graceful shutdown.
        let group = ServiceGroup(
            configuration: .init(services: services + [.init(service: service.tokenGrants), .init(service: pruner), .init(service: engine), .init(service: app), .init(service: feed)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await ListenFailure.naming(host: host, port: port) { try await group.run() }
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply schema migrations and list them.")
    @OptionGroup var store: StoreOptions

    func run() async throws {
        let opened = try await store.open(exclusive: false)
        defer { opened.close() }
        switch opened {
        case .sqlite(let sqlite): for name in try sqlite.appliedMigrations() { say(name) }
        case .postgres(let postgres): for name in try await postgres.migrate() { say(name) }
        }
    }
}

/// Writes a line to standard output at once (unbuffered: tests and scripts read it live).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

struct ScheduleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule", abstract: "Preview and explain schedules before saving them.",
        subcommands: [Explain.self])

    struct Explain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a cron expression's meaning and its next fire times, e.g. orrery schedule explain \"0 9 * * MON-FRI\" --tz Asia/Shanghai")

        @Argument(help: "A cron expression (5 or 6 fields, or @daily …).")
        var expression: String

        @Option(name: .customLong("tz"), help: "IANA time zone.")
        var timezone: String = "UTC"

        @Option(help: "How many fire times to show (1-1000).")
        var count: Int = 5

        @Option(help: "Start from this RFC 3339 instant instead of now.")
        var from: String?

        @Flag(help: "Print JSON, as POST /v1/schedules/preview answers.")
        var json = false

        func run() async throws {
            guard (1...1000).contains(count) else { throw ValidationError("--count must be between 1 and 1000") }
            let now = SystemClock().now()
            var start = now
            if let from {
                guard let t = Timestamp(rfc3339: from) else { throw ValidationError("--from \"\(from)\" is not an RFC 3339 time") }
                start = t
            }
            let schedule: Schedule
            do {
                schedule = try Schedule.parse(
                    .object(["type": .string("cron"), "expression": .string(expression), "timezone": .string(timezone)]), now: now)
            } catch let error as OrreryError {
                throw ValidationError(error.description)
            }
            let items = schedule.upcoming(after: start, count: count, createdAt: start)
            if json {
                let list = items.map { JSONValue.object(["at": .string($0.at.rfc3339), "local": .string($0.at.rfc3339(offsetSeconds: $0.offsetSeconds))]) }
                say(JSONValue.object(["items": .array(list), "description": .string(schedule.summary)]).jsonText)
                return
            }
            say(schedule.summary)
            for item in items {
                say("  \(item.at.rfc3339(offsetSeconds: item.offsetSeconds))   (\(item.at.rfc3339))")
            }
        }
    }
}

struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Create, list and revoke API tokens (works beside a running server).",
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a token and print it (alone; it is shown only once).")
        @OptionGroup var store: StoreOptions
        @Option(help: "viewer, operator, admin or worker.") var role: String
        @Option(help: "The project the token acts in.") var project: String = "default"
        @Option(help: "A name for people.") var name: String?
        @Option(help: "Lifetime, e.g. 30d, 12h, 90m.") var expiresIn: String?
        @Option(name: .customLong("right"), help: "A right beyond the role, e.g. shell (repeatable).") var rights: [String] = []
        @Option(name: .customLong("module"), help: "An external module a worker token serves (repeatable; --role worker).") var modules: [String] = []

        func run() async throws {
            guard let role = Role(rawValue: role) else { throw ValidationError("--role must be viewer, operator, admin or worker") }
            guard (role == .worker) == !modules.isEmpty else {
                throw ValidationError(role == .worker ? "a worker token needs --module NAME (the external modules it serves)" : "--module is for --role worker only")
            }
            for module in modules where !ModuleDescriptor.isValidName(module) {
                throw ValidationError("--module \"\(module)\" is not a module name")
            }
            for right in rights where !(1...50).contains(right.count) || !right.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") }) {
                throw ValidationError("--right \"\(right)\" must be 1-50 lowercase letters, digits or _ (e.g. shell)")
            }
            var seconds: Int64?
            if let text = expiresIn {
                let units: [Character: Int64] = ["d": 86_400, "h": 3_600, "m": 60, "s": 1]
                guard let unit = text.last.flatMap({ units[$0] }), let n = Int64(text.dropLast()), n > 0 else {
                    throw ValidationError("--expires-in must look like 30d, 12h, 90m or 45s")
                }
                seconds = n * unit
            }
            let opened = try await store.open(exclusive: false)
            defer { opened.close() }
            let (secret, token) = try await TokenIssuer.issue(
                store: opened.store, role: role, project: project, name: name ?? role.rawValue, expiresInSec: seconds, now: SystemClock().now(),
                rights: rights + modules.map(TaskService.Caller.workerRight(for:)))
            try await (opened.store as? any AuditStore)?.recordAudit(AuditEntry(
                at: SystemClock().now(), actor: "orrery token create", action: "token.create", target: token.id, project: token.project))
            say(secret)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tokens (never their secrets).")
        @OptionGroup var store: StoreOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let opened = try await store.open(exclusive: false)
            defer { opened.close() }
            let tokens = try await opened.store.listTokens()
            if json {
                say(JSONValue.object(["items": .array(tokens.map(\.json))]).jsonText)
                return
            }
            say("ID                          ROLE      PROJECT   NAME                 EXPIRES                   REVOKED")
            for t in tokens {
                let cells = [t.id, t.role, t.project, t.name, t.expiresAt?.rfc3339 ?? "-", t.revokedAt?.rfc3339 ?? "-"]
                let widths = [28, 10, 10, 21, 26, 0]
                say(zip(cells, widths).map { cell, width in width == 0 ? cell : cell.padding(toLength: max(width, cell.count + 1), withPad: " ", startingAt: 0) }.joined())
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token by id.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "The token id (from `orrery token list`).") var id: String

        func run() async throws {
            let opened = try await store.open(exclusive: false)
            defer { opened.close() }
            do {
                try await opened.store.revokeToken(id: id, now: SystemClock().now())
            } catch let error as OrreryError {
                throw ValidationError(error.description)
            }
            try await (opened.store as? any AuditStore)?.recordAudit(AuditEntry(
                at: SystemClock().now(), actor: "orrery token revoke", action: "token.revoke", target: id))
            say("revoked \(id)")
        }
    }
}
