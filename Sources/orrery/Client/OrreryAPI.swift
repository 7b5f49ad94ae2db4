import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OrreryCore

/// The native API over HTTP, as the CLI calls it (AsyncHTTPClient). Error answers become
/// `ClientError`s carrying the problem's detail and field; a server that cannot be reached is
/// `.unreachable`, never a stack trace.
struct OrreryAPI: Sendable {
    let baseURL: String
    let token: String?

    /// One HTTP client for the command's life. A server that refuses the connection is
    /// reported at once (AsyncHTTPClient's default retries until the request's deadline).
    static let http: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.timeout.connect = .seconds(10)
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    /// An answer: its status, its body as sent (`-o json` prints it unchanged) and parsed.
    struct Reply {
        var status: Int
        var text: String
        var json: JSONValue
    }

    func get(_ path: String, query: [(String, String?)] = []) async throws -> Reply {
        try await send(.GET, path, query: query)
    }

    func post(_ path: String, body: JSONValue? = nil, headers: [(String, String)] = []) async throws -> Reply {
        try await send(.POST, path, body: body, headers: headers)
    }

    func send(
        _ method: HTTPMethod, _ path: String, query: [(String, String?)] = [], body: JSONValue? = nil,
        headers: [(String, String)] = [], timeout: TimeAmount = .seconds(60)
    ) async throws -> Reply {
        var request = try request(method, path, query: query, headers: headers)
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body.jsonText))
        }
        let response: HTTPClientResponse
        let bytes: ByteBuffer
        do {
            response = try await Self.http.execute(request, timeout: timeout)
            bytes = try await response.body.collect(upTo: 64 << 20)
        } catch {
            throw unreachable(error)
        }
        let text = String(buffer: bytes)
        let status = Int(response.status.code)
        guard status < 400 else { throw ClientError.problem(httpStatus: status, body: text) }
        let json = bytes.readableBytes == 0 ? JSONValue.null : (try? JSONValue.parse(bytes.readableBytesView)) ?? .null
        return Reply(status: status, text: text, json: json)
    }

    /// A request with the token and an encoded query.
    func request(_ method: HTTPMethod, _ path: String, query: [(String, String?)] = [], headers: [(String, String)] = []) throws -> HTTPClientRequest {
        var url = baseURL + path
        let pairs = query.compactMap { name, value in value.map { "\(name)=\(Self.encode($0))" } }
        if !pairs.isEmpty { url += "?" + pairs.joined(separator: "&") }
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "orrery-cli")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        return request
    }

    /// A path segment from user input (a task or run id), percent-encoded.
    static func segment(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? text
    }

    static func encode(_ value: String) -> String {
        value.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~,"))) ?? value
    }

    func unreachable(_ error: any Error) -> ClientError {
        if let error = error as? ClientError { return error }
        if error is CancellationError { return ClientError(.timeout, "canceled") }
        return ClientError(.unreachable, "cannot reach \(baseURL): \(Self.describe(error))")
    }

    /// A short reason for people (the errors' own descriptions are long and technical).
    static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError {
            switch error {
            case .connectTimeout: return "connection timed out"
            case .deadlineExceeded, .readTimeout: return "no answer in time"
            case .remoteConnectionClosed: return "the server closed the connection"
            default: return "\(error)"
            }
        }
        let text = "\(error)"
        if text.contains("Connection refused") || text.contains("connection refused") { return "connection refused" }
        return String(text.prefix(200))
    }
}
