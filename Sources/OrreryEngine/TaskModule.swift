public import Foundation
public import OrreryCore

/// A kind of work the engine can run (SPEC §4): built-in (`noop`, `shell`, …) or registered
/// by an application that embeds the engine.
public protocol TaskModule: Sendable {
    var descriptor: ModuleDescriptor { get }
    /// Does the work of one run. Return a result (or nil); throw `RunError` to fail with a
    /// code of your own; any other error fails the run with code `module_error`. Cooperate
    /// with cancellation: the run may be canceled or time out.
    func run(_ context: RunContext) async throws -> JSONValue?
}

/// A module whose params decode into a typed struct: implement `run(_:context:)` and the
/// engine decodes the params (a mismatch fails the run with `invalid_params`).
public protocol TypedTaskModule: TaskModule {
    associatedtype Params: Decodable & Sendable
    func run(_ params: Params, context: RunContext) async throws -> JSONValue?
}

extension TypedTaskModule {
    public func run(_ context: RunContext) async throws -> JSONValue? {
        try await run(try context.params(as: Params.self), context: context)
    }
}

/// A module made from a closure, for applications that embed the engine.
public struct ClosureModule: TaskModule {
    public let descriptor: ModuleDescriptor
    private let body: @Sendable (RunContext) async throws -> JSONValue?

    public init(_ descriptor: ModuleDescriptor, body: @escaping @Sendable (RunContext) async throws -> JSONValue?) {
        self.descriptor = descriptor
        self.body = body
    }

    public func run(_ context: RunContext) async throws -> JSONValue? { try await body(context) }
}

/// What a module sees of its run: identity, params, and a way to report progress and logs.
public struct RunContext: Sendable {
    public let run: TaskRun
    /// The params as stored JSON text.
    public let paramsJSON: String
    /// The event that fired the run (`trigger: event`, and its retries): type, resource,
    /// payload and id. A run-end event's payload names the task and run that ended.
    public let event: RunEvent?
    let sink: RunSink

    init(run: TaskRun, paramsJSON: String, sink: RunSink, event: RunEvent? = nil) {
        self.run = run
        self.paramsJSON = paramsJSON
        self.event = event
        self.sink = sink
    }

    /// The params as a JSON value; a corrupt document fails the run with `invalid_params`.
    public func params() throws -> JSONValue {
        do {
            return try JSONDecoder().decode(JSONValue.self, from: Data(paramsJSON.utf8))
        } catch {
            throw RunError(code: "invalid_params", message: "params are not valid JSON")
        }
    }

    /// The params decoded into a typed struct; a mismatch fails the run with `invalid_params`.
    public func params<P: Decodable>(as type: P.Type) throws -> P {
        do {
            return try JSONDecoder().decode(P.self, from: Data(paramsJSON.utf8))
        } catch {
            throw RunError(code: "invalid_params", message: "params do not match \(P.self): \(error)")
        }
    }

    /// Appends a line to the run's log (written in batches, visible while the run is active).
    public func log(_ level: LogEntry.Level = .info, _ message: String) {
        sink.log(level, message)
    }

    /// Reports how far the run has got.
    public func progress(percent: Double?, message: String? = nil) {
        sink.progress(RunProgress(percent: percent.map { min(max($0, 0), 100) }, message: message))
    }
}

/// The modules an engine knows, by name.
public struct ModuleRegistry: Sendable {
    public private(set) var modules: [String: any TaskModule] = [:]

    public init(_ modules: [any TaskModule] = []) {
        for module in modules { register(module) }
    }

    public mutating func register(_ module: any TaskModule) {
        modules[module.descriptor.name] = module
    }

    public subscript(name: String) -> (any TaskModule)? { modules[name] }

    public var descriptors: [String: ModuleDescriptor] { modules.mapValues(\.descriptor) }
}

/// The no-op module: completes at once (for tests and benchmarks).
public struct NoopModule: TaskModule {
    public init() {}
    public let descriptor = ModuleDescriptor(
        name: "noop",
        description: ["en-US": "Does nothing and completes at once.", "de-DE": "Tut nichts und ist sofort fertig."])
    public func run(_ context: RunContext) async throws -> JSONValue? { nil }
}
