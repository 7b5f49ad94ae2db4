import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import OrreryCore
import OrreryEngine

/// Escapes text for HTML element content and quoted attribute values.
func esc(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for c in text.unicodeScalars {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default: out.unicodeScalars.append(c)
        }
    }
    return out
}

/// Percent-encodes a query value or path segment.
func urlEncode(_ text: String) -> String {
    var allowed = CharacterSet.alphanumerics
    allowed.insert(charactersIn: "-_.~")
    return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
}

/// Everything a page needs to know about the request it answers.
struct PageContext: Sendable {
    var caller: TaskService.Caller
    var csrf: String
    var base: String
    var text: DashboardText
    var now: Timestamp

    var canOperate: Bool { caller.role >= .operator }
    var isAdmin: Bool { caller.role == .admin }

    func link(_ path: String) -> String { base + path }

    /// A link to `path` with query parameters (empty values are left out).
    func link(_ path: String, _ query: [(String, String)]) -> String {
        let pairs = query.filter { !$0.1.isEmpty }.map { "\(urlEncode($0.0))=\(urlEncode($0.1))" }
        return base + path + (pairs.isEmpty ? "" : "?" + pairs.joined(separator: "&"))
    }
}

/// The frame every signed-in page shares: head with assets, the navigation, the user.
enum Layout {
    static func page(_ ctx: PageContext, title: String, active: String, body: String) -> String {
        let t = ctx.text
        let nav: [(String, String, String)] = [
            ("overview", "/", t["Overview"]), ("tasks", "/tasks", t["Tasks"]), ("runs", "/runs", t["Runs"]),
            ("modules", "/modules", t["Modules"]),
        ] + (ctx.isAdmin ? [("admin", "/admin", t["Tokens & users"])] : [])
        let links = nav.map { key, path, label in
            "<a href=\"\(esc(ctx.link(path)))\"\(key == active ? " aria-current=\"page\"" : "")>\(esc(label))</a>"
        }.joined()
        return document(ctx.text, base: ctx.base, csrf: ctx.csrf, title: title, page: active, role: ctx.caller.role.rawValue, body: """
            <header class="top">
            <a class="brand" href="\(esc(ctx.link("/")))">Orrery</a>
            <nav aria-label="\(esc(t["Main"]))">\(links)</nav>
            <div class="tools">
            <button type="button" id="theme-toggle" class="icon" aria-label="\(esc(t["Toggle dark mode"]))" title="\(esc(t["Toggle dark mode"]))">◐</button>
            <button type="button" id="lang-toggle" class="icon" data-lang="\(t.language.other.rawValue)" aria-label="\(esc(t["Language"])): \(t.language.other.rawValue.uppercased())">\(t.language.other.rawValue.uppercased())</button>
            <span class="who" title="\(esc(ctx.caller.project))">\(esc(ctx.caller.name)) <span class="role">\(esc(ctx.caller.role.rawValue))</span></span>
            <form method="post" action="\(esc(ctx.link("/sign-out")))" class="inline"><input type="hidden" name="csrf" value="\(esc(ctx.csrf))"><button type="submit" id="sign-out">\(esc(t["Sign out"]))</button></form>
            </div>
            </header>
            <main id="main">
            \(body)
            </main>
            """)
    }

    /// The bare document: also used by the sign-in page, which has no session yet.
    static func document(_ t: DashboardText, base: String, csrf: String, title: String, page: String, role: String, body: String) -> String {
        """
        <!doctype html>
        <html lang="\(t.language.rawValue)">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="csrf-token" content="\(esc(csrf))">
        <meta name="base-path" content="\(esc(base))">
        <title>\(esc(title)) · Orrery</title>
        <link rel="stylesheet" href="\(esc(base))/assets/dashboard.css?v=\(DashboardAssets.css.version)">
        <script src="\(esc(base))/assets/dashboard.js?v=\(DashboardAssets.js.version)"></script>
        </head>
        <body data-page="\(esc(page))" data-role="\(esc(role))">
        <a class="skip" href="#main">\(esc(t["Skip to content"]))</a>
        \(body)
        </body>
        </html>
        """
    }

    /// A status as a coloured badge (its word is always there, colour is never the only sign).
    static func status(_ status: RunStatus?, _ t: DashboardText) -> String {
        guard let status else { return "<span class=\"badge none\">–</span>" }
        return "<span class=\"badge \(status.rawValue)\" data-status=\"\(status.rawValue)\">\(esc(t[status.rawValue]))</span>"
    }

    static func progress(_ run: TaskRun) -> String {
        let percent = run.progress?.percent ?? (run.status == .complete ? 100 : nil)
        let label = run.progress?.message.map { " " + esc($0) } ?? ""
        if let percent {
            return "<progress class=\"bar\" max=\"100\" value=\"\(Int(percent.rounded()))\" aria-label=\"progress\">\(Int(percent.rounded()))%</progress><span class=\"pct\">\(Int(percent.rounded()))%\(label)</span>"
        }
        return run.status == .active ? "<progress class=\"bar\" aria-label=\"progress\"></progress><span class=\"pct\">\(label)</span>" : ""
    }

    /// A time as a `<time>` element the script turns into the reader's local time and "in 3 min".
    static func time(_ t: Timestamp?, relative: Bool = false) -> String {
        guard let t else { return "–" }
        let iso = t.rfc3339
        return "<time datetime=\"\(iso)\"\(relative ? " data-relative" : "")>\(iso.replacingOccurrences(of: "T", with: " ").prefix(19)) UTC</time>"
    }

    static func errorPage(_ ctx: PageContext, status: HTTPResponse.Status, message: String) -> Response {
        html(page(ctx, title: "\(status.code)", active: "", body: "<h1>\(status.code) \(esc(status.reasonPhrase))</h1><p>\(esc(message))</p>"), status: status)
    }
}

/// An HTML response the browser must not keep (pages hold live data and the CSRF token).
func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
    Response(
        status: status, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
        body: .init(byteBuffer: ByteBuffer(string: text)))
}

/// A redirect after a form post or to the sign-in page.
func redirect(_ location: String, cookies: [String] = []) -> Response {
    var headers: HTTPFields = [.location: location, .cacheControl: "no-store"]
    for cookie in cookies { headers.append(HTTPField(name: .setCookie, value: cookie)) }
    return Response(status: .seeOther, headers: headers)
}

extension JSONValue {
    /// Indented JSON with sorted keys, for people editing it.
    var prettyJSON: String { pretty(indent: "") }

    private func pretty(indent: String) -> String {
        let inner = indent + "  "
        switch self {
        case .array(let items) where !items.isEmpty:
            return "[\n" + items.map { inner + $0.pretty(indent: inner) }.joined(separator: ",\n") + "\n" + indent + "]"
        case .object(let object) where !object.isEmpty:
            return "{\n" + object.keys.sorted().map { inner + JSONValue.string($0).jsonText + ": " + object[$0]!.pretty(indent: inner) }
                .joined(separator: ",\n") + "\n" + indent + "}"
        default:
            return jsonText
        }
    }
}
