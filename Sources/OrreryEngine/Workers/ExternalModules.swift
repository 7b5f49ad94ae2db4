public import Logging
public import OrreryCore
public import ServiceLifecycle
import Synchronization

/// The external modules this node knows (SPEC §4 "External workers"): registered through the
/// API and kept in the store, read again when one is added here and, with several nodes, on
/// a short refresh. Their runs are done by workers over HTTP: the engine never claims them.
public final class ExternalModuleCatalogue: Sendable {
    private let modules = Mutex<[String: ModuleDescriptor]>([:])

    public init() {}

    /// Replaces what this node knows with what the store holds.
    public func replace(with descriptors: [ModuleDescriptor]) {
        modules.withLock { $0 = Dictionary(descriptors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a }) }
    }

    public var descriptors: [String: ModuleDescriptor] { modules.withLock { $0 } }
    public var names: Set<String> { modules.withLock { Set($0.keys) } }
    public func contains(_ name: String) -> Bool { modules.withLock { $0[name] != nil } }

    /// Reads the store's external modules into the catalogue.
    public func refresh(from store: any ModuleStore) async throws {
        replace(with: try await store.externalModules())
    }
}

/// An external module as the catalogue (and task validation) sees it. Its work is done by a
/// worker program; were a run of it ever started in-process, it fails saying so.
struct ExternalModule: TaskModule {
    let descriptor: ModuleDescriptor
    func run(_ context: RunContext) async throws -> JSONValue? {
        throw RunError(code: "unknown_module", message: "module \"\(descriptor.name)\" is done by external workers, not in-process")
    }
}

extension Engine {
    /// The modules that run in-process (built in or registered by an embedding application).
    public var inProcessModules: ModuleRegistry { registry }

    /// Every module a task may name: the built-in and registered ones, then the external ones.
    public var catalogue: ModuleRegistry {
        var all = registry
        for (name, descriptor) in externalModules.descriptors where all[name] == nil { all.register(ExternalModule(descriptor: descriptor)) }
        return all
    }
}

/// Wakes every worker long-poll waiting for due runs (`POST /v1/workers/claim`): rung when
/// runs may have become due (a run inserted or retried through this node, a NOTIFY from
/// another one). A generation count means a ring between "claim found nothing" and "wait"
/// is never lost.
public final class DueRunSignal: Sendable {
    private struct State {
        var generation: UInt64 = 0
        var nextID: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    public var generation: UInt64 { state.withLock { $0.generation } }

    public func ring() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.generation &+= 1
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns after a ring later than generation `seen`, at `deadline`, or on cancellation.
    public func wait(after seen: UInt64, until deadline: Timestamp, clock: any EngineClock) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitForRing(after: seen) }
            group.addTask { try? await clock.sleep(until: deadline) }
            await group.next()
            group.cancelAll()
        }
    }

    private func waitForRing(after seen: UInt64) async {
        let id = state.withLock { s -> UInt64 in
            s.nextID &+= 1
            return s.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s -> Bool in
                    if s.generation != seen || Task.isCancelled { return true }
                    s.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume()
        }
    }
}

/// Keeps a node's `ExternalModuleCatalogue` in step with the store when several nodes share
/// it (PostgreSQL): a module registered through another node is known here within `interval`.
public struct ExternalModuleRefresher: Service {
    let catalogue: ExternalModuleCatalogue
    let store: any ModuleStore
    let interval: Duration
    let clock: any EngineClock
    let logger: Logger

    public init(catalogue: ExternalModuleCatalogue, store: any ModuleStore, interval: Duration = .seconds(2), clock: any EngineClock = SystemClock(), logger: Logger = Logger(label: "orrery.modules")) {
        self.catalogue = catalogue
        self.store = store
        self.interval = interval
        self.clock = clock
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await catalogue.refresh(from: store)
            } catch {
                logger.warning("reading external modules failed", metadata: ["error": "\(error)"])
            }
            try? await clock.sleep(for: interval)
        }
    }
}
