import Foundation
import NIOHTTP1
import OrreryCore
import OrreryEngine
import OrreryTesting
@testable import OrreryHTTP
import Testing

/// The dashboard's server side: sessions, CSRF, roles, headers, assets and the base path.
/// The browser scenarios are in Tests/Browser/dashboard_test.py (run by scripts/test).
@Suite("Dashboard", .timeLimit(.minutes(5)))
struct DashboardTests {
    @Test("signing in with a token sets an HttpOnly, SameSite=Strict session cookie and lands on the page asked for")
    func signInSetsSessionCookie() async throws {
        try await DashboardServer.with { base, _ in
            var browser = DashboardClient(baseURL: base)
            let first = try await browser.call(.GET, "/runs?status=failed")
            #expect(first.status == 303)
            #expect(first.header("Location") == "/sign-in?next=%2Fruns%3Fstatus%3Dfailed")
            let signedIn = try await browser.signIn(DashboardServer.adminToken)
            #expect(signedIn.status == 303)
            let cookie = try #require(signedIn.setCookies.first { $0.hasPrefix("orrery_session=") })
            #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/"))
            let page = try await browser.call(.GET, "/")
            #expect(page.status == 200 && page.body.contains("<h1>Overview</h1>"))
        }
    }

    @Test("a wrong token, or a sign-in post without the form's nonce, is refused")
    func badSignInsAreRefused() async throws {
        try await DashboardServer.with { base, _ in
            var browser = DashboardClient(baseURL: base)
            let wrong = try await browser.signIn("orr_wrong")
            #expect(wrong.status == 401 && browser.cookies["orrery_session"] == nil)
            var forger = DashboardClient(baseURL: base)
            let forged = try await forger.call(.POST, "/sign-in", body: "nonce=x&token=\(DashboardServer.adminToken)", contentType: "application/x-www-form-urlencoded")
            #expect(forged.status == 403 && forger.cookies["orrery_session"] == nil)
        }
    }

    @Test("with the session cookie /v1 reads pass, a write without the CSRF token is 403 and with it succeeds; a bearer token needs none")
    func csrfGuardsSessionWrites() async throws {
        try await DashboardServer.with { base, _ in
            var api = DashboardClient(baseURL: base)
            let bearer = [("Authorization", "Bearer \(DashboardServer.adminToken)")]
            let created = try await api.call(.POST, "/v1/tasks", body: #"{"name":"t","module":"noop","schedule":{"type":"interval","every_sec":3600}}"#, headers: bearer)
            #expect(created.status == 201)
            let id = try #require(try JSONValue.parse(Array(created.body.utf8))["id"]?.stringValue)
            var browser = DashboardClient(baseURL: base)
            _ = try await browser.signIn(DashboardServer.adminToken)
            let page = try await browser.call(.GET, "/tasks")
            let csrf = try DashboardClient.csrf(in: page.body)
            #expect(try await browser.call(.GET, "/v1/tasks/\(id)").status == 200)
            let forged = try await browser.call(.POST, "/v1/tasks/\(id)/pause")
            #expect(forged.status == 403 && forged.body.contains("\"code\":\"csrf\""))
            let wrong = try await browser.call(.POST, "/v1/tasks/\(id)/pause", headers: [("X-CSRF-Token", "nope")])
            #expect(wrong.status == 403)
            let paused = try await browser.call(.POST, "/v1/tasks/\(id)/pause", headers: [("X-CSRF-Token", csrf)])
            #expect(paused.status == 200 && paused.body.contains("\"enabled\":false"))
            #expect(try await api.call(.POST, "/v1/tasks/\(id)/resume", headers: bearer).status == 200)
            // The stream accepts the session (EventSource cannot send headers).
            let runs = try await browser.call(.GET, "/runs")
            #expect(runs.body.contains("data-live-runs=\"/v1/stream?logs=false\""))
            #expect(try await browser.call(.GET, "/v1/stream?logs=false").status == 503)  // authenticated; no feed in this server
        }
    }

    @Test("signing out, or revoking the token, ends the session at once")
    func sessionsEnd() async throws {
        try await DashboardServer.with { base, service in
            var browser = DashboardClient(baseURL: base)
            _ = try await browser.signIn(DashboardServer.adminToken)
            let csrf = try DashboardClient.csrf(in: try await browser.call(.GET, "/").body)
            let session = try #require(browser.cookies["orrery_session"])
            let withoutToken = try await browser.call(.POST, "/sign-out", body: "csrf=wrong", contentType: "application/x-www-form-urlencoded")
            #expect(withoutToken.status == 403)
            let out = try await browser.call(.POST, "/sign-out", body: "csrf=\(csrf)", contentType: "application/x-www-form-urlencoded")
            #expect(out.status == 303 && browser.cookies["orrery_session"] == nil)
            browser.cookies["orrery_session"] = session  // a copied cookie does not come back to life
            #expect(try await browser.call(.GET, "/v1/tasks").status == 401)
            #expect(try await browser.call(.GET, "/").status == 303)

            let (viewerToken, stored) = try await TokenIssuer.issue(store: service.store, role: .viewer, project: "default", name: "v", expiresInSec: nil, now: service.clock.now())
            var viewer = DashboardClient(baseURL: base)
            _ = try await viewer.signIn(viewerToken)
            #expect(try await viewer.call(.GET, "/tasks").status == 200)
            try await service.store.revokeToken(id: stored.id, now: service.clock.now())
            #expect(try await viewer.call(.GET, "/tasks").status == 303)
        }
    }

    @Test("a viewer's pages offer no write action, the admin page is refused, and the server refuses a viewer's write")
    func viewerSeesNoWrites() async throws {
        try await DashboardServer.with { base, service in
            let admin = TaskService.Caller(name: "admin", project: "default")
            let task = try await service.createTask(TaskInput(name: "t", module: "noop", schedule: .every(seconds: 60)), by: admin)
            let (token, _) = try await TokenIssuer.issue(store: service.store, role: .viewer, project: "default", name: "v", expiresInSec: nil, now: service.clock.now())
            var viewer = DashboardClient(baseURL: base)
            _ = try await viewer.signIn(token)
            let tasks = try await viewer.call(.GET, "/tasks")
            for action in ["data-task-action", "data-bulk", "id=\"new-task\"", "Tokens &amp; users"] { #expect(!tasks.body.contains(action), "\(action)") }
            let page = try await viewer.call(.GET, "/tasks/\(task.id)")
            #expect(page.status == 200 && !page.body.contains("id=\"run-task\"") && !page.body.contains("id=\"task-edit\""))
            #expect(try await viewer.call(.GET, "/admin").status == 403)
            let csrf = try DashboardClient.csrf(in: page.body)
            let write = try await viewer.call(.POST, "/v1/tasks/\(task.id)/run", headers: [("X-CSRF-Token", csrf)])
            #expect(write.status == 403 && write.body.contains("\"code\":\"forbidden\""))
        }
    }

    @Test("every dashboard answer carries a CSP without inline script, frame-ancestors 'none' and nosniff")
    func securityHeaders() async throws {
        try await DashboardServer.with { base, _ in
            var browser = DashboardClient(baseURL: base)
            for path in ["/sign-in", "/assets/dashboard.js"] {
                let answer = try await browser.call(.GET, path)
                let csp = try #require(answer.header("Content-Security-Policy"))
                #expect(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline") && csp.contains("frame-ancestors 'none'"))
                #expect(answer.header("X-Content-Type-Options") == "nosniff")
            }
            _ = try await browser.signIn(DashboardServer.adminToken)
            let overview = try await browser.call(.GET, "/")
            #expect(!overview.body.contains("<script>") && !overview.body.contains(" style=\"") && !overview.body.contains(" onclick="))
            #expect(overview.header("Cache-Control") == "no-store")
        }
    }

    @Test("assets are served with an ETag (304 when unchanged) and cached for a year at their versioned URL")
    func assetsAreCacheable() async throws {
        try await DashboardServer.with { base, _ in
            var browser = DashboardClient(baseURL: base)
            let versioned = try await browser.call(.GET, "/assets/dashboard.css?v=\(DashboardAssets.css.version)")
            #expect(versioned.status == 200 && versioned.header("Content-Type") == "text/css; charset=utf-8")
            #expect(versioned.header("Cache-Control") == "public, max-age=31536000, immutable")
            let etag = try #require(versioned.header("ETag"))
            let again = try await browser.call(.GET, "/assets/dashboard.css", headers: [("If-None-Match", etag)])
            #expect(again.status == 304 && again.body.isEmpty)
            #expect(try await browser.call(.GET, "/assets/nothing.js").status == 404)
        }
    }

    @Test("under --base-path every link, asset, form and cookie carries the prefix, and the API answers there too")
    func basePath() async throws {
        try await DashboardServer.with(basePath: "/orrery/") { base, _ in
            var browser = DashboardClient(baseURL: base)
            let first = try await browser.call(.GET, "/orrery/tasks")
            #expect(first.status == 303 && first.header("Location")?.hasPrefix("/orrery/sign-in?next=") == true)
            let signedIn = try await browser.signIn(DashboardServer.adminToken, prefix: "/orrery")
            #expect(signedIn.header("Location") == "/orrery/")
            #expect(signedIn.setCookies.contains { $0.hasPrefix("orrery_session=") && $0.contains("Path=/orrery/") })
            let page = try await browser.call(.GET, "/orrery/tasks")
            #expect(page.status == 200)
            #expect(page.body.contains("href=\"/orrery/assets/dashboard.css?v=") && page.body.contains("action=\"/orrery/sign-out\""))
            #expect(page.body.contains("<meta name=\"base-path\" content=\"/orrery\">"))
            #expect(try await browser.call(.GET, "/orrery/v1/tasks").status == 200)
            #expect(try await browser.call(.GET, "/orrery/healthz").status == 200)
            #expect(try await browser.call(.GET, "/orreryx/tasks").status == 404)
        }
    }

    @Test("a session ends after its idle time and after its absolute lifetime")
    func sessionLifetimes() async {
        let sessions = DashboardSessions(lifetimes: .init(absoluteSec: 100, idleSec: 30))
        let start = Timestamp(seconds: 1_000)
        let (id, _) = await sessions.create(tokenHash: "h", now: start)
        #expect(await sessions.session(id: id, now: start.adding(seconds: 29)) != nil)
        #expect(await sessions.session(id: id, now: start.adding(seconds: 58)) != nil)  // idle renewed at 29
        #expect(await sessions.session(id: id, now: start.adding(seconds: 89)) == nil)  // 31 s idle
        let (other, _) = await sessions.create(tokenHash: "h", now: start)
        for second in stride(from: 20, through: 80, by: 20) { #expect(await sessions.session(id: other, now: start.adding(seconds: Int64(second))) != nil) }
        #expect(await sessions.session(id: other, now: start.adding(seconds: 100)) == nil)
        #expect(await sessions.session(id: "made-up", now: start) == nil)
    }

    @Test("the compiled assets are exactly Dashboard/Assets (else run scripts/embed-dashboard-assets)")
    func embeddedAssetsAreCurrent() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let folder = root.appendingPathComponent("Sources/OrreryHTTP/Dashboard/Assets")
        let css = try String(contentsOf: folder.appendingPathComponent("dashboard.css"), encoding: .utf8)
        let js = try String(contentsOf: folder.appendingPathComponent("dashboard.js"), encoding: .utf8)
        #expect(DashboardAssets.cssText == css, "DashboardAssets+Embedded.swift is stale: run scripts/embed-dashboard-assets")
        #expect(DashboardAssets.jsText == js, "DashboardAssets+Embedded.swift is stale: run scripts/embed-dashboard-assets")
    }

    @Test("the task page charts the durations of its finished runs, a bar each, failures marked")
    func durationChart() async throws {
        try await DashboardServer.with { base, service in
            let admin = TaskService.Caller(name: "admin", project: "default")
            let task = try await service.createTask(TaskInput(name: "c", module: "noop", schedule: .every(seconds: 3600)), by: admin)
            var browser = DashboardClient(baseURL: base)
            _ = try await browser.signIn(DashboardServer.adminToken)
            #expect(!(try await browser.call(.GET, "/tasks/\(task.id)").body.contains("id=\"duration-chart\"")), "no finished run, no chart")
            for _ in 0..<3 { _ = try await service.runNow(task.id, by: admin) }
            try await eventually("three runs finished") {
                var filter = RunFilter()
                filter.taskID = task.id
                filter.statuses = [.complete]
                return try await service.listRuns(filter, by: admin).items.count == 3
            }
            let page = try await browser.call(.GET, "/tasks/\(task.id)").body
            #expect(page.contains("id=\"duration-chart\"") && page.contains("3 runs, longest"))
            #expect(page.components(separatedBy: "<rect class=\"ok\"").count - 1 == 3, "a bar per finished run")
        }
    }
}
