public import Logging
public import OrreryCore
public import ServiceLifecycle

/// Sends one notification over one channel (e-mail through sendmail, a signed webhook POST).
/// Returns what happened; a failure is a value, not an error, so it can be recorded.
public protocol NotificationTransport: Sendable {
    var channel: NotificationDelivery.Channel { get }
    func send(_ content: NotificationContent, now: Timestamp) async -> NotificationSendResult
}

/// The outcome of one send: an HTTP status or sendmail's exit status, and an error when it failed.
public struct NotificationSendResult: Sendable, Hashable {
    public var statusCode: Int?
    public var error: String?
    public init(statusCode: Int? = nil, error: String? = nil) { self.statusCode = statusCode; self.error = error }
    public static func failed(_ error: String, statusCode: Int? = nil) -> NotificationSendResult {
        NotificationSendResult(statusCode: statusCode, error: error)
    }
}

/// Sends the notification outbox (SPEC §4 Notifications): claims due deliveries with a
/// lease (on PostgreSQL `FOR UPDATE SKIP LOCKED`, so each is sent by one node), sends each
/// through its channel's transport, records every attempt, and retries failures with
/// exponential backoff until `retry.giveUpAfter`. Everything is in the store: a restart
/// loses nothing, a node that dies mid-send leaves the delivery to another when its lease lapses.
public final class Notifier: Service, Sendable {
    public struct Configuration: Sendable {
        /// This node's name (the claim's lease holder).
        public var node: String
        /// Deliveries claimed per pass (and sent at once).
        public var batchSize: Int = 20
        /// How long a claim lasts: longer than a send can take (a webhook's timeout is 10 s).
        public var lease: Duration = .seconds(120)
        /// The longest sleep between passes when nothing is due sooner.
        public var pollInterval: Duration = .seconds(1)
        public var retry = NotificationRetry()
        /// The dashboard's public base URL, for links in e-mails (nil: no link).
        public var publicURL: String?
        /// Delivered and failed deliveries are deleted this long after their last attempt
        /// (default 7 days, as finished runs); nil keeps them.
        public var retention: Duration? = .seconds(7 * 86_400)
        /// How often old deliveries are pruned.
        public var pruneInterval: Duration = .seconds(3600)
        public init(node: String) { self.node = node }
    }

    public typealias Store = TaskStore & NotificationStore

    let configuration: Configuration
    let store: any Store
    let transports: [NotificationDelivery.Channel: any NotificationTransport]
    let clock: any EngineClock
    let logger: Logger

    public init(
        configuration: Configuration, store: any Store, transports: [any NotificationTransport],
        clock: any EngineClock = SystemClock(), logger: Logger = Logger(label: "orrery.notifier")
    ) {
        self.configuration = configuration
        self.store = store
        self.transports = Dictionary(transports.map { ($0.channel, $0) }, uniquingKeysWith: { _, last in last })
        self.clock = clock
        self.logger = logger
    }

    public func run() async throws {
        try await cancelWhenGracefulShutdown { await self.deliverForever() }
    }

    private func deliverForever() async {
        var nextPrune = clock.now()
        while !Task.isCancelled {
            if clock.now() >= nextPrune {
                nextPrune = clock.now().adding(configuration.pruneInterval)
                do {
                    try await prune()
                } catch {
                    logger.failure("pruning notifications failed", error)
                }
            }
            var sent = 0
            do {
                sent = try await deliverDue()
            } catch {
                logger.failure("sending notifications failed", error)
            }
            if sent >= configuration.batchSize { continue }
            let now = clock.now()
            var wake = now.adding(configuration.pollInterval)
            if let next = try? await store.nextNotificationTime(), next < wake { wake = max(next, now) }
            try? await clock.sleep(until: wake)
        }
    }

    /// Deletes delivered and failed deliveries older than the retention, in batches of 500;
    /// returns how many went.
    @discardableResult
    public func prune() async throws -> Int {
        guard let retention = configuration.retention else { return 0 }
        let cutoff = clock.now().adding(microseconds: -retention.microseconds)
        var total = 0
        while !Task.isCancelled {
            let deleted = try await store.pruneNotifications(before: cutoff, limit: 500)
            total += deleted
            if deleted < 500 { break }
        }
        return total
    }

    /// One pass: claims the due deliveries, sends them at once, records each attempt.
    /// Returns how many it tried.
    @discardableResult
    public func deliverDue() async throws -> Int {
        let now = clock.now()
        let claimed = try await store.claimDueNotifications(
            limit: configuration.batchSize, now: now, node: configuration.node, leaseUntil: now.adding(configuration.lease))
        guard !claimed.isEmpty else { return 0 }
        await withTaskGroup(of: Void.self) { group in
            for delivery in claimed {
                group.addTask { await self.deliver(delivery) }
            }
        }
        return claimed.count
    }

    private func deliver(_ delivery: NotificationDelivery) async {
        let started = clock.now()
        let result: NotificationSendResult
        if let transport = transports[delivery.channel] {
            result = await transport.send(await content(of: delivery), now: started)
        } else {
            result = .failed("no \(delivery.channel.rawValue) transport is configured on this node")
        }
        let finished = clock.now()
        let attempt = NotificationDelivery.Attempt(
            at: started, durationMs: max(0, (finished.microseconds - started.microseconds) / 1000),
            statusCode: result.statusCode, error: result.error)
        let retryAt = result.error == nil
            ? nil : configuration.retry.nextAttempt(afterFailures: delivery.attempts.count + 1, createdAt: delivery.createdAt, now: finished)
        do {
            try await store.recordNotificationAttempt(id: delivery.id, node: configuration.node, attempt: attempt, retryAt: retryAt, now: finished)
        } catch {
            logger.error("recording a notification attempt failed", metadata: ["delivery": "\(delivery.id)", "error": "\(error)"])
        }
        if let error = result.error {
            logger.warning("notification not delivered", metadata: [
                "delivery": "\(delivery.id)", "channel": "\(delivery.channel.rawValue)", "error": "\(error)",
                "retry_at": "\(retryAt?.rfc3339 ?? "never")",
            ])
        }
    }

    /// The run and its last log lines as stored now (a run pruned meanwhile: the delivery alone).
    private func content(of delivery: NotificationDelivery) async -> NotificationContent {
        let run = try? await store.run(id: delivery.runID, project: delivery.project)
        var lines: [String] = []
        if run != nil, let logs = try? await store.logs(runID: delivery.runID, offset: 0, limit: 10_000) {
            lines = logs.suffix(NotificationContent.maxLogLines).map { "\($0.timestamp.rfc3339) \($0.level.rawValue) \($0.message)" }
        }
        return NotificationContent(delivery: delivery, run: run, logLines: lines, publicURL: configuration.publicURL)
    }
}
