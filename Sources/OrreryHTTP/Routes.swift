public import Hummingbird
import HTTPTypes
import NIOCore
import HummingbirdCore
import Foundation
public import OrreryCore
public import OrreryEngine

/// The native API under `/v1` (Appendix A): tasks, runs, logs, modules; plus health; and the
/// five compatibility profiles (SPEC §8), each at its seed's own paths with its own errors.
public enum OrreryRoutes {
    /// `feed`: the live change feed behind `GET /v1/stream` (run it as a service beside the
    /// server); without one the stream answers 503. `metrics`: what `/metrics` emits (give the
    /// engine its `runMetrics`); every request is logged and timed through it.
    /// `dashboard`: where the web dashboard is mounted and its sessions (issue 14).
    public static func build(
        service: TaskService, feed: RunFeed? = nil, metrics: ServerMetrics = ServerMetrics(),
        dashboard: DashboardConfiguration = DashboardConfiguration(), failedAuthLimit: FailedAuthLimiter.Configuration? = nil
    ) -> Router<OrreryRequestContext> {
        let router = Router(context: OrreryRequestContext.self)
        if let failedAuthLimit {
            router.add(middleware: FailedAuthLimitMiddleware(limiter: FailedAuthLimiter(configuration: failedAuthLimit, clock: service.clock)))
        }
        router.add(middleware: RequestLogMiddleware(metrics: metrics))
        router.add(middleware: ProblemMiddleware())
        let authenticator = TokenAuthenticator(grants: service.tokenGrants, clock: service.clock)
        let synapse = SynapseProfile(service: service, authenticator: authenticator)
        let taskAPI = TaskAPIProfile(service: service, authenticator: authenticator)
        let workspace = WorkspaceProfile(service: service, authenticator: authenticator)
        let taskListRPC = TaskListRPCProfile(service: service, authenticator: authenticator)
        let dms = DMSProfile(service: service, authenticator: authenticator)
        router.add(middleware: ProfileErrorMiddleware(profiles: [synapse.errors, taskAPI.errors, workspace.errors, taskListRPC.errors, dms.errors]))
        OperationsRoutes.add(to: router, service: service, metrics: metrics)
        router.get("openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: OpenAPIDocument.bytes)))
        }
        // A bearer token, or the dashboard's session cookie (writes then need its CSRF token).
        let v1 = router.group("v1").add(middleware: SessionOrBearerAuthMiddleware(
            bearer: AuthMiddleware(authenticator: authenticator), dashboard: dashboard, service: service))
        TaskRoutes(service: service).add(to: v1)
        RunRoutes(service: service).add(to: v1)
        NotificationRoutes(service: service).add(to: v1)
        EventRoutes(service: service).add(to: v1)
        StreamRoutes(service: service, feed: feed).add(to: v1)
        TokenRoutes(service: service).add(to: v1)
        AuditRoutes(service: service).add(to: v1)
        UserRoutes(service: service).add(to: v1)
        if let moduleStore = service.store as? any ModuleStore { ModuleRoutes(service: service, modules: moduleStore).add(to: v1) }
        WorkerRoutes(service: service).add(to: v1)
        v1.get("modules") { request, context in
            _ = try context.requireCaller()
            try Query(request).allowOnly([])
            let items = service.modules.descriptors.values.sorted { $0.name < $1.name }.map(\.json)
            return json(.object(["items": .array(items)]))
        }
        DashboardRoutes(service: service, configuration: dashboard).add(to: router)
        synapse.add(to: router)
        taskAPI.add(to: router)
        workspace.add(to: router)
        taskListRPC.add(to: router)
        dms.add(to: router)
        // The native API only: each compatibility profile answers an unknown method as its seed does.
        router.add(middleware: MethodNotAllowedMiddleware(
            routes: router.routes.map { ($0.path.description, $0.method.rawValue) }.filter { $0.0.hasPrefix("/v1") }))
        return router
    }
}

/// A JSON response from a value.
func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
    Response(
        status: status, headers: [.contentType: "application/json"],
        body: .init(byteBuffer: ByteBuffer(bytes: value.jsonBytes)))
}

extension Request {
    /// The body as JSON: over the size limit is a 413, malformed a 400.
    func jsonBody(context: OrreryRequestContext) async throws -> JSONValue {
        let buffer: ByteBuffer
        do {
            buffer = try await body.collect(upTo: context.maxUploadSize)
        } catch is NIOTooManyBytesError {
            throw OrreryError(.bodyTooLarge, "the request body is larger than \(context.maxUploadSize) bytes")
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw OrreryError(.bodyTooLarge, "the request body is larger than \(context.maxUploadSize) bytes")
        }
        guard buffer.readableBytes > 0 else { throw OrreryError(.invalidJSON, "a JSON body is required") }
        return try JSONValue.parse(buffer.readableBytesView)
    }
}

/// Reads query parameters with errors that name them.
struct Query {
    let uri: URI
    init(_ request: Request) { uri = request.uri }

    func string(_ name: String) -> String? {
        uri.queryParameters[name[...]].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
    }

    func int(_ name: String, default value: Int, in range: ClosedRange<Int>) throws -> Int {
        guard let text = string(name) else { return value }
        guard let n = Int(text), range.contains(n) else {
            throw OrreryError(.invalidField, "must be an integer in \(range.lowerBound)-\(range.upperBound), not \"\(text)\"", field: name)
        }
        return n
    }

    func bool(_ name: String) throws -> Bool? {
        guard let text = string(name) else { return nil }
        switch text {
        case "true", "1": return true
        case "false", "0": return false
        default: throw OrreryError(.invalidField, "must be true or false, not \"\(text)\"", field: name)
        }
    }

    func time(_ name: String) throws -> Timestamp? {
        guard let text = string(name) else { return nil }
        guard let t = Timestamp(rfc3339: text) else {
            throw OrreryError(.invalidField, "\"\(text)\" is not an RFC 3339 time", field: name)
        }
        return t
    }

    /// A comma-separated list of statuses (`status=complete,failed`).
    func statuses(_ name: String) throws -> [RunStatus] {
        try words(name, RunStatus.self)
    }

    /// A comma-separated list of words of one enumeration (`trigger=manual,retry`).
    func words<Word: RawRepresentable & CaseIterable>(_ name: String, _: Word.Type) throws -> [Word] where Word.RawValue == String {
        guard let text = string(name) else { return [] }
        return try text.split(separator: ",", omittingEmptySubsequences: false).map { word in
            guard let value = Word(rawValue: String(word)) else {
                throw OrreryError(.invalidField, "unknown value \"\(word)\" (expected one of \(Word.allCases.map(\.rawValue).joined(separator: ", ")))", field: name)
            }
            return value
        }
    }

    /// A label selector, as Kubernetes writes it: `labels=team=ops,configuration_id=7`.
    func labels(_ name: String) throws -> [String: String] {
        guard let text = string(name) else { return [:] }
        var labels: [String: String] = [:]
        for pair in text.split(separator: ",", omittingEmptySubsequences: false) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty else {
                throw OrreryError(.invalidField, "must be key=value pairs separated by commas, not \"\(pair)\"", field: name)
            }
            labels[String(parts[0])] = String(parts[1])
        }
        return labels
    }

    /// A bounded string parameter.
    func string(_ name: String, maxLength: Int) throws -> String? {
        guard let text = string(name) else { return nil }
        guard text.count <= maxLength else {
            throw OrreryError(.invalidField, "must be at most \(maxLength) characters", field: name)
        }
        return text
    }

    /// Refuses parameters the endpoint does not know (a misspelt filter would otherwise
    /// silently list everything) and values holding U+0000.
    func allowOnly(_ names: Set<String>) throws {
        for (key, _) in uri.queryParameters where !names.contains(String(key)) {
            throw OrreryError(.unknownField, "unknown query parameter \"\(key)\" (known: \(names.sorted().joined(separator: ", ")))", field: String(key))
        }
        // No stored text holds U+0000 (PostgreSQL's text cannot), so no filter can match it.
        for (key, value) in uri.queryParameters where value.utf8.contains(0) {
            throw OrreryError(.invalidField, "must not contain the NUL character (%00)", field: String(key))
        }
    }

    /// The project a listing is confined to: `project=` (admins may name any; others only
    /// their own, which is where they are confined anyway).
    func project() throws -> String? {
        guard let name = string("project") else { return nil }
        guard TaskService.isValidProjectName(name) else {
            throw OrreryError(.invalidField, "is not a project name", field: "project")
        }
        return name
    }
}

/// The schedule kinds, as `schedule_type=` names them.
enum ScheduleTypeWord: String, CaseIterable {
    case once, interval, cron, calendar, trigger
}

/// The OpenAPI 3.1 document of the native API (`Resources/openapi.json`), served at `/openapi.json`.
/// Compiled into the executable (`OpenAPIDocument+Embedded.swift`): a binary copied alone
/// to another machine serves it without a resource bundle.
public enum OpenAPIDocument {
    public static let bytes: [UInt8] = Array(text.utf8)
}
