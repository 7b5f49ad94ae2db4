// An application that embeds Orrery's engine (SPEC §4): it registers its own modules — one
// typed, one a closure — runs the engine inside its own service group on an SQLite file,
// schedules work through `TaskService` with Swift values (`TaskInput`, the typed module's
// own `Params`), and reads the results back.
//
//   swift run EmbeddedExample [data-dir]
import Foundation
import Logging
import OrreryCore
import OrreryEngine
import OrreryModules
import OrrerySQLite
import ServiceLifecycle

/// A module with typed params: `{"name": "world", "times": 2}`.
struct GreetModule: TypedTaskModule {
    struct Params: Codable, Sendable {
        var name: String
        var times: Int?
    }

    let descriptor = ModuleDescriptor(
        name: "greet",
        description: ["en-US": "Greets someone.", "de-DE": "Grüßt jemanden."],
        params: [
            ParamSpec(name: "name", type: .string, required: true, description: ["en-US": "Who to greet."]),
            ParamSpec(name: "times", type: .integer, defaultValue: .int(1), description: ["en-US": "How often."]),
        ])

    func run(_ params: Params, context: RunContext) async throws -> JSONValue? {
        let times = params.times ?? 1
        for i in 1...times {
            context.progress(percent: Double(i) / Double(times) * 100, message: "greeting \(i) of \(times)")
            context.log(.info, "hello, \(params.name)")
        }
        return .object(["greeted": .string(params.name), "times": .int(Int64(times))])
    }
}

/// The app's own service: schedules two tasks, waits for their runs, prints them; when it
/// returns, the group shuts down gracefully (engine included).
struct Demo: Service {
    let service: TaskService

    func run() async throws {
        let me = TaskService.Caller(name: "embedded-app", project: "default")
        let now = service.clock.now()
        var greeting = TaskInput(name: "greet the world", module: "greet", schedule: .once(at: now))
        greeting.params = try JSONValue(encoding: GreetModule.Params(name: "world", times: 2))
        greeting.retry = RetryPolicy(maxAttempts: 3, backoffBaseSec: 5)
        let greet = try await service.createTask(greeting, by: me)
        let shout = try await service.createTask(TaskInput(name: "shout", module: "shout", schedule: .once(at: now)), by: me)
        for task in [greet, shout] {
            var filter = RunFilter()
            filter.taskID = task.id
            var run: TaskRun?
            while run == nil || !(run!.status.isFinished) {
                try await Task.sleep(for: .milliseconds(10))
                run = try await service.listRuns(filter, by: me).items.first
            }
            let logs = try await service.logs(runID: run!.id, offset: 0, limit: 10, by: me).map(\.message)
            print("\(task.module): \(run!.status.rawValue) \(run!.result?.jsonText ?? "null") logs=\(logs)")
        }

    }
}

let dataDir = CommandLine.arguments.dropFirst().first ?? NSTemporaryDirectory() + "orrery-embedded-\(UUID().uuidString)"
try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
let store = try SQLiteStore(path: dataDir + "/app.sqlite", options: .init(exclusive: true))
var modules = ModuleRegistry(BuiltinModules.all())
modules.register(GreetModule())
modules.register(ClosureModule(ModuleDescriptor(name: "shout", description: ["en-US": "Shouts."])) { context in
    context.log(.warning, "HEY")
    return .string("shouted")
})
var logger = Logger(label: "embedded")
logger.logLevel = .warning
var config = Engine.Configuration(node: "embedded-\(getpid())")
config.exclusiveStore = true
let engine = Engine(configuration: config, store: store, modules: modules, logger: logger)
let group = ServiceGroup(configuration: .init(
    services: [.init(service: engine), .init(service: Demo(service: TaskService(store: store, engine: engine)), successTerminationBehavior: .gracefullyShutdownGroup)],
    logger: logger))
try await group.run()
