public import Logging
public import OrreryCore
import Synchronization

/// Claims due runs and hands them to the `Executor` (SPEC §4): as many as there are free
/// slots, up to `claimBatch` per transaction. It never polls on a fixed interval: it sleeps
/// until the earliest due run or until its doorbell rings (a new run here, a NOTIFY from
/// another node, a group commit that freed slots).
///
/// It claims `claimAhead` early: runs due within that much of now are claimed with the
/// rest, and the executor starts each at its `scheduled_at`. So a run's start does not wait
/// for the claim's transaction (nor for a group commit ahead of it on SQLite's one writer,
/// nor for another node's claim on PostgreSQL): firing is as punctual as a timer.
///
/// Before a burst — more runs due at the same time than one claim takes, as at the top of
/// the hour — it starts claiming as long before their time as claiming them is expected to
/// take (the runs due, times the recent claims' time per run; at most `maxClaimAhead`), so
/// that the last of them too is claimed by its time and starts on it.
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
        /// How early a burst may be claimed at most.
        var maxClaimAhead: Duration = .seconds(5)
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
    /// Recent full claims' time per run claimed (a moving average), to time a burst's claims.
    private let claimCost = Mutex(Duration.microseconds(100))

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
        // A burst due at `due`, claimed from `from` on: from then until a claim comes back
        // short, claims take the runs due by `due + claimAhead` too.
        var burst: (due: Timestamp, from: Timestamp)?
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
                // What a claim costs is the database's work, so it is timed on the real clock.
                let started = ContinuousClock.now
                let dueAfter = burst.flatMap { clock.now() >= $0.from ? $0.due : nil }
                let results = await claim(streams, limit: limit, limits: limits, dueAfter: dueAfter)
                let total = results.reduce(0) { $0 + ((try? $1.get().count) ?? 0) }
                if total == streams * limit && total > 0 { measured(ContinuousClock.now - started, runs: total) }
                for result in results {
                    switch result {
                    case .success(let batch):
                        slots.claimed(batch.count)
                        claimed(batch.count)
                        executor.start(batch, in: &runs)
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
                burst = nil
                // Woken `claimAhead` before the next run is due, to claim it ahead; earlier
                // before a burst.
                let nextLimits = slots.claimLimits()
                let due = try await store.nextDueTime(limits: nextLimits)
                var next = due.map { $0.adding(.zero - configuration.claimAhead) }
                if let next, next <= clock.now() { continue }
                if let due, nextLimits == .none, let lead = try await burstLead(due: due) {
                    let from = due.adding(.zero - lead)
                    burst = (due, from)
                    if from <= clock.now() { continue }
                    next = from
                }
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

    /// How long before `due` to start claiming, when more runs are due by `due + claimAhead`
    /// than one claim takes (and slots are free for them): as long as claiming as many of them
    /// as there are free slots is expected to take, plus `claimAhead`; at most `maxClaimAhead`.
    /// Nil for fewer runs: `claimAhead` is enough.
    /// Counted only where it can matter: with fewer free slots than one claim takes (the
    /// default concurrency of 100) no burst is possible, and no query is made.
    private func burstLead(due: Timestamp) async throws -> Duration? {
        let free = slots.free
        guard free > configuration.claimBatch, configuration.maxClaimAhead > configuration.claimAhead else { return nil }
        let count = min(try await store.dueCount(by: due.adding(configuration.claimAhead)), free)
        guard count > configuration.claimBatch else { return nil }
        return min(configuration.claimAhead + claimCost.withLock { $0 } * count, configuration.maxClaimAhead)
    }

    /// Folds a full claim's time into the time per run.
    private func measured(_ elapsed: Duration, runs: Int) {
        claimCost.withLock { $0 = ($0 * 4 + elapsed / runs) / 5 }
    }

    /// `streams` claims of up to `limit` runs each, at once; each one's runs or error. With
    /// `dueAfter` (a burst claimed early), runs due by then are claimed too.
    private func claim(_ streams: Int, limit: Int, limits: ClaimLimits, dueAfter burst: Timestamp?) async -> [Result<[ClaimedRun], any Error>] {
        let now = clock.now()
        let dueBy = max(now, burst ?? now).adding(configuration.claimAhead)
        // A claim is not canceled with the engine's task: once the database has committed it,
        // its runs are this node's, and they must reach the executor (which hands back the ones
        // that wait for their time) rather than stay active under a lease nobody holds. A store
        // may answer a canceled caller at once, whatever the database did (PostgreSQL's does).
        // The claim stays bounded by the store's own time limits.
        let claimOnce: @Sendable () async -> Result<[ClaimedRun], any Error> = { [store, configuration] in
            await Task.immediate {
                do {
                    return .success(try await store.claimDue(
                        limit: limit, now: now, dueBy: dueBy, node: configuration.node,
                        leaseUntil: now.adding(configuration.leaseDuration), limits: limits))
                } catch {
                    return .failure(error)
                }
            }.value
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
