import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import OrreryCore
import OrreryEngine
import OrreryHTTP
import OrreryModules
import OrrerySQLite
import OrreryTesting
import ServiceLifecycle

/// A response as a test reads it.
struct APIResponse {
    var status: Int
    var contentType: String?
    var json: JSONValue

    subscript(_ key: String) -> JSONValue? { json[key] }
    var items: [JSONValue] { json["items"]?.arrayValue ?? [] }
}

/// Talks to a server on loopback, as a user's client would.
struct APIClient {
    let baseURL: String
    var token: String?

    func call(_ method: HTTPMethod, _ path: String, body: String? = nil, headers: [(String, String)] = []) async throws -> APIResponse {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 16 << 20)
        let json = bytes.readableBytes == 0 ? JSONValue.null : try JSONValue.parse(bytes.readableBytesView)
        return APIResponse(status: Int(response.status.code), contentType: response.headers.first(name: "Content-Type"), json: json)
    }

    func get(_ path: String) async throws -> APIResponse { try await call(.GET, path) }
    func post(_ path: String, _ body: String? = nil) async throws -> APIResponse { try await call(.POST, path, body: body) }
}

/// The real server (SQLite file, engine on the system clock, HTTP on a loopback port)
/// running in this process for the length of `body`.
enum InProcessServer {
    static let adminToken = "test-admin-token-\(UUID().uuidString)"

    /// On a fresh store of `kind` (SQLite by default; HTTP semantics tests run on both).
    static func with(
        store kind: StoreKind = .sqlite, engine configure: (inout Engine.Configuration) -> Void = { _ in },
        _ body: (APIClient, any ConformingStore) async throws -> Void
    ) async throws {
        try await kind.withLocation { location in try await with(location: location, engine: configure, body) }
    }

    static func with(
        location: StoreLocation, engine configure: (inout Engine.Configuration) -> Void = { _ in },
        _ body: (APIClient, any ConformingStore) async throws -> Void
    ) async throws {
        try await serve(location: location, token: adminToken, engine: configure) { baseURL, _, store in
            try await body(APIClient(baseURL: baseURL, token: adminToken), store)
        }
    }

    /// The server itself, shared by the API tests and the dashboard's: the store at
    /// `location` with `token` as its admin token, every route (the dashboard included) under
    /// `basePath`, on a loopback port, for the length of `body` (given the base URL).
    static func serve(
        location: StoreLocation, token: String, basePath: String = "", engine configure: (inout Engine.Configuration) -> Void = { _ in },
        _ body: (_ baseURL: String, _ service: TaskService, _ store: any ConformingStore) async throws -> Void
    ) async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let exclusive = location.kind == .sqlite
        let store = try await location.open(exclusive: exclusive)
        defer { location.close(store) }
        _ = try await AdminToken.ensure(store: store, environmentToken: token, dataDir: dir.path, now: SystemClock().now())
        var config = Engine.Configuration(node: "test")
        config.exclusiveStore = exclusive
        configure(&config)
        let logger = Logger(label: "test")
        let engine = Engine(configuration: config, store: store, modules: ModuleRegistry(BuiltinModules.all()), logger: logger)
        let service = TaskService(store: store, engine: engine)
        let (portStream, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: BasePathRouter(basePath: basePath, router: OrreryRoutes.build(service: service, dashboard: DashboardConfiguration(basePath: basePath))),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in portContinuation.yield(channel.localAddress?.port ?? 0) },
            logger: logger)
        let group = ServiceGroup(configuration: .init(services: [service.tokenGrants, engine, app], logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var ports = portStream.makeAsyncIterator()
            let port = try require(await ports.next(), "port")
            do {
                try await body("http://127.0.0.1:\(port)", service, store)
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }
}

func require<T>(_ value: T?, _ what: String = "value") throws -> T {
    guard let value else { throw TimedOut(what: "\(what) (missing)") }
    return value
}
