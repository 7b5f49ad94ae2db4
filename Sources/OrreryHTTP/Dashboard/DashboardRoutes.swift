import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import OrreryCore
import OrreryEngine

/// The web dashboard (SPEC §7, issue 14): server-rendered pages at `/`, signed in with an
/// API token, each page drawn from `TaskService` with the caller's own rights; the page's
/// script acts and follows live changes through `/v1` and `/v1/stream` with the session.
struct DashboardRoutes {
    let service: TaskService
    let configuration: DashboardConfiguration

    func add(to router: Router<OrreryRequestContext>) {
        let group = router.group().add(middleware: SecurityHeadersMiddleware())
        group.get("assets/:name") { request, context in
            guard let asset = DashboardAssets.named(try context.parameters.require("name")) else { throw HTTPError(.notFound) }
            return asset.response(for: request)
        }
        SignInRoutes(service: service, configuration: configuration).add(to: group)
        let timeline = TimelineCache()
        page(group, "/") { _, ctx in try await OverviewPage(service: service, ctx: ctx, timeline: timeline).render() }
        page(group, "runs") { request, ctx in try await RunsPage(service: service, ctx: ctx, request: request).render() }
        page(group, "runs/:id") { request, ctx in try await RunPage(service: service, ctx: ctx, id: try Self.id(request)).render() }
        page(group, "tasks") { request, ctx in try await TasksPage(service: service, ctx: ctx, request: request).render() }
        page(group, "tasks/new") { _, ctx in TaskFormPage(service: service, ctx: ctx).renderNew() }
        page(group, "tasks/:id") { request, ctx in try await TaskPage(service: service, ctx: ctx, id: try Self.id(request)).render() }
        page(group, "modules") { _, ctx in ModulesPage(service: service, ctx: ctx).render() }
        page(group, "admin") { _, ctx in try await AdminPage(service: service, ctx: ctx).render() }
    }

    /// The last path segment of `/runs/{id}` and `/tasks/{id}`.
    static func id(_ request: Request) throws -> String {
        guard let last = request.uri.path.split(separator: "/").last, !last.isEmpty else { throw HTTPError(.notFound) }
        return String(last)
    }

    /// A signed-in page: without a live session, the sign-in page (then back here); errors
    /// of the service (not found, forbidden, a bad filter) as a page, not as JSON.
    private func page(
        _ group: RouterGroup<OrreryRequestContext>, _ path: String,
        _ render: @escaping @Sendable (Request, PageContext) async throws -> String
    ) {
        let configuration = self.configuration
        let service = self.service
        group.get(RouterPath(path)) { request, _ in
            let now = service.clock.now()
            guard let session = try await configuration.sessionCaller(request, store: service.store, now: now) else {
                let next = request.uri.path + (request.uri.query.map { "?" + $0 } ?? "")
                return redirect(configuration.basePath + "/sign-in?next=" + urlEncode(next))
            }
            let ctx = PageContext(
                caller: session.caller, csrf: session.csrf, base: configuration.basePath, text: DashboardText.choose(request), now: now)
            do {
                return html(try await render(request, ctx))
            } catch let error as OrreryError {
                let problem = ProblemError(error)
                return Layout.errorPage(ctx, status: problem.status, message: problem.field.map { "\($0): \(problem.detail)" } ?? problem.detail)
            } catch let error as HTTPError {
                return Layout.errorPage(ctx, status: error.status, message: error.body ?? error.status.reasonPhrase)
            }
        }
    }
}

/// The headers every dashboard answer carries: a Content-Security-Policy that allows only
/// this origin's script and style files (no inline script, no inline style), no framing,
/// no content sniffing, no referrer leaving the site.
struct SecurityHeadersMiddleware: RouterMiddleware {
    typealias Context = OrreryRequestContext
    static let policy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        response.headers[HTTPField.Name("Content-Security-Policy")!] = Self.policy
        response.headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        response.headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        response.headers[HTTPField.Name("Referrer-Policy")!] = "same-origin"
        response.headers[HTTPField.Name("Cross-Origin-Opener-Policy")!] = "same-origin"
        return response
    }
}
