import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
public import OrreryCore
public import OrreryEngine

/// `http`: makes one HTTP request. A 2xx answer (or exactly `expected_status`) completes the
/// run with the status, headers and the first `maxBodyBytes` of the body as its result; any
/// other status fails it with code `http_status`.
///
/// By default it refuses to talk to loopback, link-local, private and unspecified addresses
/// (code `ssrf_refused`), so a task cannot be used to reach the service's own network;
/// `allowPrivateNetworks` lifts that. Every hop is checked: the host is resolved once, each
/// of its addresses checked, and the connection made to the checked address (no DNS
/// rebinding); redirects (at most `maxRedirects`) are followed here, each target checked the
/// same way, never by the HTTP client on its own.
public struct HTTPModule: TaskModule {
    public var addressGuard: AddressGuard
    public var maxBodyBytes: Int
    public static let maxRedirects = 10

    public var allowPrivateNetworks: Bool { addressGuard.allowPrivateNetworks }

    public init(allowPrivateNetworks: Bool = false, maxBodyBytes: Int = 64 * 1024) {
        self.init(addressGuard: AddressGuard(allowPrivateNetworks: allowPrivateNetworks), maxBodyBytes: maxBodyBytes)
    }

    public init(addressGuard: AddressGuard, maxBodyBytes: Int = 64 * 1024) {
        self.addressGuard = addressGuard
        self.maxBodyBytes = maxBodyBytes
    }

    public let descriptor = ModuleDescriptor(
        name: "http",
        description: [
            "en-US": "Makes an HTTP request; a 2xx (or the expected) status is success.",
            "de-DE": "Sendet eine HTTP-Anfrage; ein 2xx- (oder der erwartete) Status ist Erfolg.",
        ],
        params: [
            ParamSpec(name: "url", type: .string, required: true, description: ["en-US": "http:// or https:// URL."], position: 0),
            ParamSpec(name: "method", type: .string, defaultValue: .string("GET"), description: ["en-US": "HTTP method."], position: 1),
            ParamSpec(name: "headers", type: .object, description: ["en-US": "Request headers (strings)."], position: 2),
            ParamSpec(name: "body", type: .string, description: ["en-US": "Request body."], position: 3),
            ParamSpec(name: "expected_status", type: .integer, description: ["en-US": "The status that means success."], position: 4),
        ])

    struct Params: Decodable {
        var url: String
        var method: String?
        var headers: [String: String]?
        var body: String?
        var expected_status: Int?
    }

    public func run(_ context: RunContext) async throws -> JSONValue? {
        let params = try context.params(as: Params.self)
        var url = params.url
        var method = HTTPMethod(rawValue: (params.method ?? "GET").uppercased())
        var body = params.body
        var headers = params.headers ?? [:]
        var previousHost: String?
        for hop in 0...Self.maxRedirects {
            guard let target = URL(string: url), let scheme = target.scheme?.lowercased(), ["http", "https"].contains(scheme),
                  let host = target.host, !host.isEmpty
            else {
                throw hop == 0
                    ? RunError(code: "invalid_params", message: "params.url must be an http:// or https:// URL")
                    : RunError(code: "http_error", message: "redirected to \(url), which is not an http:// or https:// URL")
            }
            if let previousHost, previousHost != host {
                // Credentials meant for one host are not handed to another (as curl does).
                headers = headers.filter { !["authorization", "cookie", "proxy-authorization"].contains($0.key.lowercased()) }
            }
            previousHost = host
            let address = try pin(host: host, port: target.port ?? (scheme == "https" ? 443 : 80))
            context.log(.info, "\(method.rawValue) \(url)")
            let response = try await send(url: url, host: host, address: address, method: method, headers: headers, body: body)
            let status = Int(response.status.code)
            if [301, 302, 303, 307, 308].contains(status), let location = response.headers.first(name: "Location") {
                guard hop < Self.maxRedirects else {
                    throw RunError(code: "http_error", message: "more than \(Self.maxRedirects) redirects, the last to \(location)")
                }
                guard let next = URL(string: location, relativeTo: target)?.absoluteURL.absoluteString else {
                    throw RunError(code: "http_error", message: "\(url) redirected to an invalid location \"\(location)\"")
                }
                context.log(.info, "answered \(status), following to \(next)")
                if status == 303 || ((status == 301 || status == 302) && method == .POST) {
                    method = .GET
                    body = nil
                }
                url = next
                continue
            }
            return try finish(response, status: status, url: url, params: params, context: context)
        }
        throw RunError(code: "http_error", message: "more than \(Self.maxRedirects) redirects")
    }

    /// The checked address to connect to for `host`, or the run's error.
    private func pin(host: String, port: Int) throws -> String {
        do {
            return try addressGuard.pin(host: host, port: port)
        } catch AddressGuard.GuardError.forbidden(let host, let address) {
            throw RunError(code: "ssrf_refused", message: "refusing to connect to \(host) (\(address)): loopback, link-local and private addresses are not allowed")
        } catch {
            throw RunError(code: "http_error", message: "cannot resolve host \(host)")
        }
    }

    /// One request, connected to `address` (TLS still verifies `host`), redirects not followed.
    private func send(url: String, host: String, address: String, method: HTTPMethod, headers: [String: String], body: String?) async throws -> Response {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        if address != host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")) { configuration.dnsOverride = [host: address] }
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        do {
            let response = try await client.execute(request, timeout: .hours(24))
            var collected = ByteBuffer()
            var truncated = false
            for try await chunk in response.body {
                let room = maxBodyBytes - collected.readableBytes
                if chunk.readableBytes > room {
                    var part = chunk
                    if room > 0, let slice = part.readSlice(length: room) { collected.writeImmutableBuffer(slice) }
                    truncated = true
                    break
                }
                collected.writeImmutableBuffer(chunk)
            }
            try? await client.shutdown()
            return Response(status: response.status, headers: response.headers, body: collected, truncated: truncated)
        } catch {
            try? await client.shutdown()
            if Task.isCancelled { throw CancellationError() }
            throw RunError(code: "http_error", message: "request to \(url) failed: \(error)")
        }
    }

    private struct Response {
        var status: HTTPResponseStatus
        var headers: HTTPHeaders
        var body: ByteBuffer
        var truncated: Bool
    }

    private func finish(_ response: Response, status: Int, url: String, params: Params, context: RunContext) throws -> JSONValue {
        var headers: [String: JSONValue] = [:]
        for header in response.headers { headers[header.name.lowercased()] = .string(header.value) }
        let result: JSONValue = .object([
            "status": .int(Int64(status)), "headers": .object(headers),
            "body": .string(String(decoding: response.body.readableBytesView, as: UTF8.self)), "truncated": .bool(response.truncated),
        ])
        let ok = params.expected_status.map { $0 == status } ?? (200..<300).contains(status)
        guard ok else {
            let expected = params.expected_status.map { "\($0)" } ?? "2xx"
            throw RunError(code: "http_status", message: "\(url) answered \(status), expected \(expected)")
        }
        context.log(.info, "answered \(status)")
        return result
    }
}
