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
import Synchronization
import Testing

@Suite("The http module against a real server on loopback", .timeLimit(.minutes(5)))
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
        router.get("redirect") { request, _ -> Response in
            var headers: HTTPFields = [:]
            headers[.location] = request.uri.queryParameters["to"].map(String.init) ?? "/ok"
            return Response(status: .found, headers: headers)
        }
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

    @Test("every blocked range is refused, IPv4-mapped IPv6 included; public addresses pass", arguments: [
        ("127.0.0.1", true), ("127.255.0.9", true), ("10.1.2.3", true), ("172.16.0.1", true), ("172.31.255.254", true),
        ("192.168.1.1", true), ("100.64.0.1", true), ("100.127.255.255", true), ("169.254.169.254", true), ("0.0.0.0", true),
        ("0.1.2.3", true), ("::1", true), ("::", true), ("fc00::1", true), ("fd12:3456::1", true), ("fe80::1", true),
        ("febf::1", true), ("::ffff:127.0.0.1", true), ("::ffff:10.0.0.1", true), ("::ffff:169.254.169.254", true),
        ("8.8.8.8", false), ("172.32.0.1", false), ("100.128.0.1", false), ("192.169.0.1", false), ("2001:4860:4860::8888", false),
        ("::ffff:8.8.8.8", false), ("not-an-address", true),
    ])
    func blockedRanges(address: String, forbidden: Bool) {
        #expect(AddressGuard.isForbidden(address) == forbidden, "\(address)")
    }

    @Test("a redirect to a private address is refused at that hop; a redirect within the allowed host is followed")
    func redirectsAreChecked() async throws {
        try await withTarget { port in
            // The target stands in for a public server: its loopback address is trusted, nothing else private is.
            let guardrail = AddressGuard(trusted: ["127.0.0.1:\(port)"])
            try await EngineHarness.with(modules: [HTTPModule(addressGuard: guardrail)]) { h in
                let base = "http://127.0.0.1:\(port)"
                var tasks: [String: ScheduledTask] = [:]
                for (name, to) in [("metadata", "http://169.254.169.254/latest/meta-data"), ("loopback", "http://127.0.0.2:\(port)/ok"),
                                   ("mapped", "http://[::ffff:127.0.0.1]:\(port)/ok"), ("inside", "/ok")] {
                    let url = "\(base)/redirect?to=\(to.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)"
                    tasks[name] = try await h.create(#"{"name":"\#(name)","module":"http","params":{"url":"\#(url)"},"schedule":{"type":"once"}}"#)
                }
                try await eventually("all ended") { try await h.store.listRuns(RunFilter()).items.allSatisfy(\.status.isFinished) }
                for name in ["metadata", "loopback", "mapped"] {
                    let run = try #require(try await h.runs(of: tasks[name]!).first)
                    #expect(run.status == .failed && run.error?.code == "ssrf_refused", "\(name): \(String(describing: run.error))")
                }
                let inside = try #require(try await h.runs(of: tasks["inside"]!).first)
                #expect(inside.status == .complete && inside.result?["body"] == .string("hello"))
            }
        }
    }

    @Test("the connection goes to the address that was checked: a DNS answer that changes afterwards is never used")
    func noRebinding() async throws {
        try await withTarget { port in
            let lookups = Lookups()
            // First answer: the trusted (stand-in public) address; every later one: a private address.
            let guardrail = AddressGuard(trusted: ["127.0.0.1:\(port)"]) { _, _ in lookups.next() == 1 ? ["127.0.0.1"] : ["10.0.0.1"] }
            try await EngineHarness.with(modules: [HTTPModule(addressGuard: guardrail)]) { h in
                // No real DNS knows this name: the request can only succeed through the pinned address.
                let task = try await h.create(#"{"name":"r","module":"http","params":{"url":"http://rebind.test:\#(port)/ok"},"schedule":{"type":"once"}}"#)
                try await eventually("ended") { try await h.runs(of: task).first?.status.isFinished == true }
                let run = try #require(try await h.runs(of: task).first)
                #expect(run.status == .complete && run.result?["body"] == .string("hello"), "\(String(describing: run.error))")
                #expect(lookups.count == 1, "resolved once, checked, and connected to that answer")
            }
        }
    }
}

/// Counts a test resolver's lookups.
final class Lookups: Sendable {
    private let n = Mutex(0)
    func next() -> Int { n.withLock { $0 += 1; return $0 } }
    var count: Int { n.withLock { $0 } }
}
