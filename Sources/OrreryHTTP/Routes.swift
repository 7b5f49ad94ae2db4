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
    public static func build(service: TaskService) -> Router<OrreryRequestContext> {
        let router = Router(context: OrreryRequestContext.self)
        router.add(middleware: ProblemMiddleware())
        router.get("healthz") { _, _ in json(.object(["status": .string("ok")])) }
        router.get("openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: OpenAPIDocument.bytes)))
        }
        router.get("readyz") { _, _ in
            _ = try await service.store.tokenCount()
            return json(.object(["status": .string("ready")]))
        }
        let authenticator = TokenAuthenticator(store: service.store, clock: service.clock)
        let v1 = router.group("v1").add(middleware: AuthMiddleware(authenticator: authenticator))
        TaskRoutes(service: service).add(to: v1)
        RunRoutes(service: service).add(to: v1)
        TokenRoutes(service: service).add(to: v1)
        v1.get("modules") { _, context in
            _ = try context.requireCaller()
            let items = service.modules.descriptors.values.sorted { $0.name < $1.name }.map(\.json)
            return json(.object(["items": .array(items)]))
        }
        SynapseProfile(service: service, authenticator: authenticator).add(to: router)
        TaskAPIProfile(service: service, authenticator: authenticator).add(to: router)
        WorkspaceProfile(service: service, authenticator: authenticator).add(to: router)
        TaskListRPCProfile(service: service, authenticator: authenticator).add(to: router)
        DMSProfile(service: service, authenticator: authenticator).add(to: router)
        return router
    }
}

/// A JSON response from a value.
func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
    Response(
        status: status, headers: [.contentType: "application/json"],
        body: .init(byteBuffer: ByteBuffer(string: value.jsonText)))
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
        guard let text = string(name) else { return [] }
        return try text.split(separator: ",").map { word in
            guard let status = RunStatus(rawValue: String(word)) else {
                throw OrreryError(.invalidField, "unknown status \"\(word)\" (expected \(RunStatus.allCases.map(\.rawValue).joined(separator: ", ")))", field: name)
            }
            return status
        }
    }
}

/// The OpenAPI 3.1 document of the native API (`Resources/openapi.json`), served at `/openapi.json`.
public enum OpenAPIDocument {
    public static let bytes: [UInt8] = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json"),
              let data = try? Data(contentsOf: url)
        else { return Array(#"{"error":"openapi.json is missing from the build"}"#.utf8) }
        return Array(data)
    }()
}
