public import Logging
public import OrreryCore
import Synchronization

/// Runs claimed runs' modules (SPEC §4 execution): each in its own task, with its
/// `timeout_sec` (cancel, then `cancelGrace` to stop, then abandoned), cancels asked through
/// the API, and the hand-back of unfinished runs on shutdown. Ends go to the `RunRecorder`.
final class Executor: Sendable {
    struct Configuration: Sendable {
        var node: String
        /// After a timeout cancels a run's work, how long the work may take to stop before
        /// the run is ended `failed` (`timeout`) anyway.
        var cancelGrace: Duration = .seconds(5)
        /// On graceful shutdown, how long active runs may take before they are handed back.
        var shutdownGrace: Duration = .seconds(10)
        var metrics: RunMetrics?
    }

    let configuration: Configuration
    let registry: ModuleRegistry
    let recorder: RunRecorder
    let slots: RunSlots
    let clock: any EngineClock
    /// Rung when a run of a limited queue or module ended (room for another), and while
    /// draining when the last run ended.
    let roomBell: Doorbell
    let counters: Locked<EngineCounters>
    private let active = Mutex<[String: ActiveRun]>([:])

    init(
        configuration: Configuration, registry: ModuleRegistry, recorder: RunRecorder, slots: RunSlots,
        clock: any EngineClock, roomBell: Doorbell, counters: Locked<EngineCounters>
    ) {
        self.configuration = configuration
        self.registry = registry
        self.recorder = recorder
        self.slots = slots
        self.clock = clock
        self.roomBell = roomBell
        self.counters = counters
    }

    /// The runs executing here now.
    var activeRunIDs: [String] { active.withLock { Array($0.keys) } }

    /// Asks a run executing here to stop; it ends `canceled`. False if it is not here.
    @discardableResult
    func requestCancel(runID: String) -> Bool {
        guard let run = active.withLock({ $0[runID] }) else { return false }
        run.cancel(.requested)
        return true
    }

    /// Starts a claim's runs in `group`: a run alone as a child of `group`, a batch as the
    /// children of one child's own group.
    ///
    /// A task group unlinks each finished child from its list by walking the list, so the
    /// 20,000 runs of a burst as children of one group cost time quadratic in their number:
    /// `swift::TaskGroup::removeChildTask` took 20% of the process's CPU in a 20,000-task
    /// burst (perf). A group per claim holds at most `claimBatch` runs.
    func start(_ batch: [ClaimedRun], in group: inout DiscardingTaskGroup) {
        let started = batch.map { claimed in
            for old in claimed.replaces { requestCancel(runID: old) }
            slots.track(claimed.run, delta: 1)
            let handle = ActiveRun()
            active.withLock { $0[claimed.run.id] = handle }
            return (claimed, handle)
        }
        if let (claimed, handle) = started.first, started.count == 1 {
            group.addTask { await self.execute(claimed, handle: handle) }
            return
        }
        group.addTask {
            // Claimed ahead (a burst): the batch waits for its earliest run's time once, not
            // each run on a timer of its own; a later run still waits for its own time.
            if let earliest = started.map(\.0.run.scheduledAt).min(), earliest > self.clock.now() {
                try? await self.clock.sleep(until: earliest)
            }
            await withDiscardingTaskGroup { runs in
                for (claimed, handle) in started { runs.addTask { await self.execute(claimed, handle: handle) } }
            }
        }
    }

    private func execute(_ claimed: ClaimedRun, handle: ActiveRun) async {
        let run = claimed.run
        // Claimed ahead (the dispatcher's `claimAhead`): its work starts at its time. A cancel
        // or shutdown meanwhile ends it without starting it; so does the engine's task being
        // canceled, which ends the wait early: the run is handed back for its time, never
        // started before it (it was, by up to the claim-ahead).
        if run.scheduledAt > clock.now() {
            do { try await clock.sleep(until: run.scheduledAt) } catch { handle.cancel(.shutdown) }
        }
        // Firing lateness is a started run's; one ended before its work began has none.
        if handle.reason == nil { configuration.metrics?.started(run, at: clock.now()) }
        let end: RunOutcome.End
        if let reason = handle.reason {
            end = Self.end(for: reason)
        } else if let module = registry[run.module] {
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
        let lastOne = active.withLock { $0.removeValue(forKey: run.id); return $0.isEmpty }
        let returned = slots.workReturned()
        if slots.track(run, delta: -1) || lastOne || returned { roomBell.ring() }
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

    private static func end(for reason: CancelReason) -> RunOutcome.End {
        switch reason {
        case .requested: .canceled
        case .timeout(let seconds): .failed(RunError(code: "timeout", message: "the run did not finish within timeout_sec (\(seconds) s)"))
        case .shutdown: .handedBack
        }
    }

    /// After dispatching stops: lets active runs finish within the grace period, then hands
    /// the rest back (they end `.handedBack`: scheduled again for another node or start).
    func drain() async {
        let deadline = clock.now().adding(configuration.shutdownGrace)
        while active.withLock({ !$0.isEmpty }) && clock.now() < deadline && !Task.isCancelled {
            await roomBell.wait(until: deadline, clock: clock)
        }
        for run in active.withLock({ Array($0.values) }) { run.cancel(.shutdown) }
    }
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
