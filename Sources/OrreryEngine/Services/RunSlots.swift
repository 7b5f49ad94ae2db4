import OrreryCore

/// How many runs this node may start: the global limit, and per-queue and per-module limits
/// (SPEC §4). Shared by the `Dispatcher` (which claims only what fits) and the `Executor`
/// (which gives slots back). A slot frees when the run's end is durable, not when its work
/// returns, so slots come back in batches (one per group commit) and claims stay large.
final class RunSlots: Sendable {
    struct Limits: Sendable {
        var concurrency: Int
        var queueLimits: [String: Int] = [:]
        var moduleLimits: [String: Int] = [:]
    }

    let limits: Limits
    /// Runs claimed whose end is not yet written.
    private let inFlight = Locked(0)
    /// Runs executing now, per limited queue and per limited module.
    private let executing = Locked<(queues: [String: Int], modules: [String: Int])>(([:], [:]))

    /// External modules: never claimed here (as if their limit were full).
    let external: ExternalModuleCatalogue?

    init(_ limits: Limits, external: ExternalModuleCatalogue? = nil) { self.limits = limits; self.external = external }

    /// Slots free under the global limit.
    var free: Int { limits.concurrency - inFlight.withLock { $0 } }

    func claimed(_ count: Int) { inFlight.withLock { $0 += count } }

    /// Ends written to the store free their slots.
    func endsWritten(_ count: Int) { inFlight.withLock { $0 -= count } }

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

/// When this node's store calls last failed: leases could not be renewed around then, so
/// the `Rescuer` does not end lapsed leases until one lease after it (their nodes may be alive).
final class StoreHealth: Sendable {
    private let lastFailure = Locked<Timestamp?>(nil)
    func failed(at now: Timestamp) { lastFailure.withLock { $0 = now } }
    var lastFailureAt: Timestamp? { lastFailure.withLock { $0 } }
}
