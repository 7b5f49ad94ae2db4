public import Logging
public import OrreryCore
public import ServiceLifecycle

/// Keeps the leases of the runs this node holds (SPEC §4 crash recovery): every
/// `interval` it extends them to now + `leaseDuration`, and passes on the cancels asked
/// for them through any node — the safety net when a cancel's notice was lost.
///
/// Only leases ending within `leaseDuration - interval / 2` are extended: a lease left
/// alone still has more than two intervals to run, so two renewals may fail before it lapses
/// as before. Runs claimed moments ago (a burst of 20,000 at the top of the hour) are not
/// written again a few seconds later, at the moment the store is busiest.
/// River's `JobRescuer` counterpart on the holder's side: one job, one service.
final class LeaseRenewer: Service, Sendable {
    public struct Configuration: Sendable {
        public var node: String
        public var leaseDuration: Duration = .seconds(30)
        /// How often leases are renewed; a third of the lease by default, so two renewals
        /// may fail before a lease lapses.
        public var interval: Duration
        public init(node: String, leaseDuration: Duration = .seconds(30), interval: Duration? = nil) {
            self.node = node
            self.leaseDuration = leaseDuration
            self.interval = interval ?? leaseDuration / 3
        }
    }

    public let configuration: Configuration
    let store: any RunQueue
    let clock: any EngineClock
    let logger: Logger
    /// The runs held now (executing, or ended with the end not yet written).
    let held: @Sendable () -> [String]
    /// A held run whose cancel was asked.
    let cancelRequested: @Sendable (String) -> Void
    let health: StoreHealth

    init(
        configuration: Configuration, store: any RunQueue, clock: any EngineClock, logger: Logger, health: StoreHealth,
        held: @escaping @Sendable () -> [String], cancelRequested: @escaping @Sendable (String) -> Void
    ) {
        self.configuration = configuration
        self.store = store
        self.clock = clock
        self.logger = logger
        self.health = health
        self.held = held
        self.cancelRequested = cancelRequested
    }

    public func run() async {
        while !Task.isCancelled {
            try? await clock.sleep(for: configuration.interval)
            if Task.isCancelled { return }
            await renewOnce()
        }
    }

    /// One renewal of every held lease.
    func renewOnce() async {
        do {
            let now = clock.now()
            let cancels = try await store.renewLeases(
                node: configuration.node, runIDs: held(), until: now.adding(configuration.leaseDuration),
                expiringBefore: now.adding(configuration.leaseDuration - configuration.interval / 2))
            for runID in cancels { cancelRequested(runID) }
        } catch {
            if logger.failure("renewing leases failed", error) { health.failed(at: clock.now()) }
        }
    }
}
