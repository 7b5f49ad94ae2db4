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
        /// At most this many runs execute at once. A run's slot frees when its work returns;
        /// up to twice as many runs may wait for their ends to be written (`RunSlots`).
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
        /// Runs due within this much of now are claimed ahead and started at their time, so
        /// the claim's transaction does not make them late. A run so claimed shows `active`
        /// (with `started_at` its `scheduled_at`) that much before its time, at most.
        public var claimAhead: Duration = .milliseconds(50)
        /// Before a burst (more runs due at one time than `claimBatch`), claiming starts as
        /// long before their time as it is expected to take, so the last of them starts on
        /// time too; at most this early. Such runs show `active` that much before their time.
        /// `claimAhead` or less: bursts are claimed when due, like other runs.
        public var maxClaimAhead: Duration = .seconds(5)
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
    let dispatcher: Dispatcher
    let executor: Executor
    let renewer: LeaseRenewer
    let rescuer: Rescuer
    private let dispatchBell = Doorbell()
    /// Rung whenever this node wrote run changes (claims, group commits, rescues, API
    /// writes): the live event stream (`RunFeed`) looks at the store at once instead of at
    /// its next poll.
    let changeBell = Doorbell()
    /// External modules (issue 13): their runs are done by workers over HTTP, never claimed here.
    public let externalModules = ExternalModuleCatalogue()
    /// Rung when runs may have become due: wakes workers' long-polling claims.
    public let dueRuns = DueRunSignal()
    private let stopping = Atomic<Bool>(false)
    private let running = Atomic<Bool>(false)
    private let counters = Locked(EngineCounters())

    public init(configuration: Configuration, store: any RunQueue, modules: ModuleRegistry, clock: any EngineClock = SystemClock(), logger: Logger = Logger(label: "orrery.engine")) {
        self.configuration = configuration
        self.store = store
        self.registry = modules
        self.clock = clock
        self.logger = logger
        let bell = dispatchBell
        let changeBell = self.changeBell
        let counters = self.counters
        let dueRuns = self.dueRuns
        let health = StoreHealth()
        let slots = RunSlots(RunSlots.Limits(
            concurrency: configuration.concurrency, queueLimits: configuration.queueLimits, moduleLimits: configuration.moduleLimits),
            external: externalModules)
        let pressure = ClaimPressure()
        let recorder = RunRecorder(store: store, node: configuration.node, clock: clock, logger: logger, pressure: pressure) { summary, endsWritten in
            counters.withLock { $0.recorded += summary.ended; $0.recordTransactions += 1 }
            slots.endsWritten(endsWritten)
            bell.ring()
            changeBell.ring()
        }
        self.recorder = recorder
        let executor = Executor(
            configuration: Executor.Configuration(
                node: configuration.node, cancelGrace: configuration.cancelGrace, shutdownGrace: configuration.shutdownGrace,
                metrics: configuration.metrics),
            registry: modules, recorder: recorder, slots: slots, clock: clock, roomBell: bell, counters: counters)
        self.executor = executor
        self.dispatcher = Dispatcher(
            configuration: Dispatcher.Configuration(
                node: configuration.node, claimBatch: configuration.claimBatch, leaseDuration: configuration.leaseDuration,
                maxIdleSleep: configuration.maxIdleSleep, claimAhead: configuration.claimAhead,
                maxClaimAhead: configuration.maxClaimAhead),
            store: store, slots: slots, clock: clock, logger: logger, bell: bell, health: health, pressure: pressure
        ) { count in
            counters.withLock { $0.claimed += count; $0.claimTransactions += 1 }
            if count > 0 { changeBell.ring() }
        }
        self.renewer = LeaseRenewer(
            configuration: LeaseRenewer.Configuration(node: configuration.node, leaseDuration: configuration.leaseDuration),
            store: store, clock: clock, logger: logger, health: health,
            // The runs executing here and those whose end is not written yet.
            held: { executor.activeRunIDs + recorder.unwrittenEnds() },
            // Requests whose notice never arrived (or a store without notices).
            cancelRequested: { executor.requestCancel(runID: $0) })
        var rescue = Rescuer.Configuration(node: configuration.node)
        rescue.interval = configuration.rescueInterval
        rescue.leaseDuration = configuration.leaseDuration
        rescue.exclusiveStore = configuration.exclusiveStore
        rescue.leadership = configuration.leadership
        self.rescuer = Rescuer(configuration: rescue, store: store, clock: clock, logger: logger, health: health) { summary in
            if summary.ended > 0 {
                changeBell.ring()
                counters.withLock { $0.rescued += summary.ended }
            }
            if summary.retriesScheduled > 0 { bell.ring(); dueRuns.ring() }
        }
    }

    /// Something new may be due earlier than the engine is sleeping for: look again now.
    public func wake() {
        dispatchBell.ring()
        dueRuns.ring()
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
    public func requestCancel(runID: String) -> Bool { executor.requestCancel(runID: runID) }

    public func run() async throws {
        try await withGracefulShutdownHandler {
            await self.runServices()
        } onGracefulShutdown: {
            self.stopping.store(true, ordering: .relaxed)
            self.dispatchBell.ring()
        }
    }

    /// The engine's services side by side: the recorder's group commits, lease renewal,
    /// rescue, the store's wake-ups, and dispatching into execution; on shutdown dispatching
    /// stops, active runs drain, and the rest stop with them.
    private func runServices() async {
        running.store(true, ordering: .relaxed)
        defer { running.store(false, ordering: .relaxed) }
        await rescuer.rescueOrphansAtStart()
        await withTaskGroup(of: Void.self) { background in
            background.addTask { await self.recorder.run() }
            background.addTask { await self.renewer.run() }
            background.addTask { await self.rescuer.run() }
            if let notifying = self.store as? any NotifyingStore {
                background.addTask { await notifying.listenForDueRuns { self.dispatchBell.ring(); self.dueRuns.ring() } }
                // A cancel asked through another node (or an `overlap: replace` claimed there).
                background.addTask { await notifying.listenForCancelRequests { self.requestCancel(runID: $0) } }
            }
            await withDiscardingTaskGroup { runs in
                await self.dispatcher.dispatch(to: self.executor, in: &runs) { self.isStopping }
                await self.executor.drain()
            }
            background.cancelAll()
        }
        // Every run has ended by now. When the engine's task was canceled, the recorder's own
        // last write may have gone before the runs' last ends (a run handed back as its wait
        // was interrupted): those are written here, outside the canceled task.
        await Task { await self.recorder.flush() }.value
        logger.info("engine stopped", metadata: ["node": "\(configuration.node)"])
    }

    private var isStopping: Bool { stopping.load(ordering: .relaxed) || Task.isCancelled }
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
