public import Logging
public import OrreryCore
public import ServiceLifecycle

/// Deletes finished runs and their logs after a retention period and beyond the newest N
/// per task (SPEC §4). Works in small transactions with pauses between them, so the
/// store's single writer is never held long and firing is never blocked.
public final class Pruner: Service, Sendable {
    public struct Configuration: Sendable {
        /// Finished runs older than this are deleted (default 7 days, as Synapse); nil keeps them.
        public var retention: Duration? = .seconds(7 * 86_400)
        /// Keep at most this many finished runs per task; nil: no limit.
        public var keepNewestPerTask: Int?
        /// Idempotency keys are honoured this long, then forgotten (default 24 hours, as
        /// Stripe); nil keeps them for ever.
        public var idempotencyWindow: Duration? = .seconds(86_400)
        /// How often a pruning pass starts.
        public var interval: Duration = .seconds(300)
        /// Runs deleted (or tasks visited) per transaction.
        public var batchSize: Int = 500
        /// The pause between two transactions of a pass: real time (it is a throttle that
        /// leaves the writer to firing, not a schedule), so it does not wait on an injected clock.
        public var pause: Duration = .milliseconds(20)
        /// When set (several nodes share the store), only the leader prunes.
        public var leadership: Leadership?
        public init() {}
    }

    let configuration: Configuration
    let store: any PruningStore
    let clock: any EngineClock
    let logger: Logger

    public init(configuration: Configuration, store: any PruningStore, clock: any EngineClock = SystemClock(), logger: Logger = Logger(label: "orrery.pruner")) {
        self.configuration = configuration
        self.store = store
        self.clock = clock
        self.logger = logger
    }

    public func run() async throws {
        try await cancelWhenGracefulShutdown { await self.pruneForever() }
    }

    private func pruneForever() async {
        while !Task.isCancelled {
            if let leadership = configuration.leadership, !leadership.isLeader(at: clock.now()) {
                try? await clock.sleep(for: min(configuration.interval, .seconds(5)))
                continue
            }
            do {
                let deleted = try await prune()
                if deleted > 0 { logger.info("pruned finished runs", metadata: ["runs": "\(deleted)"]) }
            } catch {
                logger.failure("pruning failed", error)
            }
            try? await clock.sleep(for: configuration.interval)
        }
    }

    /// One whole pass; returns how many runs it deleted (expired idempotency keys go too).
    @discardableResult
    public func prune() async throws -> Int {
        var total = 0
        if let retention = configuration.retention {
            let cutoff = clock.now().adding(microseconds: -retention.microseconds)
            while !Task.isCancelled {
                let deleted = try await store.pruneFinished(before: cutoff, limit: configuration.batchSize)
                total += deleted
                if deleted < configuration.batchSize { break }
                try? await Task.sleep(for: configuration.pause)
            }
            // Events go with the runs, under the same retention (issue 12).
            if let events = store as? any EventStore {
                while !Task.isCancelled {
                    let deleted = try await events.pruneEvents(before: cutoff, limit: configuration.batchSize)
                    if deleted < configuration.batchSize { break }
                    try? await Task.sleep(for: configuration.pause)
                }
            }
        }
        if let keep = configuration.keepNewestPerTask, keep > 0 {
            var after: Int64 = 0
            while !Task.isCancelled {
                let (deleted, last) = try await store.pruneBeyondNewest(keep, afterTaskSeq: after, taskLimit: configuration.batchSize)
                total += deleted
                guard let last else { break }
                after = last
                try? await Task.sleep(for: configuration.pause)
            }
        }
        if let window = configuration.idempotencyWindow {
            let cutoff = clock.now().adding(microseconds: -window.microseconds)
            while !Task.isCancelled {
                let forgotten = try await store.pruneIdempotencyKeys(before: cutoff, limit: configuration.batchSize)
                if forgotten < configuration.batchSize { break }
                try? await Task.sleep(for: configuration.pause)
            }
        }
        return total
    }
}
