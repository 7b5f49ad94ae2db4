import Logging
import OrreryCore

/// How many runs this node may start: the global limit, and per-queue and per-module limits
/// (SPEC §4). Shared by the `Dispatcher` (which claims only what fits) and the `Executor`
/// (which gives slots back).
///
/// A slot frees when the run's work returns, so the next claim does not wait for the group
/// commit that writes the end (on PostgreSQL one node was bound by that wait: claim, run,
/// commit, and only then claim again). Runs whose end is not written yet are bounded too: at
/// most twice the limit, claimed or ended, are held by this node before the store has their
/// ends. The `Executor` rings the dispatcher when a returned run makes room where there was
/// none: the dispatcher waits for room only then (otherwise it waits for the next due time).
final class RunSlots: Sendable {
    struct Limits: Sendable {
        var concurrency: Int
        var queueLimits: [String: Int] = [:]
        var moduleLimits: [String: Int] = [:]
    }

    private struct Counts {
        /// Runs claimed whose end is not yet written.
        var unwritten = 0
        /// Runs claimed whose work has not returned (waiting for their time, or executing).
        var working = 0
    }

    let limits: Limits
    private let counts = Locked(Counts())
    /// Runs executing now, per limited queue and per limited module.
    private let executing = Locked<(queues: [String: Int], modules: [String: Int])>(([:], [:]))

    /// External modules: never claimed here (as if their limit were full).
    let external: ExternalModuleCatalogue?

    init(_ limits: Limits, external: ExternalModuleCatalogue? = nil) { self.limits = limits; self.external = external }

    /// Slots free under the global limit.
    var free: Int { counts.withLock { free($0) } }

    private func free(_ c: Counts) -> Int { min(limits.concurrency - c.working, 2 * limits.concurrency - c.unwritten) }

    func claimed(_ count: Int) { counts.withLock { $0.unwritten += count; $0.working += count } }

    /// A run's work returned (or it ended without starting): its slot is free. True when that
    /// made room where there was none.
    func workReturned() -> Bool {
        counts.withLock { c in
            let before = free(c)
            c.working -= 1
            return before <= 0 && free(c) > 0
        }
    }

    /// Ends written to the store (the recorder rings the dispatcher after each write).
    func endsWritten(_ count: Int) { counts.withLock { $0.unwritten -= count } }

    /// Free slots of the limited queues and modules, as the store's claim takes them.
    func claimLimits() -> ClaimLimits {
        let external = self.external?.names ?? []
        guard !limits.queueLimits.isEmpty || !limits.moduleLimits.isEmpty || !external.isEmpty else { return .none }
        var claimLimits = executing.withLock { e in
            ClaimLimits(
                queueRoom: limits.queueLimits.reduce(into: [:]) { $0[$1.key] = $1.value - e.queues[$1.key, default: 0] },
                moduleRoom: limits.moduleLimits.reduce(into: [:]) { $0[$1.key] = $1.value - e.modules[$1.key, default: 0] })
        }
        for name in external { claimLimits.moduleRoom[name] = 0 }
        return claimLimits
    }

    /// Counts a run in or out of its limited queue and module; true when it had a limit
    /// (its end may let a waiting run of that queue or module start).
    @discardableResult
    func track(_ run: TaskRun, delta: Int) -> Bool {
        let limitedQueue = limits.queueLimits[run.queue] != nil
        let limitedModule = limits.moduleLimits[run.module] != nil
        guard limitedQueue || limitedModule else { return false }
        executing.withLock { e in
            if limitedQueue { e.queues[run.queue, default: 0] += delta }
            if limitedModule { e.modules[run.module, default: 0] += delta }
        }
        return true
    }
}

extension Logger {
    /// Logs a failed call of a service's loop at error level, or at debug when the calling
    /// task is canceled: the engine is stopping, and a call cut short then is no failure (an
    /// error line at every shutdown would mislead, and a `StoreHealth` failure would hold
    /// rescues back a lease). True when it was a failure.
    @discardableResult
    func failure(_ message: Logger.Message, _ error: any Error) -> Bool {
        guard !Task.isCancelled else {
            debug("\(message) (interrupted: stopping)", metadata: ["error": "\(error)"])
            return false
        }
        self.error(message, metadata: ["error": "\(error)"])
        return true
    }
}

/// When this node's store calls last failed: leases could not be renewed around then, so
/// the `Rescuer` does not end lapsed leases until one lease after it (their nodes may be alive).
final class StoreHealth: Sendable {
    private let lastFailure = Locked<Timestamp?>(nil)
    func failed(at now: Timestamp) { lastFailure.withLock { $0 = now } }
    var lastFailureAt: Timestamp? { lastFailure.withLock { $0 } }
}
