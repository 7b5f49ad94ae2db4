public import Hummingbird
import HTTPTypes

/// Answers a request whose path exists but whose method does not (`TRACE /v1/tasks`) with
/// 405 and the `Allow` header (RFC 9110 §15.5.6), instead of the router's 404.
///
/// Added to the router after every route: a router's middleware wraps the not-found
/// responder whenever it is added, so it sees exactly the requests no route matched.
struct MethodNotAllowedMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Each route's path split into components, with the methods it answers.
    private let routes: [(components: [String], methods: [String])]

    init(routes: [(path: String, method: String)]) {
        var byPath: [String: Set<String>] = [:]
        for route in routes { byPath[route.path, default: []].insert(route.method) }
        self.routes = byPath.map { path, methods in
            var allowed = methods
            if allowed.contains("GET") { allowed.insert("HEAD") }
            return (Self.components(path), allowed.sorted())
        }
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            let path = Self.components(request.uri.path)
            let allowed = Set(routes.filter { Self.matches($0.components, path) }.flatMap(\.methods)).sorted()
            guard !allowed.isEmpty, !allowed.contains(request.method.rawValue) else { throw error }
            var headers = HTTPFields()
            headers[.allow] = allowed.joined(separator: ", ")
            throw ProblemError(
                status: .methodNotAllowed, code: "method_not_allowed", title: "Method not allowed",
                detail: "\(request.method.rawValue) is not allowed here; allowed: \(allowed.joined(separator: ", "))",
                field: nil, headers: headers)
        }
    }

    static func components(_ path: String) -> [String] { path.split(separator: "/").map(String.init) }

    /// A route component `{id}`, `:id` or `*` matches any one component; `**` the rest.
    static func matches(_ route: [String], _ path: [String]) -> Bool {
        for (i, component) in route.enumerated() {
            if component == "**" { return true }
            guard i < path.count else { return false }
            if component == "*" || component.hasPrefix(":") || (component.hasPrefix("{") && component.hasSuffix("}")) { continue }
            if component != path[i] { return false }
        }
        return route.count == path.count
    }
}
