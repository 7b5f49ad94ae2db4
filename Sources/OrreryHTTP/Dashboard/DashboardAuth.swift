import Foundation
import HTTPTypes
public import Hummingbird
import OrreryCore
import OrreryEngine

/// The dashboard's settings: where it is mounted behind a proxy, and its sessions.
public struct DashboardConfiguration: Sendable {
    /// The path prefix a reverse proxy serves Orrery under (`/orrery`), or "" at the root.
    public var basePath: String
    public var sessions: DashboardSessions

    public init(basePath: String = "", sessions: DashboardSessions = DashboardSessions()) {
        self.basePath = Self.normalized(basePath)
        self.sessions = sessions
    }

    /// `orrery/`, `/orrery/` and `/orrery` are all `/orrery`; `/` and "" are the root.
    public static func normalized(_ path: String) -> String {
        let trimmed = path.split(separator: "/", omittingEmptySubsequences: true).joined(separator: "/")
        return trimmed.isEmpty ? "" : "/" + trimmed
    }

    /// Whether a base path is safe to put in links and cookies: letters, digits, `-_.~/`.
    public static func isValidBasePath(_ path: String) -> Bool {
        path.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.~/".contains($0)) }
    }
}

/// The names the dashboard's cookies and CSRF header go by.
enum DashboardCookie {
    static let session = "orrery_session"
    static let signIn = "orrery_signin"
    static let language = "orrery_lang"
    static let csrfHeader = HTTPField.Name("X-CSRF-Token")!

    /// A `Set-Cookie` value: HttpOnly, SameSite=Strict, confined to the dashboard's path;
    /// Secure when the request came over HTTPS (directly or through a proxy that says so).
    static func set(_ name: String, _ value: String, basePath: String, maxAge: Int?, secure: Bool) -> String {
        var parts = ["\(name)=\(value)", "Path=\(basePath.isEmpty ? "/" : basePath + "/")", "HttpOnly", "SameSite=Strict"]
        if let maxAge { parts.append("Max-Age=\(maxAge)") }
        if secure { parts.append("Secure") }
        return parts.joined(separator: "; ")
    }

    static func isSecure(_ request: Request) -> Bool {
        request.head.scheme == "https" || request.headers[HTTPField.Name("X-Forwarded-Proto")!]?.lowercased() == "https"
    }
}

/// What a dashboard session resolves to for one request.
struct SessionCaller: Sendable {
    var caller: TaskService.Caller
    var csrf: String
}

extension DashboardConfiguration {
    /// The caller of the request's session cookie: nil without one, or when the session
    /// ended or its token was revoked, expired or its user disabled (checked every time).
    func sessionCaller(_ request: Request, store: any TaskStore, now: Timestamp) async throws -> SessionCaller? {
        guard let id = request.cookies[DashboardCookie.session]?.value, !id.isEmpty,
              let session = await sessions.session(id: id, now: now) else { return nil }
        guard let grant = try await store.tokenRole(hash: session.tokenHash, now: now) else {
            await sessions.end(id: id)
            return nil
        }
        guard let role = Role(rawValue: grant.role), role != .worker else { return nil }
        return SessionCaller(
            caller: TaskService.Caller(name: grant.name, project: grant.project, role: role, rights: Set(grant.rights)),
            csrf: session.csrf)
    }
}

/// `/v1` authentication that also accepts the dashboard's session cookie, so the page's
/// JavaScript uses the same API (and `GET /v1/stream` through `EventSource`, which cannot
/// send headers). A bearer token, when present, decides alone, exactly as before. With the
/// cookie, reads pass; a write must carry the session's CSRF token in `X-CSRF-Token`: a
/// forged cross-site request has the cookie (were SameSite ignored) but not the token.
struct SessionOrBearerAuthMiddleware: RouterMiddleware {
    typealias Context = OrreryRequestContext
    let bearer: AuthMiddleware
    let dashboard: DashboardConfiguration
    let service: TaskService

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.headers[.authorization] == nil, request.cookies[DashboardCookie.session] != nil else {
            return try await bearer.handle(request, context: context, next: next)
        }
        guard let session = try await dashboard.sessionCaller(request, store: service.store, now: service.clock.now()) else {
            throw ProblemError(status: .unauthorized, code: "unauthorized", title: "Unauthorized", detail: "the dashboard session has ended; sign in again", field: nil)
        }
        if ![.get, .head].contains(request.method) {
            guard let presented = request.headers[DashboardCookie.csrfHeader],
                  DashboardSessions.constantTimeEqual(presented, session.csrf) else {
                throw ProblemError(status: .forbidden, code: "csrf", title: "Forbidden", detail: "a write from the dashboard needs its CSRF token (X-CSRF-Token)", field: "X-CSRF-Token")
            }
        }
        var context = context
        context.caller = session.caller
        return try await next(request, context)
    }
}

/// Serves the whole application under a path prefix too: a request for `/orrery/v1/tasks` is
/// answered as `/v1/tasks`, so a proxy may pass the prefix on or strip it.
public struct BasePathRouter<Builder: HTTPResponderBuilder>: HTTPResponderBuilder where Builder.Responder.Context == OrreryRequestContext {
    let basePath: String
    let router: Builder

    public init(basePath: String, router: Builder) {
        self.basePath = DashboardConfiguration.normalized(basePath)
        self.router = router
    }

    public func buildResponder() -> Responder {
        Responder(basePath: basePath, inner: router.buildResponder())
    }

    public struct Responder: HTTPResponder {
        let basePath: String
        let inner: Builder.Responder

        public func respond(to request: Request, context: OrreryRequestContext) async throws -> Response {
            guard !basePath.isEmpty, let path = request.head.path, path.hasPrefix(basePath) else {
                return try await inner.respond(to: request, context: context)
            }
            let rest = path.dropFirst(basePath.count)
            guard rest.isEmpty || rest.first == "/" || rest.first == "?" else {
                return try await inner.respond(to: request, context: context)
            }
            var head = request.head
            head.path = rest.isEmpty || rest.first == "?" ? "/" + rest : String(rest)
            return try await inner.respond(to: Request(head: head, body: request.body), context: context)
        }
    }
}
