import Foundation
public import Logging
public import OrreryCore
public import OrreryEngine
public import OrreryModules

/// Runs an engine on a manual clock over a real store — a SQLite file or a PostgreSQL
/// database — for the length of `body`. Engine behaviour is tested on both stores.
public struct EngineHarness: Sendable {
    public let store: any ConformingStore
    public let kind: StoreKind
    public let clock: ManualClock
    public let engine: Engine
    public let service: TaskService

    /// A fresh store of `kind`.
    public static func with(
        store kind: StoreKind = .sqlite, modules: [any TaskModule] = BuiltinModules.all(), exclusive: Bool = false,
        clock: ManualClock = ManualClock(),
        configure: (inout Engine.Configuration) -> Void = { _ in },
        _ body: (EngineHarness) async throws -> Void
    ) async throws {
        try await kind.withLocation { location in
            try await with(location: location, modules: modules, exclusive: exclusive, clock: clock, configure: configure, body)
        }
    }

    /// The store at `location`, which the test may have filled before (an outage, a restart).
    /// `exclusive`: the engine owns the store alone (SQLite's lock), so every active run it
    /// finds at start belongs to a dead process.
    public static func with(
        location: StoreLocation, modules: [any TaskModule] = BuiltinModules.all(), exclusive: Bool = false,
        clock: ManualClock = ManualClock(),
        configure: (inout Engine.Configuration) -> Void = { _ in },
        _ body: (EngineHarness) async throws -> Void
    ) async throws {
        let exclusive = exclusive && location.kind == .sqlite
        try await location.withStore(exclusive: exclusive) { store in
            var config = Engine.Configuration(node: "test-\(UUID().uuidString.prefix(6))")
            config.exclusiveStore = exclusive
            // Tests move the clock by minutes at a time; with the default 30 s lease a jump could
            // let the engine's own lease lapse and race its renewal with its rescue. Rescue tests
            // claim runs with their own short leases.
            config.leaseDuration = .seconds(3600)
            configure(&config)
            let engine = Engine(configuration: config, store: store, modules: ModuleRegistry(modules), clock: clock, logger: Logger(label: "test"))
            let harness = EngineHarness(
                store: store, kind: location.kind, clock: clock, engine: engine, service: TaskService(store: store, engine: engine))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await engine.run() }
                defer { group.cancelAll() }
                try await body(harness)
            }
        }
    }

    public let admin = TaskService.Caller(name: "tester", project: "default")

    public func create(_ json: String) async throws -> ScheduledTask {
        try await service.createTask(
            TaskInput(json: try JSONValue.parse(Array(json.utf8)), now: service.clock.now(), modules: service.modules.descriptors), by: admin)
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

