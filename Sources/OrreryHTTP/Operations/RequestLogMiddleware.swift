import HTTPTypes
import Hummingbird
import Logging

/// Logs every API request once, with its request id, and records its latency by route
/// template. The id is the client's `X-Request-ID` when it is a sane one, else
/// Hummingbird's; it is echoed in the response and carried (as `hb.request.id`) by every
/// line the request's handlers log, so a client's report can be found in the logs.
///
/// What is logged is chosen, never the raw request: method, path without its query (a
/// `?access_token=` must not reach a log), route, status, duration — no header, no body.
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = OrreryRequestContext
    let metrics: ServerMetrics

    static let requestIDHeader = HTTPField.Name("X-Request-ID")!

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        var context = context
        let id: String
        if let given = request.headers[Self.requestIDHeader].flatMap(Self.acceptable) {
            id = given
            context.logger[metadataKey: "hb.request.id"] = .string(id)
        } else {
            id = context.id  // Hummingbird's, already in the logger's metadata
        }
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        } catch {
            finish(request, context, status: 500, start: start)
            throw error
        }
        response.headers[Self.requestIDHeader] = id
        finish(request, context, status: Int(response.status.code), start: start)
        return response
    }

    private func finish(_ request: Request, _ context: Context, status: Int, start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        let route = context.endpointPath ?? "NotFound"
        metrics.requestEnded(method: request.method.rawValue, route: route, status: status, after: elapsed)
        let ms = Double(elapsed.components.attoseconds / 1_000_000_000_000) / 1_000 + Double(elapsed.components.seconds) * 1_000
        context.logger.log(level: status == 503 ? .warning : status >= 500 ? .error : .info, "request", metadata: [
            "method": .string(request.method.rawValue), "path": .string(request.uri.path), "route": .string(route),
            "status": .stringConvertible(status), "duration_ms": .stringConvertible(ms),
        ])
    }

    /// A client's request id is kept when it is 1-128 characters of letters, digits and
    /// `-_.:` (anything else could forge log lines); otherwise a new one is made.
    static func acceptable(_ id: String) -> String? {
        guard (1...128).contains(id.utf8.count),
              id.utf8.allSatisfy({ $0.isASCIILetterOrDigit || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: ":") })
        else { return nil }
        return id
    }
}

extension UInt8 {
    fileprivate var isASCIILetterOrDigit: Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(self) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(self)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self)
    }
}
