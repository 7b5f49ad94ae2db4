import Foundation
import Hummingbird
import Logging
import NIOCore
import OrreryCore
import OrreryEngine
import OrreryModules
import OrrerySQLite
import OrreryTesting
import ServiceLifecycle
import Testing

@Suite("The http module against a real server on loopback")
struct HTTPModuleTests {
    /// A small HTTP server on a loopback port for the length of `body`.
    func withTarget(_ body: (Int) async throws -> Void) async throws {
        let router = Router()
        router.get("ok") { _, _ in "hello" }
        router.post("echo") { request, _ -> Response in
            let bytes = try await request.body.collect(upTo: 1 << 20)
            var headers: HTTPFields = [:]
            headers[.init("X-Seen")!] = request.headers[.init("X-Token")!] ?? "none"
            return Response(status: .created, headers: headers, body: .init(byteBuffer: bytes))
        }
        router.get("fail") { _, _ -> Response in Response(status: .internalServerError) }
        router.get("big") { _, _ in String(repeating: "x", count: 100_000) }
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: Logger(label: "target"))
        let group = ServiceGroup(configuration: .init(services: [app], logger: Logger(label: "target")))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            let port = try require(await iterator.next(), "port")
            defer { Task { await group.triggerGracefulShutdown() } }
            try await body(port)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    @Test("2xx completes with status, headers and body; other statuses fail; the body is bounded")
    func requests() async throws {
        try await withTarget { port in
            try await EngineHarness.with(modules: [HTTPModule(allowPrivateNetworks: true, maxBodyBytes: 1000)]) { h in
                let base = "http://127.0.0.1:\(port)"
                let ok = try await h.create(#"{"name":"ok","module":"http","params":{"url":"\#(base)/ok"},"schedule":{"type":"once"}}"#)
                let echo = try await h.create(#"{"name":"echo","module":"http","params":{"url":"\#(base)/echo","method":"post","headers":{"X-Token":"t1"},"body":"ping","expected_status":201},"schedule":{"type":"once"}}"#)
                let fail = try await h.create(#"{"name":"fail","module":"http","params":{"url":"\#(base)/fail"},"schedule":{"type":"once"}}"#)
                let big = try await h.create(#"{"name":"big","module":"http","params":{"url":"\#(base)/big"},"schedule":{"type":"once"}}"#)
                try await eventually("all ended") { try await h.store.listRuns(RunFilter()).items.allSatisfy(\.status.isFinished) }
                let okRun = try #require(try await h.runs(of: ok).first)
                #expect(okRun.status == .complete && okRun.result?["status"] == .int(200) && okRun.result?["body"] == .string("hello"))
                let echoRun = try #require(try await h.runs(of: echo).first)
                #expect(echoRun.status == .complete && echoRun.result?["body"] == .string("ping"))
                #expect(echoRun.result?["headers"]?["x-seen"] == .string("t1"))
                let failRun = try #require(try await h.runs(of: fail).first)
                #expect(failRun.status == .failed && failRun.error?.code == "http_status")
                let bigRun = try #require(try await h.runs(of: big).first)
                #expect(bigRun.result?["body"]?.stringValue?.count == 1000 && bigRun.result?["truncated"] == .bool(true))
            }
        }
    }

    @Test("by default loopback, private and link-local addresses are refused (SSRF)", arguments: [
        "http://127.0.0.1:9/x", "http://localhost/x", "http://10.1.2.3/x", "http://192.168.0.1/x", "http://169.254.169.254/latest/meta-data",
        "http://[::1]/x", "http://0.0.0.0/x",
    ])
    func ssrf(url: String) async throws {
        try await EngineHarness.with(modules: [HTTPModule()]) { h in
            let task = try await h.create(#"{"name":"x","module":"http","params":{"url":"\#(url)"},"schedule":{"type":"once"}}"#)
            try await eventually("ended") { try await h.runs(of: task).first?.status.isFinished == true }
            #expect(try await h.runs(of: task).first?.error?.code == "ssrf_refused")
        }
    }
}
