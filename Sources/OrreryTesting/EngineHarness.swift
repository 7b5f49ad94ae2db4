import Foundation
public import Logging
public import OrreryCore
public import OrreryEngine
public import OrreryModules
public import OrrerySQLite

/// Runs an engine on a manual clock over a real SQLite file for the length of `body`.
public struct EngineHarness: Sendable {
    public let store: SQLiteStore
    public let clock: ManualClock
    public let engine: Engine
    public let service: TaskService

    public static func with(
        modules: [any TaskModule] = BuiltinModules.all(), exclusive: Bool = false, dir: TemporaryDirectory? = nil,
        clock: ManualClock = ManualClock(),
        configure: (inout Engine.Configuration) -> Void = { _ in },
        _ body: (EngineHarness) async throws -> Void
    ) async throws {
        let directory = try dir ?? TemporaryDirectory()
        defer { if dir == nil { directory.remove() } }
        let store = try Fixtures.store(in: directory, exclusive: exclusive)
        var config = Engine.Configuration(node: "test-\(UUID().uuidString.prefix(6))")
        config.exclusiveStore = exclusive
        configure(&config)
        let engine = Engine(configuration: config, store: store, modules: ModuleRegistry(modules), clock: clock, logger: Logger(label: "test"))
        let harness = EngineHarness(store: store, clock: clock, engine: engine, service: TaskService(store: store, engine: engine))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await engine.run() }
            defer { group.cancelAll() }
            try await body(harness)
        }
    }

    public let admin = TaskService.Caller(name: "tester", project: "default")

    public func create(_ json: String) async throws -> ScheduledTask {
        try await service.createTask(try JSONValue.parse(Array(json.utf8)), by: admin)
    }

    public func runs(of task: ScheduledTask, _ statuses: [RunStatus] = []) async throws -> [TaskRun] {
        var filter = RunFilter()
        filter.taskID = task.id
        filter.statuses = statuses
        filter.limit = 1000
        return try await store.listRuns(filter).items.reversed()
    }

    /// Waits until the engine is asleep on the clock (nothing more it can do without time passing).
    /// Sleepers: the lease loop, the rescue loop, and the dispatcher when a run is due later.
    public func settle(sleepers: Int = 3) async throws {
        try await eventually("engine asleep") { clock.sleeperCount >= sleepers }
    }
}


/// A one-shot signal between a test and a module.
public actor Gate {
    public private(set) var isOpen = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    public init() {}

    public func open() {
        isOpen = true
        for w in waiters { w.resume() }
        waiters = []
    }

    public func wait() async {
        if isOpen { return }
        await withCheckedContinuation { waiters.append($0) }
    }
}

