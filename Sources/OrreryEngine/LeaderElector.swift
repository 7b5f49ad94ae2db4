public import Logging
public import OrreryCore
public import ServiceLifecycle
import Synchronization

/// Whether this node leads housekeeping right now. The window is this node's own: it
/// ends at the lease's expiry by the local clock even when the store cannot be reached,
/// so a node cut off from the database stops acting as leader before another takes over.
public final class Leadership: Sendable {
    private let until = Atomic<Int64>(.min)

    public init() {}

    public func isLeader(at now: Timestamp) -> Bool { now.microseconds < until.load(ordering: .acquiring) }

    func lead(until end: Timestamp?) { until.store(end?.microseconds ?? .min, ordering: .releasing) }
}

/// Elects one leader among the nodes that share a store (River's leader row with an
/// expiry): each node tries to take or renew the lease every `renewInterval`; the holder
/// renews it before it expires, and on graceful shutdown gives it up at once.
public final class LeaderElector: Service, Sendable {
    public struct Configuration: Sendable {
        /// Which leadership: one per kind of housekeeping.
        public var name = "housekeeping"
        /// This node's name (the engine's).
        public var node: String
        /// How long a lease lasts without renewal.
        public var ttl: Duration = .seconds(15)
        /// How often the lease is taken or renewed.
        public var renewInterval: Duration = .seconds(5)
        public init(node: String) { self.node = node }
    }

    public let configuration: Configuration
    public let leadership: Leadership
    let store: any LeaderStore
    let clock: any EngineClock
    let logger: Logger

    public init(configuration: Configuration, store: any LeaderStore, leadership: Leadership = Leadership(), clock: any EngineClock = SystemClock(), logger: Logger = Logger(label: "orrery.leader")) {
        self.configuration = configuration
        self.store = store
        self.leadership = leadership
        self.clock = clock
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown { await self.electForever() }
        let wasLeader = leadership.isLeader(at: clock.now())
        leadership.lead(until: nil)
        if wasLeader { try? await store.resignLeadership(configuration.name, node: configuration.node) }
    }

    private func electForever() async {
        var leading = false
        while !Task.isCancelled {
            await elect(&leading)
            try? await clock.sleep(for: configuration.renewInterval)
        }
    }

    /// One round: take or renew the lease. The window counts from before the call, so it
    /// never outlasts the lease the store recorded.
    func elect(_ leading: inout Bool) async {
        let start = clock.now()
        let until = start.adding(configuration.ttl)
        do {
            let won = try await store.claimLeadership(configuration.name, node: configuration.node, now: start, until: until)
            leadership.lead(until: won ? until : nil)
            if won != leading {
                logger.info(won ? "this node is now the leader" : "this node is no longer the leader", metadata: ["node": "\(configuration.node)"])
                leading = won
            }
        } catch {
            // The window we already hold ends by itself; nothing more to do until the store is back.
            logger.warning("leader election failed", metadata: ["error": "\(error)"])
        }
    }
}
