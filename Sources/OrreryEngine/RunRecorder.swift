import Logging
import OrreryCore
import Synchronization

/// Collects what running work reports — log lines, progress, ends — and writes it in
/// group commits: while one transaction is being written the next batch fills up, so a
/// chatty module or a burst of completions costs few transactions, not one per line.
final class RunRecorder: Sendable {
    private let pending = Mutex(RecordBatch())
    /// Ends taken out of `pending` by a write in progress.
    private let writing = Mutex<[String]>([])
    private let doorbell = Doorbell()
    private let store: any RunQueue
    private let node: String
    private let clock: any EngineClock
    private let logger: Logger
    /// Called after each write with what it did and how many ends it wrote (the engine
    /// frees that many slots and wakes its dispatcher).
    private let onRecorded: @Sendable (RecordSummary, _ endsWritten: Int) -> Void
    /// While the dispatcher claims back to back, writes wait for it (a bounded time).
    private let pressure: ClaimPressure?

    init(
        store: any RunQueue, node: String, clock: any EngineClock, logger: Logger, pressure: ClaimPressure? = nil,
        onRecorded: @escaping @Sendable (RecordSummary, Int) -> Void
    ) {
        self.store = store
        self.pressure = pressure
        self.node = node
        self.clock = clock
        self.logger = logger
        self.onRecorded = onRecorded
    }

    func log(_ entry: LogEntry) {
        pending.withLock { $0.logs.append(entry) }
        doorbell.ring()
    }

    func progress(runID: String, _ progress: RunProgress) {
        pending.withLock { $0.progress[runID] = progress }
        doorbell.ring()
    }

    /// Runs whose end is recorded here but not yet written (their leases must stay ours).
    func unwrittenEnds() -> [String] {
        pending.withLock { $0.outcomes.map(\.runID) } + writing.withLock { $0 }
    }

    func end(_ outcome: RunOutcome) {
        pending.withLock { $0.outcomes.append(outcome) }
        doorbell.ring()
    }

    /// Writes until canceled, then writes what is left — outside the canceled task, since
    /// the database refuses work from a canceled one and the last ends must not be lost.
    func run() async {
        while !Task.isCancelled {
            // Ends that could not be written yet (the store was unreachable) are tried again
            // every second even if nothing else happens: no run is left active for ever.
            let unwritten = pending.withLock { !$0.isEmpty }
            await doorbell.wait(until: unwritten ? clock.now().adding(.seconds(1)) : nil, clock: clock)
            // Due work starts before ended work is recorded: during a burst the ends wait
            // (their leases stay renewed) and then go in a few large group commits.
            await pressure?.wait(clock: clock)
            await flush()
        }
        await Task { await self.flush() }.value
    }

    /// At most this many ends per transaction: a long backlog of ends (after a burst)
    /// goes in several commits, and a claim waiting for the writer gets in between them.
    static let maxEndsPerWrite = 1_000

    /// Writes everything pending now; on a database error keeps it and tries again.
    func flush() async {
        var attempt = 0
        while true {
            // Log lines and progress go with (or before) their run's end: all of them, and
            // the oldest ends up to the bound.
            let batch = pending.withLock { p -> RecordBatch in
                let ends = p.outcomes.prefix(Self.maxEndsPerWrite)
                defer { p = RecordBatch(outcomes: Array(p.outcomes.dropFirst(ends.count))) }
                return RecordBatch(logs: p.logs, progress: p.progress, outcomes: Array(ends))
            }
            if batch.isEmpty { return }
            writing.withLock { $0 = batch.outcomes.map(\.runID) }
            defer { writing.withLock { $0 = [] } }
            do {
                let summary = try await store.record(batch, node: node, now: clock.now())
                onRecorded(summary, batch.outcomes.count)
                attempt = 0
                continue  // the rest of a backlog, if any
            } catch {
                let canceled = Task.isCancelled
                attempt += 1
                if !canceled {
                    logger.error("writing run records failed; will retry", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
                }
                pending.withLock { p in
                    p.logs.insert(contentsOf: batch.logs, at: 0)
                    p.progress.merge(batch.progress) { newer, _ in newer }
                    p.outcomes.insert(contentsOf: batch.outcomes, at: 0)
                }
                // A canceled task cannot write; the final flush, outside it, will.
                if canceled || attempt >= 20 { return }
                try? await clock.sleep(for: .milliseconds(min(100 * attempt, 2_000)))
            }
        }
    }
}

/// Where one run's module writes: numbers log lines and stamps them with the latest progress.
final class RunSink: Sendable {
    let runID: String
    private let recorder: RunRecorder
    private let clock: any EngineClock
    private let state = Mutex<(nextIdx: Int64, percent: Double?, closed: Bool)>((0, nil, false))

    /// After the run ended, writes are refused (the store would refuse them too).
    func close() { state.withLock { $0.closed = true } }

    init(runID: String, recorder: RunRecorder, clock: any EngineClock) {
        self.runID = runID
        self.recorder = recorder
        self.clock = clock
    }

    func log(_ level: LogEntry.Level, _ message: String) {
        guard let (idx, percent) = state.withLock({ s -> (Int64, Double?)? in
            guard !s.closed else { return nil }
            defer { s.nextIdx += 1 }
            return (s.nextIdx, s.percent)
        }) else { return }
        recorder.log(LogEntry(runID: runID, idx: idx, level: level, message: message, progressPercent: percent, timestamp: clock.now()))
    }

    func progress(_ progress: RunProgress) {
        guard state.withLock({ s -> Bool in
            guard !s.closed else { return false }
            s.percent = progress.percent
            return true
        }) else { return }
        recorder.progress(runID: runID, progress)
    }
}
