public import Hummingbird
import HTTPTypes
import Logging
import NIOCore
public import OrreryCore

/// An RFC 9457 problem: `application/problem+json` with a stable `code` and the offending
/// `field`. Every error that leaves the server is one of these; no internal text leaks.
public struct ProblemError: Error, HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var code: String
    public var title: String
    public var detail: String
    public var field: String?
    /// Headers the answer carries besides the content type (`Allow` on a 405).
    public var headers: HTTPFields = [:]

    public init(status: HTTPResponse.Status, code: String, title: String, detail: String, field: String?, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.field = field
        self.headers = headers
    }

    public init(_ error: OrreryError) {
        let (status, title): (HTTPResponse.Status, String) = switch error.code {
        case .invalidJSON: (.badRequest, "Malformed JSON")
        case .invalidSchedule: (.badRequest, "Invalid schedule")
        case .unknownModule: (.badRequest, "Unknown module")
        case .invalidParams: (.badRequest, "Invalid params")
        case .missingField: (.badRequest, "Missing field")
        case .unknownField: (.badRequest, "Unknown field")
        case .invalidField: (.badRequest, "Invalid field")
        case .notFound: (.notFound, "Not found")
        case .conflict: (.conflict, "Conflict")
        case .illegalTransition: (.conflict, "Illegal status transition")
        case .versionMismatch: (.preconditionFailed, "Version mismatch")
        case .unauthorized: (.unauthorized, "Unauthorized")
        case .forbidden: (.forbidden, "Forbidden")
        case .bodyTooLarge: (.contentTooLarge, "Body too large")
        case .unavailable: (.serviceUnavailable, "Service unavailable")
        case .storageFull: (.init(code: 507, reasonPhrase: "Insufficient Storage"), "Insufficient storage")
        default: (.internalServerError, "Internal error")
        }
        let detail = status == .internalServerError ? "an internal error occurred" : error.message
        self.init(status: status, code: error.code.rawValue, title: title, detail: detail, field: error.field)
    }

    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "type": .string("https://orrery.dev/problems/\(code)"), "title": .string(title),
            "status": .int(Int64(status.code)), "code": .string(code), "detail": .string(detail),
        ]
        if let field { o["field"] = .string(field) }
        return .object(o)
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = self.headers
        headers[.contentType] = "application/problem+json"
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: json.jsonText)))
    }
}

/// Turns every error into a problem: Orrery's own by their code, Hummingbird's by status
/// (no route: 404, body too large: 413), anything else a 500 whose details are only logged.
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let problem as ProblemError {
            throw problem
        } catch let error as OrreryError {
            if error.code == .internal { context.logger.error("internal error", metadata: ["error": "\(error)"]) }
            throw ProblemError(error)
        } catch let error as HTTPError {
            let detail = error.body ?? error.status.reasonPhrase
            let code = switch error.status {
            case .notFound: "not_found"
            case .contentTooLarge: "body_too_large"
            case .methodNotAllowed: "method_not_allowed"
            default: "http_\(error.status.code)"
            }
            throw ProblemError(status: error.status, code: code, title: error.status.reasonPhrase, detail: detail, field: nil)
        } catch {
            context.logger.error("unexpected error", metadata: ["error": "\(String(reflecting: error))"])
            throw ProblemError(status: .internalServerError, code: "internal", title: "Internal error", detail: "an internal error occurred", field: nil)
        }
    }
}
