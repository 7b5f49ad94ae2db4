import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import OrreryCore
import OrreryEngine

/// `GET/POST /sign-in` and `POST /sign-out`. The sign-in form is itself protected against
/// cross-site posting (a forged sign-in would put the victim in the attacker's account): the
/// page sets a random `orrery_signin` cookie (SameSite=Strict) and repeats it in the form,
/// and the post must carry both.
struct SignInRoutes {
    let service: TaskService
    let configuration: DashboardConfiguration

    func add(to group: RouterGroup<OrreryRequestContext>) {
        group.get("sign-in") { request, _ in
            signInPage(request, next: Query(request).string("next") ?? "/", error: nil)
        }
        group.post("sign-in") { request, context in
            let form = try await Self.form(request, context: context)
            let next = Self.safeNext(form["next"])
            guard let nonce = request.cookies[DashboardCookie.signIn]?.value, !nonce.isEmpty,
                  let presented = form["nonce"], DashboardSessions.constantTimeEqual(nonce, presented) else {
                return signInPage(request, next: next, error: "The sign-in form expired; please try again.", status: .forbidden)
            }
            let token = (form["token"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            let now = service.clock.now()
            let hash = TokenHash.of(token)
            guard !token.isEmpty, let grant = try await service.store.tokenRole(hash: hash, now: now), (Role(rawValue: grant.role) ?? .worker) != .worker else {
                return signInPage(request, next: next, error: "That token is not valid (unknown, revoked, expired, or a worker token).", status: .unauthorized)
            }
            let session = await configuration.sessions.create(tokenHash: hash, now: now)
            let secure = DashboardCookie.isSecure(request)
            return redirect(configuration.basePath + next, cookies: [
                DashboardCookie.set(DashboardCookie.session, session.id, basePath: configuration.basePath, maxAge: nil, secure: secure),
                DashboardCookie.set(DashboardCookie.signIn, "", basePath: configuration.basePath, maxAge: 0, secure: secure),
            ])
        }
        group.post("sign-out") { request, context in
            let form = try await Self.form(request, context: context)
            if let id = request.cookies[DashboardCookie.session]?.value,
               let session = try await configuration.sessionCaller(request, store: service.store, now: service.clock.now()) {
                // Signing out is a write too: a forged post cannot sign someone out.
                guard let presented = form["csrf"], DashboardSessions.constantTimeEqual(presented, session.csrf) else {
                    throw ProblemError(status: .forbidden, code: "csrf", title: "Forbidden", detail: "sign-out needs the page's CSRF token", field: "csrf")
                }
                await configuration.sessions.end(id: id)
            }
            return redirect(configuration.basePath + "/sign-in", cookies: [
                DashboardCookie.set(DashboardCookie.session, "", basePath: configuration.basePath, maxAge: 0, secure: DashboardCookie.isSecure(request)),
            ])
        }
    }

    private func signInPage(_ request: Request, next: String, error: String?, status: HTTPResponse.Status = .ok) -> Response {
        let t = DashboardText.choose(request)
        let nonce = DashboardSessions.randomToken()
        let base = configuration.basePath
        let body = """
            <main id="main" class="sign-in">
            <h1>Orrery</h1>
            <form method="post" action="\(esc(base))/sign-in" class="card">
            <input type="hidden" name="nonce" value="\(nonce)">
            <input type="hidden" name="next" value="\(esc(Self.safeNext(next)))">
            <label for="token">\(esc(t["API token"]))</label>
            <input id="token" name="token" type="password" autocomplete="current-password" required autofocus aria-describedby="sign-in-help\(error == nil ? "" : " sign-in-error")">
            <p id="sign-in-help" class="help">orrery token create --role viewer|operator|admin</p>
            \(error.map { "<p id=\"sign-in-error\" class=\"field-error\" role=\"alert\">\(esc($0))</p>" } ?? "")
            <button type="submit" id="sign-in">\(esc(t["Sign in"]))</button>
            </form>
            </main>
            """
        var response = html(Layout.document(t, base: base, csrf: "", title: t["Sign in"], page: "sign-in", role: "", body: body), status: status)
        response.headers.append(HTTPField(name: .setCookie, value: DashboardCookie.set(
            DashboardCookie.signIn, nonce, basePath: base, maxAge: 1800, secure: DashboardCookie.isSecure(request))))
        return response
    }

    /// Where to go after signing in: a path on this site only (never `//host` or a URL).
    static func safeNext(_ next: String?) -> String {
        guard let next, next.hasPrefix("/"), !next.hasPrefix("//"), !next.contains("\\"), !next.contains("://") else { return "/" }
        return next
    }

    /// An `application/x-www-form-urlencoded` body (at most 16 KiB).
    static func form(_ request: Request, context: OrreryRequestContext) async throws -> [String: String] {
        let buffer = try await request.body.collect(upTo: 16 * 1024)
        let text = String(buffer: buffer)
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String { String(s).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" }
            fields[decode(parts[0])] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return fields
    }
}
