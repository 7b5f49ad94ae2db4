public import Logging
public import OrreryCore
public import ServiceLifecycle

/// Ends runs whose lease lapsed (SPEC §4 crash recovery): retried per policy, or failed
/// with `lease_expired`, or canceled when a cancel was asked. With several nodes only the
/// leader rescues; on an exclusive store (SQLite) every active run found at start belongs to
/// a dead process and is rescued at once.
final class Rescuer: Service, Sendable {
    public struct Configuration: Sendable {
        /// This node: at start on an exclusive store, its own runs are not orphans.
        public var node: String
        /// How often lapsed leases are looked for.
        public var interval: Duration = .seconds(10)
        /// After a store failure, lapsed leases wait this long (their nodes may be alive
        /// and unable to renew through the same outage).
        public var leaseDuration: Duration = .seconds(30)
        public var exclusiveStore = false
        /// When set, periodic rescue runs only while this node leads.
        public var leadership: Leadership?
        public init(node: String) { self.node = node }
    }

    public let configuration: Configuration
    let store: any RunQueue
    let clock: any EngineClock
    let logger: Logger
    let health: StoreHealth
    /// Called with what a rescue ended (for counters and wake-ups).
    let rescued: @Sendable (RecordSummary) -> Void

    init(
        configuration: Configuration, store: any RunQueue, clock: any EngineClock, logger: Logger, health: StoreHealth,
        rescued: @escaping @Sendable (RecordSummary) -> Void
    ) {
        self.configuration = configuration
        self.store = store
        self.clock = clock
        self.logger = logger
        self.health = health
        self.rescued = rescued
    }

    public func run() async {
        while !Task.isCancelled {
            try? await clock.sleep(for: configuration.interval)
            if Task.isCancelled { return }
            await rescueLapsed()
        }
    }

    /// Rescues what lapsed by now, when this node may (leader, no recent store failure).
    func rescueLapsed() async {
        let now = clock.now()
        if let leadership = configuration.leadership, !leadership.isLeader(at: now) { return }
        if let failed = health.lastFailureAt, now < failed.adding(configuration.leaseDuration) { return }
        await rescue(expiredBefore: now, exceptNode: nil)
    }

    /// At start: an exclusive store's active runs are all orphans; a lone node (no
    /// leadership) rescues what already lapsed; with leadership, the leader's loop does it.
    func rescueOrphansAtStart() async {
        if configuration.exclusiveStore {
            await rescue(expiredBefore: Timestamp(microseconds: .max), exceptNode: configuration.node)
        } else if configuration.leadership == nil {
            await rescue(expiredBefore: clock.now(), exceptNode: nil)
        }
    }

    private func rescue(expiredBefore: Timestamp, exceptNode: String?) async {
        do {
            let summary = try await store.rescueExpired(expiredBefore: expiredBefore, exceptNode: exceptNode, now: clock.now())
            if summary.ended > 0 {
                logger.warning("rescued runs whose lease lapsed", metadata: ["runs": "\(summary.ended)", "retries": "\(summary.retriesScheduled)"])
            }
            rescued(summary)
        } catch {
            if logger.failure("rescuing runs failed", error) { health.failed(at: clock.now()) }
        }
    }
}
