public import Logging
public import OrreryCore

/// Claims due runs and hands them to the `Executor` (SPEC §4): as many as there are free
/// slots, up to `claimBatch` per transaction. It never polls on a fixed interval: it sleeps
/// until the earliest due run or until its doorbell rings (a new run here, a NOTIFY from
/// another node, a group commit that freed slots).
///
/// It claims `claimAhead` early: runs due within that much of now are claimed with the
/// rest, and the executor starts each at its `scheduled_at`. So a run's start does not wait
/// for the claim's transaction (nor for a group commit ahead of it on SQLite's one writer,
/// nor for another node's claim on PostgreSQL): firing is as punctual as a timer.
final class Dispatcher: Sendable {
    struct Configuration: Sendable {
        var node: String
        /// At most this many runs are claimed per transaction.
        var claimBatch: Int = 500
        /// How long a claimed run stays ours without renewal.
        var leaseDuration: Duration = .seconds(30)
        /// When set, never sleep longer: a safety net for a lost wake-up from another node.
        var maxIdleSleep: Duration?
        /// Runs due within this much of now are claimed now and started at their time.
        var claimAhead: Duration = .milliseconds(50)
    }

    let configuration: Configuration
    let store: any RunQueue
    let slots: RunSlots
    let clock: any EngineClock
    let logger: Logger
    let bell: Doorbell
    let health: StoreHealth
    /// Called after every claim transaction with how many runs it claimed.
    let claimed: @Sendable (Int) -> Void
    /// Set while claiming back to back, so the recorder lets claims go first.
    let pressure: ClaimPressure

    init(
        configuration: Configuration, store: any RunQueue, slots: RunSlots, clock: any EngineClock, logger: Logger,
        bell: Doorbell, health: StoreHealth, pressure: ClaimPressure = ClaimPressure(), claimed: @escaping @Sendable (Int) -> Void
    ) {
        self.configuration = configuration
        self.store = store
        self.slots = slots
        self.clock = clock
        self.logger = logger
        self.bell = bell
        self.health = health
        self.claimed = claimed
        self.pressure = pressure
    }

    /// Claims and starts runs until `isStopping` says so; store failures back off
    /// 50 ms × failures (at most 5 s) on the engine's clock.
    ///
    /// While claiming back to back (a burst), a store that allows it (`concurrentClaims`,
    /// PostgreSQL) is asked for several batches at once, each with its share of the free
    /// slots; not when queue or module limits apply, whose room each claim would count again.
    func dispatch(to executor: Executor, in runs: inout DiscardingTaskGroup, isStopping: () -> Bool) async {
        var failures = 0
        var backToBack = false
        defer { pressure.set(false) }
        while !isStopping() {
            let free = slots.free
            if free <= 0 {
                pressure.set(false)
                backToBack = false
                await bell.wait(until: nil, clock: clock)
                continue
            }
            let limits = slots.claimLimits()
            let streams = backToBack && limits == .none ? max(1, min(store.concurrentClaims, free)) : 1
            let limit = min(free / streams, configuration.claimBatch)
            do {
                var full = false
                var failure: (any Error)?
                for result in await claim(streams, limit: limit, limits: limits) {
                    switch result {
                    case .success(let batch):
                        slots.claimed(batch.count)
                        claimed(batch.count)
                        for run in batch { executor.start(run, in: &runs) }
                        full = full || batch.count == limit
                    case .failure(let error):
                        // The other claims' runs are started all the same: they are ours now.
                        failure = failure ?? error
                    }
                }
                if let failure { throw failure }
                failures = 0
                // A full batch with slots still free: more are due, claim again at once.
                backToBack = full && slots.free > 0
                pressure.set(backToBack)
                if full { continue }
                // Woken `claimAhead` before the next run is due, to claim it ahead.
                var next = try await store.nextDueTime(limits: slots.claimLimits()).map { $0.adding(.zero - configuration.claimAhead) }
                if let next, next <= clock.now() { continue }
                if let cap = configuration.maxIdleSleep { next = min(next ?? Timestamp(microseconds: .max), clock.now().adding(cap)) }
                await bell.wait(until: next, clock: clock)
            } catch {
                pressure.set(false)
                backToBack = false
                if isStopping() { break }
                health.failed(at: clock.now())
                failures += 1
                logger.error("claiming due runs failed", metadata: ["error": "\(error)", "failures": "\(failures)"])
                try? await clock.sleep(for: .milliseconds(min(50 * failures, 5_000)))
            }
        }
    }

    /// `streams` claims of up to `limit` runs each, at once; each one's runs or error.
    private func claim(_ streams: Int, limit: Int, limits: ClaimLimits) async -> [Result<[ClaimedRun], any Error>] {
        let now = clock.now()
        let claimOnce: @Sendable () async -> Result<[ClaimedRun], any Error> = { [store, configuration] in
            do {
                return .success(try await store.claimDue(
                    limit: limit, now: now, dueBy: now.adding(configuration.claimAhead), node: configuration.node,
                    leaseUntil: now.adding(configuration.leaseDuration), limits: limits))
            } catch {
                return .failure(error)
            }
        }
        guard streams > 1 else { return [await claimOnce()] }
        return await withTaskGroup(of: Result<[ClaimedRun], any Error>.self) { group in
            for _ in 0..<streams { group.addTask(operation: claimOnce) }
            var results: [Result<[ClaimedRun], any Error>] = []
            for await result in group { results.append(result) }
            return results
        }
    }
}
