import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import OrreryCore
import OrreryEngine
import OrreryHTTP
import OrreryModules
import OrreryTesting
import ServiceLifecycle

/// A browser's view of the dashboard without a browser: raw requests with a cookie jar.
struct DashboardClient {
    /// A client that shows redirects instead of following them (a browser's 303 is checked).
    static let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
    let baseURL: String
    var cookies: [String: String] = [:]

    struct Answer {
        var status: Int
        var headers: HTTPHeaders
        var body: String
        func header(_ name: String) -> String? { headers.first(name: name) }
        var setCookies: [String] { headers[canonicalForm: "Set-Cookie"].map(String.init) }
    }

    mutating func call(_ method: HTTPMethod, _ path: String, body: String? = nil, contentType: String = "application/json", headers: [(String, String)] = []) async throws -> Answer {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        if !cookies.isEmpty { request.headers.add(name: "Cookie", value: cookies.map { "\($0.key)=\($0.value)" }.joined(separator: "; ")) }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.headers.add(name: "Content-Type", value: contentType)
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await Self.http.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 16 << 20)
        let answer = Answer(status: Int(response.status.code), headers: response.headers, body: String(buffer: bytes))
        for cookie in answer.setCookies {
            let pair = cookie.split(separator: ";")[0].split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let value = pair.count > 1 ? String(pair[1]) : ""
            cookies[String(pair[0])] = value.isEmpty ? nil : value
        }
        return answer
    }

    /// Signs in as a browser does: the form's nonce cookie and field, then the token.
    mutating func signIn(_ token: String, prefix: String = "") async throws -> Answer {
        let form = try await call(.GET, prefix + "/sign-in")
        let nonce = try Self.value(of: "nonce", in: form.body)
        return try await call(.POST, prefix + "/sign-in", body: "nonce=\(nonce)&next=%2F&token=\(token)", contentType: "application/x-www-form-urlencoded")
    }

    static func value(of name: String, in html: String) throws -> String {
        guard let range = html.range(of: "name=\"\(name)\" value=\"") else { throw TimedOut(what: "\(name) in the page") }
        return String(html[range.upperBound...].prefix { $0 != "\"" })
    }

    static func csrf(in html: String) throws -> String {
        guard let range = html.range(of: "<meta name=\"csrf-token\" content=\"") else { throw TimedOut(what: "csrf meta") }
        return String(html[range.upperBound...].prefix { $0 != "\"" })
    }
}

/// The real server with the dashboard, optionally under a base path, in this process.
enum DashboardServer {
    static let adminToken = "dashboard-admin-\(UUID().uuidString)"

    static func with(basePath: String = "", _ body: (String, TaskService) async throws -> Void) async throws {
        try await StoreKind.sqlite.withLocation { location in
            try await InProcessServer.serve(location: location, token: adminToken, basePath: basePath) { baseURL, service, _ in
                try await body(baseURL, service)
            }
        }
    }
}
