import Foundation
import Hummingbird
import Logging
import OrreryCore
import OrreryEngine
import OrreryHTTP
import OrreryModules
import OrreryTesting
import ServiceLifecycle
import Testing

/// `/readyz` answers 503 problem+json, naming what is wrong, while the node cannot do its
/// work; `/healthz` still answers (the process is alive).
@Suite("Readiness", .timeLimit(.minutes(5)))
struct ReadinessTests {
    @Test("an engine that is not running makes /readyz 503 not_ready while /healthz stays 200")
    func engineNotRunning() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let store = try Fixtures.store(in: dir)
        let engine = Engine(configuration: .init(node: "never-started"), store: store, modules: ModuleRegistry(BuiltinModules.all()))
        let logger = Logger(label: "readiness-test")
        let (ports, port) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: OrreryRoutes.build(service: TaskService(store: store, engine: engine)),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { port.yield($0.localAddress?.port ?? 0) }, logger: logger)
        // Only the HTTP server runs: the engine was never started.
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            let api = APIClient(baseURL: "http://127.0.0.1:\(try require(await iterator.next(), "port"))", token: nil)
            let ready = try await api.get("/readyz")
            #expect(ready.status == 503 && ready.contentType == "application/problem+json")
            #expect(ready["code"] == .string("not_ready") && ready["detail"]?.stringValue?.contains("engine is not running") == true, "\(ready.json)")
            #expect(try await api.get("/healthz").status == 200)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }
}
