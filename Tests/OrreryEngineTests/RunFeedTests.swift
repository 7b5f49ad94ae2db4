import Foundation
import Logging
import OrreryCore
import OrreryEngine
import OrreryTesting
import ServiceLifecycle
import Testing

/// The live change feed behind `GET /v1/stream`, on every store. The feed reads its own store
/// handle and gets no in-process signal from the writer: the writes stand for another node
/// sharing the database.
@Suite("Live run feed", .timeLimit(.minutes(5)))
struct RunFeedTests {
    static var fast: RunFeed.Configuration {
        var c = RunFeed.Configuration()
        c.pollInterval = .milliseconds(20)
        c.minimumInterval = .milliseconds(5)
        c.heartbeatInterval = .milliseconds(200)
        // As serve configures PostgreSQL: on a loaded machine a write's updated_at can become
        // visible more than 1 s after it was taken (the whole suite missed changes with 1 s).
        c.lookback = .seconds(5)
        return c
    }

    /// Runs a feed on `reader` for the length of `body` (ended by a graceful shutdown).
    static func withFeed(_ reader: any ConformingStore, _ configuration: RunFeed.Configuration = fast, _ body: (RunFeed) async throws -> Void) async throws {
        let store = try #require(reader as? any RunFeed.Store)
        let feed = RunFeed(configuration: configuration, store: store, engine: nil)
        let group = ServiceGroup(configuration: .init(services: [feed], logger: Logger(label: "test")))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do {
                try await body(feed)
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    static func create(_ name: String, project: String = "default", in store: any ConformingStore) async throws -> TaskRun {
        let now = SystemClock().now()
        var task = Fixtures.task(name, schedule: Schedule(.once(at: now)), at: now)
        task.project = project
        try await Fixtures.create([task], in: store, now: now)
        return try #require(try await store.listRuns({ var f = RunFilter(); f.taskID = task.id; return f }()).items.first)
    }

    @Test("a run executed through another store handle streams its changes and log lines in order, the end last", arguments: StoreKind.enabled)
    func otherNode(_ kind: StoreKind) async throws {
        try await kind.withStores(2) { stores in
            let (writer, reader) = (stores[0], stores[1])
            try await Self.withFeed(reader) { feed in
                let events = EventLog(try await feed.subscribe(RunFeedFilter()))
                let run = try await Self.create("remote", in: writer)
                let now = SystemClock().now()
                _ = try await writer.claimDue(limit: 1, now: now, node: "other", leaseUntil: now.adding(seconds: 30))
                try await events.wait("active") { $0.runs(run.id).last?.status == .active }
                let lines = (0..<3).map { LogEntry(runID: run.id, idx: Int64($0), level: .info, message: "line \($0)", timestamp: now) }
                _ = try await writer.record(RecordBatch(logs: lines), node: "other", now: SystemClock().now())
                try await events.wait("three lines") { $0.lines(run.id).count == 3 }
                let end = SystemClock().now()
                _ = try await writer.record(RecordBatch(logs: [LogEntry(runID: run.id, idx: 3, level: .info, message: "last", timestamp: end)],
                                                        outcomes: [RunOutcome(runID: run.id, end: .complete(result: nil), at: end)]), node: "other", now: end)
                try await events.wait("complete") { $0.runs(run.id).last?.status == .complete }
                let all = events.snapshot
                #expect(all.lines(run.id).map(\.message) == ["line 0", "line 1", "line 2", "last"], "each line once, in order")
                let lastLine = try #require(all.events.lastIndex { if case .log = $0 { true } else { false } })
                let ending = try #require(all.events.lastIndex { if case .run(let r, _) = $0 { r.status == .complete } else { false } })
                #expect(lastLine < ending, "a run's last line comes before its end")
                #expect(all.runs(run.id).map(\.status).filter { $0 == .complete }.count == 1, "the end is sent once")
            }
        }
    }

    @Test("a stream confined to a project never sees another project's runs; filters by task and status", arguments: StoreKind.enabled)
    func scoped(_ kind: StoreKind) async throws {
        try await kind.withStores(2) { stores in
            try await Self.withFeed(stores[1]) { feed in
                var mine = RunFeedFilter()
                mine.project = "a"
                let projectA = EventLog(try await feed.subscribe(mine))
                let other = try await Self.create("b1", project: "b", in: stores[0])
                let own = try await Self.create("a1", project: "a", in: stores[0])
                var byTask = RunFeedFilter()
                byTask.taskIDs = [own.taskID]
                byTask.statuses = [.canceled]
                let canceledOnly = EventLog(try await feed.subscribe(byTask))
                try await projectA.wait("own run") { !$0.runs(own.id).isEmpty }
                _ = try await stores[0].cancel(runID: other.id, project: nil, now: SystemClock().now())
                _ = try await stores[0].cancel(runID: own.id, project: nil, now: SystemClock().now())
                try await projectA.wait("own run canceled") { $0.runs(own.id).last?.status == .canceled }
                try await canceledOnly.wait("canceled") { !$0.runs(own.id).isEmpty }
                #expect(projectA.snapshot.runs(other.id).isEmpty, "project b's runs are invisible to project a")
                #expect(canceledOnly.snapshot.runs(own.id).map(\.status) == [.canceled])
                #expect(canceledOnly.snapshot.runs(other.id).isEmpty)
            }
        }
    }

    @Test("naming a run starts with its log and state; another project's run is not found; resuming replays what changed", arguments: StoreKind.enabled)
    func namedAndResumed(_ kind: StoreKind) async throws {
        try await kind.withStores(2) { stores in
            let writer = stores[0]
            try await Self.withFeed(stores[1]) { feed in
                let run = try await Self.create("named", in: writer)
                let now = SystemClock().now()
                _ = try await writer.claimDue(limit: 1, now: now, node: "other", leaseUntil: now.adding(seconds: 30))
                _ = try await writer.record(RecordBatch(logs: [LogEntry(runID: run.id, idx: 0, level: .info, message: "before", timestamp: now)]), node: "other", now: now)
                var named = RunFeedFilter()
                named.runIDs = [run.id]
                let first = EventLog(try await feed.subscribe(named))
                try await first.wait("snapshot") { $0.lines(run.id).count == 1 && $0.runs(run.id).last?.status == .active }
                let position = try #require(first.snapshot.lastPosition)
                #expect(position.nextLogIndex == 1)
                first.cancel()

                var elsewhere = named
                elsewhere.project = "someone-else"
                await #expect(throws: OrreryError.self) { _ = try await feed.subscribe(elsewhere) }

                let later = SystemClock().now()
                _ = try await writer.record(RecordBatch(logs: [LogEntry(runID: run.id, idx: 1, level: .info, message: "while away", timestamp: later)],
                                                        outcomes: [RunOutcome(runID: run.id, end: .failed(RunError(code: "boom", message: "x")), at: later)]), node: "other", now: later)
                let resumed = EventLog(try await feed.subscribe(named, resumingAt: position))
                try await resumed.wait("the end") { $0.runs(run.id).last?.status == .failed }
                #expect(resumed.snapshot.lines(run.id).map(\.message) == ["while away"], "the log continues where it was left, without a repeat")

                let broad = EventLog(try await feed.subscribe(RunFeedFilter(), resumingAt: StreamPosition(changedAt: now.adding(seconds: -5))))
                try await broad.wait("replayed change") { $0.runs(run.id).last?.status == .failed }
            }
        }
    }

    @Test("open streams are limited, get heartbeats, and end when the feed shuts down")
    func bounded() async throws {
        try await StoreKind.sqlite.withStore { store in
            var configuration = Self.fast
            configuration.maxStreams = 2
            var kept: [EventLog] = []
            try await Self.withFeed(store, configuration) { feed in
                kept = [EventLog(try await feed.subscribe(RunFeedFilter())), EventLog(try await feed.subscribe(RunFeedFilter()))]
                await #expect(throws: OrreryError.self) { _ = try await feed.subscribe(RunFeedFilter()) }
                try await kept[0].wait("a heartbeat") { $0.events.contains(.heartbeat) }
                kept[1].cancel()
                try await eventually(timeout: .seconds(10), "a slot freed") { feed.openStreams == 1 }
                kept[1] = EventLog(try await feed.subscribe(RunFeedFilter()))
            }
            for log in kept { try await eventually(timeout: .seconds(10), "streams ended") { log.snapshot.ended } }
        }
    }
}

/// The events a subscription delivered so far, collected in the background.
final class EventLog: Sendable {
    struct Snapshot {
        var events: [RunFeedEvent] = []
        var ended = false
        func runs(_ id: String) -> [TaskRun] { events.compactMap { if case .run(let r, _) = $0, r.id == id { r } else { nil } } }
        func lines(_ id: String) -> [LogEntry] { events.compactMap { if case .log(let l, _) = $0, l.runID == id { l } else { nil } } }
        var lastPosition: StreamPosition? {
            events.reversed().lazy.compactMap { event -> StreamPosition? in
                switch event {
                case .run(_, let p), .log(_, let p): p
                default: nil
                }
            }.first
        }
    }

    private let state = Locked(Snapshot())
    private let subscription: RunFeedSubscription
    private let reader: Task<Void, Never>

    init(_ subscription: RunFeedSubscription) {
        self.subscription = subscription
        let state = self.state
        reader = Task {
            for await event in subscription.events { state.withLock { $0.events.append(event) } }
            state.withLock { $0.ended = true }
        }
    }

    var snapshot: Snapshot { state.withLock { $0 } }

    func cancel() { subscription.cancel() }

    func wait(_ what: String, _ condition: @escaping (Snapshot) -> Bool) async throws {
        try await eventually(timeout: .seconds(20), what) { condition(snapshot) }
    }
}
