public import Logging
public import OrreryCore
public import ServiceLifecycle
import Synchronization

/// The live change feed behind `GET /v1/stream`: one poller per process reads the store for
/// runs changed since its last look (and new log lines of the runs some stream follows) and
/// fans them out to every open stream, each through its own filter.
///
/// It reads the store, not in-process signals, so runs executing on another node that shares
/// PostgreSQL are seen too: at `pollInterval` while any stream is open (never while none
/// is), and at once when this node commits run changes (the engine's change bell), at most
/// once per `minimumInterval`. Reads go back `lookback` before the newest change seen, since
/// a transaction may commit a little after the `updated_at` it wrote; repeats are dropped.
/// Delivery is at least once across reconnections: a run event carries the run's whole
/// state, a log line its index, so a repeat is harmless.
public final class RunFeed: Service, Sendable {
    public struct Configuration: Sendable {
        /// How often the store is read while streams are open (other nodes' changes).
        public var pollInterval: Duration = .milliseconds(500)
        /// Reads never come closer together than this, however often this node commits.
        public var minimumInterval: Duration = .milliseconds(50)
        /// How far before the newest change seen each read starts (late commits).
        public var lookback: Duration = .seconds(1)
        /// A comment line this often keeps proxies from closing a quiet stream.
        public var heartbeatInterval: Duration = .seconds(15)
        /// At most this many streams are open at once in this process; more are refused.
        public var maxStreams = 1_000
        /// A stream ends after this long (clients resume with `Last-Event-ID`), so a revoked
        /// token stops reading within it.
        public var maxLifetime: Duration = .seconds(1_800)
        /// Rows per read of changed runs and of log lines.
        public var batch = 1_000
        /// A resumed stream replays at most this many changed runs, then sends a reset.
        public var replayLimit = 5_000
        /// A stream naming a run starts with at most this many of its last log lines.
        public var snapshotLogLimit = 10_000
        /// Events waiting for a slow client; beyond it the stream ends (it may resume).
        public var bufferLimit = 25_000
        public init() {}
    }

    public typealias Store = TaskStore & RunChangeFeed

    public let configuration: Configuration
    let store: any Store
    let clock: any EngineClock
    let logger: Logger
    let bell: Doorbell
    let state = Mutex(FeedState())

    /// A feed on `store`, woken early when `engine` (this node's) writes run changes.
    public init(configuration: Configuration = Configuration(), store: any Store, engine: Engine?, clock: any EngineClock = SystemClock(), logger: Logger = Logger(label: "orrery.feed")) {
        self.configuration = configuration
        self.store = store
        self.clock = engine?.clock ?? clock
        self.logger = logger
        self.bell = engine?.changeBell ?? Doorbell()
    }

    /// Streams open now.
    public var openStreams: Int { state.withLock { $0.subscribers.count } }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await self.loop()
        } onGracefulShutdown: {
            self.state.withLock { $0.stopped = true }
            self.bell.ring()
        }
        // Every open stream ends, so the HTTP server's graceful shutdown is not held up by them.
        for stream in state.withLock({ $0.stop() }) { stream.finish() }
    }

    private func loop() async {
        var nextHeartbeat = clock.now().adding(configuration.heartbeatInterval)
        var lastPoll = Timestamp.epoch
        var failures = 0
        while !Task.isCancelled {
            let (stopped, idle) = state.withLock { ($0.stopped, $0.subscribers.isEmpty) }
            if stopped { return }
            if idle {
                // Nothing to feed: no reads at all until a stream opens.
                state.withLock { $0.forgetReads() }
                await bell.wait(until: nil, clock: clock)
                continue
            }
            var now = clock.now()
            if now >= nextHeartbeat {
                for stream in state.withLock({ $0.heartbeat(now: now, maxLifetime: configuration.maxLifetime) }) { stream.finish() }
                nextHeartbeat = now.adding(configuration.heartbeatInterval)
            }
            let earliest = lastPoll.adding(configuration.minimumInterval)
            if now < earliest {
                try? await clock.sleep(until: earliest)
                now = clock.now()
            }
            lastPoll = now
            do {
                let more = try await poll(now: now)
                failures = 0
                if more { continue }
            } catch {
                failures += 1
                if failures == 1 || failures % 100 == 0 {
                    logger.warning("reading run changes for live streams failed", metadata: ["error": "\(error)", "failures": "\(failures)"])
                }
            }
            await bell.wait(until: min(lastPoll.adding(configuration.pollInterval), nextHeartbeat), clock: clock)
        }
    }

    /// One look at the store; true when a read was full and more is waiting.
    private func poll(now: Timestamp) async throws -> Bool {
        let lookback = configuration.lookback
        let from = state.withLock { $0.readPosition(now: now, lookback: lookback) }
        let rows = try await store.runsChanged(after: from, limit: configuration.batch)
        let more = rows.count == configuration.batch
        let plan = state.withLock { $0.take(rows, more: more) }
        if !plan.needEnds.isEmpty {
            let ends = try await store.logEnds(runIDs: plan.needEnds.map(\.id))
            state.withLock { s in
                for run in plan.needEnds where s.followed[run.id] == nil { s.followed[run.id] = .init(run: run, next: ends[run.id] ?? 0) }
            }
        }
        let positions = state.withLock { $0.followed.mapValues(\.next) }
        let logs = positions.isEmpty ? [] : try await store.logs(from: positions, limit: configuration.batch)
        let ended = state.withLock { $0.deliver(fresh: plan.fresh, logs: logs, logsDrained: logs.count < configuration.batch) }
        for stream in ended { stream.finish() }
        return more
    }

    /// Opens a stream. Runs named in the filter must be visible in its project (else
    /// `.notFound`); the stream starts with their log (its last `snapshotLogLimit` lines, or
    /// from the position resumed) and their current state. With `resume` (Last-Event-ID) the
    /// runs changed since then are sent first. Throws `.unavailable` when the server is
    /// shutting down or `maxStreams` are open.
    public func subscribe(_ filter: RunFeedFilter, resumingAt resume: StreamPosition? = nil) async throws -> RunFeedSubscription {
        let (stream, continuation) = AsyncStream.makeStream(of: RunFeedEvent.self, bufferingPolicy: .bufferingOldest(configuration.bufferLimit))
        let now = clock.now()
        let limit = configuration.maxStreams
        let id = try state.withLock { s -> UInt64 in
            guard !s.stopped else { throw OrreryError(.unavailable, "the server is shutting down") }
            guard s.subscribers.count < limit else {
                throw OrreryError(.unavailable, "this server has \(limit) open streams, its limit; try again later")
            }
            s.nextID += 1
            s.subscribers[s.nextID] = FeedSubscriber(filter: filter, continuation: continuation, openedAt: now)
            return s.nextID
        }
        continuation.onTermination = { [weak self] _ in self?.close(id) }
        bell.ring()
        do {
            let snapshot = try await self.snapshot(filter, resume: resume)
            for stream in state.withLock({ $0.prime(id, with: snapshot) }) { stream.finish() }
        } catch {
            close(id)
            continuation.finish()
            throw error
        }
        return RunFeedSubscription(events: stream, close: { [weak self] in self?.close(id) })
    }

    func close(_ id: UInt64) {
        let sub = state.withLock { $0.subscribers.removeValue(forKey: id) }
        sub?.continuation.finish()
    }

    /// What a new stream is sent before live changes: named runs' logs and states, the changes
    /// since a resumed position; and where the log of runs already active stands.
    private func snapshot(_ filter: RunFeedFilter, resume: StreamPosition?) async throws -> [RunFeedEvent] {
        let position = StreamPosition(changedAt: state.withLock { $0.watermark } ?? clock.now())
        var events: [RunFeedEvent] = []
        for runID in filter.runIDs {
            let run = try await store.run(id: runID, project: filter.project)
            if filter.logs {
                var offset: Int64
                if let resumed = resume?.nextLogIndex, filter.singleRun == runID {
                    offset = resumed
                } else {
                    let end = try await store.logEnds(runIDs: [runID])[runID] ?? 0
                    offset = max(0, end - Int64(configuration.snapshotLogLimit))
                }
                while true {
                    let page = try await store.logs(runID: runID, offset: Int(offset), limit: configuration.batch)
                    events += page.map { .log($0, position: position) }
                    offset += Int64(page.count)
                    if page.count < configuration.batch { break }
                }
                if !run.status.isFinished { follow([run], from: [runID: offset]) }
            }
            events.append(.run(run, position: position))
        }
        if let resume, filter.runIDs.isEmpty {
            var from = ChangePosition(updatedAt: resume.changedAt.adding(.zero - configuration.lookback))
            var replayed = 0
            while true {
                let rows = try await store.runsChanged(after: from, limit: configuration.batch)
                events += rows.filter(filter.matches).map { .run($0, position: position) }
                replayed += rows.count
                guard rows.count == configuration.batch, let last = rows.last else { break }
                if replayed >= configuration.replayLimit {
                    events.append(.reset(reason: "more than \(configuration.replayLimit) runs changed since Last-Event-ID; list runs again"))
                    break
                }
                from = ChangePosition(after: last)
            }
        }
        if filter.logs, filter.runIDs.isEmpty {
            // Runs already active: their log is followed from where it stands now.
            var active = RunFilter()
            active.project = filter.project
            active.statuses = [.active]
            active.taskID = filter.taskIDs.count == 1 ? filter.taskIDs.first : nil
            active.limit = 500
            active.countTotal = false
            let runs = try await store.listRuns(active).items.filter(filter.follows)
            let unknown = state.withLock { s in runs.filter { s.followed[$0.id] == nil } }
            if !unknown.isEmpty { follow(unknown, from: try await store.logEnds(runIDs: unknown.map(\.id))) }
        }
        return events
    }

    private func follow(_ runs: [TaskRun], from positions: [String: Int64]) {
        state.withLock { s in
            for run in runs where s.followed[run.id] == nil { s.followed[run.id] = .init(run: run, next: positions[run.id] ?? 0) }
        }
        bell.ring()
    }
}

/// One open stream: its events, in order, until the client goes, the stream's lifetime ends,
/// it falls `bufferLimit` events behind, or the server shuts down.
public struct RunFeedSubscription: Sendable {
    public let events: AsyncStream<RunFeedEvent>
    let close: @Sendable () -> Void

    /// Stops the stream (the client went away).
    public func cancel() { close() }
}
