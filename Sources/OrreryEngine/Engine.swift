public import Logging
public import OrreryCore
public import ServiceLifecycle
import Synchronization

/// The long-running heart of Orrery: claims due runs, runs their modules under a global
/// concurrency limit, renews their leases, records their ends in group commits, and
/// rescues runs whose lease lapsed. One `Service`; its `run()` is its whole life.
///
/// It never polls on a fixed interval: it sleeps until the earliest due run or until
/// `wake()` says something new was scheduled.
public final class Engine: Service, Sendable {
    public struct Configuration: Sendable {
        /// This process's name in `runs.node`; unique per start, so a restarted process
        /// never renews the leases of the one that died.
        public var node: String
        /// At most this many runs execute at once.
        public var concurrency: Int = 100
        /// Per-queue limits (a queue not listed shares only the global limit). A saturated
        /// queue's runs wait without standing in the way of other queues' runs.
        public var queueLimits: [String: Int] = [:]
        /// Per-module limits, likewise.
        public var moduleLimits: [String: Int] = [:]
        /// At most this many runs are claimed per transaction.
        public var claimBatch: Int = 500
        /// How long a claimed run stays ours without renewal.
        public var leaseDuration: Duration = .seconds(30)
        /// How often runs with lapsed leases are looked for.
        public var rescueInterval: Duration = .seconds(10)
        /// On graceful shutdown, how long active runs may take to finish before they are
        /// handed back (scheduled again).
        public var shutdownGrace: Duration = .seconds(10)
        /// After a timeout cancels a run's work, how long the work may take to stop before the
        /// run is ended `failed` (`timeout`) anyway and the work is abandoned.
        public var cancelGrace: Duration = .seconds(5)
        /// The store is ours alone (SQLite with its lock): every active run found at start
        /// belongs to a dead process and is rescued at once instead of after its lease.
        public var exclusiveStore: Bool = false
        /// When set (several nodes share the store), periodic rescue runs only while this
        /// node is the leader.
        public var leadership: Leadership?
        /// When set, the dispatcher never sleeps longer than this: a safety net for a
        /// wake-up from another node that was lost (a dropped `LISTEN` connection).
        public var maxIdleSleep: Duration?
        /// Per-run metrics (ends, durations, lateness); nil: none.
        public var metrics: RunMetrics?

        public init(node: String) { self.node = node }
    }

    public let configuration: Configuration
    let store: any RunQueue
    let registry: ModuleRegistry
    let clock: any EngineClock
    let logger: Logger
    let recorder: RunRecorder
    private let dispatchBell = Doorbell()
    /// Rung whenever this node wrote run changes (claims, group commits, rescues, API
    /// writes): the live event stream (`RunFeed`) looks at the store at once instead of at
    /// its next poll.
    let changeBell = Doorbell()
    private let active = Mutex<[String: ActiveRun]>([:])
    private let stopping = Atomic<Bool>(false)
    private let running = Atomic<Bool>(false)
    private let counters = Locked(EngineCounters())
    /// Runs claimed whose end is not yet written. A slot frees when the end is durable,
    /// so slots come back in batches (one per group commit) and claims stay large.
    private let inFlight = Locked(0)
    /// Runs executing now, per limited queue and per limited module.
    private let executing = Locked<(queues: [String: Int], modules: [String: Int])>(([:], [:]))
    /// When a store call last failed: leases could not be renewed around then, so lapsed
    /// leases are not rescued until one lease after it (their nodes may be alive).
    private let lastStoreFailure = Locked<Timestamp?>(nil)

    public init(configuration: Configuration, store: any RunQueue, modules: ModuleRegistry, clock: any EngineClock = SystemClock(), logger: Logger = Logger(label: "orrery.engine")) {
        self.configuration = configuration
        self.store = store
        self.registry = modules
        self.clock = clock
        self.logger = logger
        let bell = dispatchBell
        let changeBell = self.changeBell
        let counters = self.counters
        let inFlight = self.inFlight
        self.recorder = RunRecorder(store: store, node: configuration.node, clock: clock, logger: logger) { summary, endsWritten in
            counters.withLock { $0.recorded += summary.ended; $0.recordTransactions += 1 }
            inFlight.withLock { $0 -= endsWritten }
            bell.ring()
            changeBell.ring()
        }
    }

    /// Something new may be due earlier than the engine is sleeping for: look again now.
    public func wake() {
        dispatchBell.ring()
        changeBell.ring()
    }

    /// Runs changed through this node outside the engine (a cancel, a dismissal): live
    /// streams look at the store now.
    public func runsChanged() { changeBell.ring() }

    /// Between the start of `run()` and a graceful shutdown's signal (for `/readyz`).
    public var isRunning: Bool { running.load(ordering: .relaxed) && !stopping.load(ordering: .relaxed) }

    /// Counts since start, for tests, benchmarks and metrics.
    public var stats: EngineCounters { counters.withLock { $0 } }

    /// Asks a run this engine is executing to stop; it ends `canceled`. False if not here.
    @discardableResult
    public func requestCancel(runID: String) -> Bool {
        guard let run = active.withLock({ $0[runID] }) else { return false }
        run.cancel(.requested)
        return true
    }

    public func run() async throws {
        try await withGracefulShutdownHandler {
            await self.runLoops()
        } onGracefulShutdown: {
            self.stopping.store(true, ordering: .relaxed)
            self.dispatchBell.ring()
        }
    }

    private func runLoops() async {
        running.store(true, ordering: .relaxed)
        defer { running.store(false, ordering: .relaxed) }
        await rescueOrphansAtStart()
        await withTaskGroup(of: Void.self) { background in
            background.addTask { await self.recorder.run() }
            background.addTask { await self.renewLeasesForever() }
            background.addTask { await self.rescueForever() }
            if let notifying = self.store as? any NotifyingStore {
                background.addTask { await notifying.listenForDueRuns { self.dispatchBell.ring() } }
                // A cancel asked through another node (or an `overlap: replace` claimed there).
                background.addTask { await notifying.listenForCancelRequests { self.requestCancel(runID: $0) } }
            }
            await withDiscardingTaskGroup { runs in
                await self.dispatch(into: &runs)
                await self.drain()
            }
            background.cancelAll()
        }
        logger.info("engine stopped", metadata: ["node": "\(configuration.node)"])
    }

    private var isStopping: Bool { stopping.load(ordering: .relaxed) || Task.isCancelled }

    // MARK: Dispatching

    private func dispatch(into runs: inout DiscardingTaskGroup) async {
        var failures = 0
        while !isStopping {
            let free = configuration.concurrency - inFlight.withLock { $0 }
            if free <= 0 {
                await dispatchBell.wait(until: nil, clock: clock)
                continue
            }
            let limit = min(free, configuration.claimBatch)
            let limits = claimLimits()
            do {
                let now = clock.now()
                let claimed = try await store.claimDue(
                    limit: limit, now: now, node: configuration.node, leaseUntil: now.adding(configuration.leaseDuration), limits: limits)
                failures = 0
                counters.withLock { $0.claimed += claimed.count; $0.claimTransactions += 1 }
                inFlight.withLock { $0 += claimed.count }
                if !claimed.isEmpty { changeBell.ring() }
                for run in claimed {
                    for old in run.replaces { requestCancel(runID: old) }
                    track(run.run, delta: 1)
                    let handle = ActiveRun()
                    active.withLock { $0[run.run.id] = handle }
                    runs.addTask { await self.execute(run, handle: handle) }
                }
                if claimed.count == limit { continue }
                var next = try await store.nextDueTime(limits: claimLimits())
                if let next, next <= clock.now() { continue }
                if let cap = configuration.maxIdleSleep { next = min(next ?? Timestamp(microseconds: .max), clock.now().adding(cap)) }
                await dispatchBell.wait(until: next, clock: clock)
            } catch {
                if isStopping { break }
                noteStoreFailure()
                failures += 1
                logger.error("claiming due runs failed", metadata: ["error": "\(error)", "failures": "\(failures)"])
                try? await clock.sleep(for: .milliseconds(min(50 * failures, 5_000)))
            }
        }
    }

    private func execute(_ claimed: ClaimedRun, handle: ActiveRun) async {
        let run = claimed.run
        configuration.metrics?.started(run)
        let end: RunOutcome.End
        if let module = registry[run.module] {
            let sink = RunSink(runID: run.id, recorder: recorder, clock: clock)
            let context = RunContext(run: run, paramsJSON: claimed.paramsJSON, sink: sink, event: claimed.event)
            let work = Task { try await module.run(context) }
            handle.attach(work)
            let result = await awaitWork(work, handle: handle, timeoutSec: claimed.timeoutSec)
            sink.close()  // whatever the work writes from now on is refused
            switch result {
            case .success(let value):
                end = handle.reason.map(Self.end(for:)) ?? .complete(result: value)
            case .failure(let error as RunError):
                end = handle.reason.map(Self.end(for:)) ?? .failed(error)
            case .failure(let error):
                end = handle.reason.map(Self.end(for:)) ?? .failed(RunError(code: "module_error", message: "\(error)"))
            }
        } else {
            end = .failed(RunError(code: "unknown_module", message: "no module named \"\(run.module)\" is registered on node \(configuration.node)"))
        }
        active.withLock { _ = $0.removeValue(forKey: run.id) }
        if track(run, delta: -1) { dispatchBell.ring() }  // a limited queue or module has room again
        let outcome = RunOutcome(runID: run.id, end: end, at: clock.now())
        configuration.metrics?.ended(run, end, at: outcome.at)  // counted before anyone can read the end
        recorder.end(outcome)
        counters.withLock { $0.finished += 1 }
    }

    /// The work's result — or, when `timeout_sec` passes, the work is canceled and given
    /// `cancelGrace` to stop; work that ignores cancellation is abandoned then, and the run
    /// still ends on time.
    private func awaitWork(_ work: Task<JSONValue?, any Error>, handle: ActiveRun, timeoutSec: Int64?) async -> Result<JSONValue?, any Error> {
        guard let timeoutSec else { return await work.result }
        let first = FirstResult<Result<JSONValue?, any Error>>()
        Task { first.offer(await work.result) }
        let clock = self.clock
        let grace = configuration.cancelGrace
        let timer = Task {
            try? await clock.sleep(for: .seconds(timeoutSec))
            guard !Task.isCancelled else { return }
            handle.cancel(.timeout(seconds: timeoutSec))
            try? await clock.sleep(for: grace)
            guard !Task.isCancelled else { return }
            first.offer(.failure(CancellationError()))
        }
        let result = await first.value()
        timer.cancel()
        return result
    }

    /// Free slots of the limited queues and modules.
    private func claimLimits() -> ClaimLimits {
        guard !configuration.queueLimits.isEmpty || !configuration.moduleLimits.isEmpty else { return .none }
        return executing.withLock { e in
            ClaimLimits(
                queueRoom: configuration.queueLimits.reduce(into: [:]) { $0[$1.key] = $1.value - e.queues[$1.key, default: 0] },
                moduleRoom: configuration.moduleLimits.reduce(into: [:]) { $0[$1.key] = $1.value - e.modules[$1.key, default: 0] })
        }
    }

    /// Counts a run in or out of its limited queue and module; true when it had a limit.
    @discardableResult
    private func track(_ run: TaskRun, delta: Int) -> Bool {
        let limitedQueue = configuration.queueLimits[run.queue] != nil
        let limitedModule = configuration.moduleLimits[run.module] != nil
        guard limitedQueue || limitedModule else { return false }
        executing.withLock { e in
            if limitedQueue { e.queues[run.queue, default: 0] += delta }
            if limitedModule { e.modules[run.module, default: 0] += delta }
        }
        return true
    }

    private static func end(for reason: CancelReason) -> RunOutcome.End {
        switch reason {
        case .requested: .canceled
        case .timeout(let seconds): .failed(RunError(code: "timeout", message: "the run did not finish within timeout_sec (\(seconds) s)"))
        case .shutdown: .handedBack
        }
    }

    /// After dispatching stops: let active runs finish within the grace period, then hand
    /// the rest back.
    private func drain() async {
        let deadline = clock.now().adding(configuration.shutdownGrace)
        while active.withLock({ !$0.isEmpty }) && clock.now() < deadline && !Task.isCancelled {
            await dispatchBell.wait(until: deadline, clock: clock)
        }
        for run in active.withLock({ Array($0.values) }) { run.cancel(.shutdown) }
    }

    // MARK: Leases and rescue

    private func renewLeasesForever() async {
        let every = configuration.leaseDuration / 3
        while !Task.isCancelled {
            try? await clock.sleep(for: every)
            if Task.isCancelled { return }
            do {
                // The runs executing here and those whose end is not written yet.
                let held = active.withLock { Array($0.keys) } + recorder.unwrittenEnds()
                let cancelRequested = try await store.renewLeases(
                    node: configuration.node, runIDs: held, until: clock.now().adding(configuration.leaseDuration))
                // Requests whose notice never arrived (or a store without notices).
                for runID in cancelRequested { requestCancel(runID: runID) }
            } catch {
                noteStoreFailure()
                logger.error("renewing leases failed", metadata: ["error": "\(error)"])
            }
        }
    }

    private func rescueForever() async {
        while !Task.isCancelled {
            try? await clock.sleep(for: configuration.rescueInterval)
            if Task.isCancelled { return }
            let now = clock.now()
            if let leadership = configuration.leadership, !leadership.isLeader(at: now) { continue }
            if let failed = lastStoreFailure.withLock({ $0 }), now < failed.adding(configuration.leaseDuration) { continue }
            await rescue(expiredBefore: now, exceptNode: nil)
        }
    }

    private func rescueOrphansAtStart() async {
        if configuration.exclusiveStore {
            await rescue(expiredBefore: Timestamp(microseconds: .max), exceptNode: configuration.node)
        } else if configuration.leadership == nil {
            await rescue(expiredBefore: clock.now(), exceptNode: nil)
        }
    }

    private func noteStoreFailure() { lastStoreFailure.withLock { $0 = clock.now() } }

    private func rescue(expiredBefore: Timestamp, exceptNode: String?) async {
        do {
            let summary = try await store.rescueExpired(expiredBefore: expiredBefore, exceptNode: exceptNode, now: clock.now())
            if summary.ended > 0 {
                changeBell.ring()
                logger.warning("rescued runs whose lease lapsed", metadata: ["runs": "\(summary.ended)", "retries": "\(summary.retriesScheduled)"])
                counters.withLock { $0.rescued += summary.ended }
            }
            if summary.retriesScheduled > 0 { dispatchBell.ring() }
        } catch {
            noteStoreFailure()
            logger.error("rescuing runs failed", metadata: ["error": "\(error)"])
        }
    }
}

/// Counts an engine keeps since it started.
public struct EngineCounters: Sendable, Equatable {
    public var claimed = 0
    public var finished = 0
    /// Ends written to the store.
    public var recorded = 0
    public var rescued = 0
    /// Claim transactions (including empty ones) and group commits of ends, logs and progress.
    public var claimTransactions = 0
    public var recordTransactions = 0
}

/// Why an active run's work was asked to stop.
enum CancelReason: Sendable, Equatable {
    case requested
    case timeout(seconds: Int64)
    case shutdown
}

/// A run this engine is executing: its work, and why it was asked to stop.
final class ActiveRun: Sendable {
    private let state = Mutex<(work: Task<JSONValue?, any Error>?, reason: CancelReason?)>((nil, nil))

    func attach(_ work: Task<JSONValue?, any Error>) {
        let cancelNow = state.withLock { s -> Bool in
            s.work = work
            return s.reason != nil
        }
        if cancelNow { work.cancel() }
    }

    /// The first reason wins: a run that timed out stays timed out.
    func cancel(_ reason: CancelReason) {
        let work = state.withLock { s -> Task<JSONValue?, any Error>? in
            if s.reason == nil { s.reason = reason }
            return s.work
        }
        work?.cancel()
    }

    var reason: CancelReason? { state.withLock { $0.reason } }
}

/// A mutex-guarded value that can be shared by reference (a `Mutex` cannot be copied).
public final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    public init(_ value: Value) { mutex = Mutex(value) }
    public func withLock<R>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
}

/// The first of several offered values, awaited once.
final class FirstResult<Value: Sendable>: Sendable {
    private let state = Mutex<(waiter: CheckedContinuation<Value, Never>?, value: Value?)>((nil, nil))

    func offer(_ value: Value) {
        let waiter = state.withLock { s -> CheckedContinuation<Value, Never>? in
            guard s.value == nil else { return nil }
            s.value = value
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume(returning: value)
    }

    func value() async -> Value {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { s -> Value? in
                if let value = s.value { return value }
                s.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
