import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
public import OrreryCore
public import OrreryEngine
#if canImport(Glibc)
import Glibc
#endif

/// `http`: makes one HTTP request. A 2xx answer (or exactly `expected_status`) completes the
/// run with the status, headers and the first `maxBodyBytes` of the body as its result; any
/// other status fails it with code `http_status`.
///
/// By default it refuses to talk to loopback, link-local, private and unspecified addresses
/// (code `ssrf_refused`), so a task cannot be used to reach the service's own network;
/// `allowPrivateNetworks` lifts that. The address check resolves the host before the request;
/// a DNS answer that changes between the check and the connection (rebinding) is not caught.
public struct HTTPModule: TaskModule {
    public var allowPrivateNetworks: Bool
    public var maxBodyBytes: Int

    public init(allowPrivateNetworks: Bool = false, maxBodyBytes: Int = 64 * 1024) {
        self.allowPrivateNetworks = allowPrivateNetworks
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
        guard let url = URL(string: params.url), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme),
              let host = url.host, !host.isEmpty
        else { throw RunError(code: "invalid_params", message: "params.url must be an http:// or https:// URL") }
        if !allowPrivateNetworks, let address = try Self.forbiddenAddress(host: host, port: url.port ?? (scheme == "https" ? 443 : 80)) {
            throw RunError(code: "ssrf_refused", message: "refusing to connect to \(host) (\(address)): loopback, link-local and private addresses are not allowed")
        }
        var request = HTTPClientRequest(url: params.url)
        request.method = HTTPMethod(rawValue: (params.method ?? "GET").uppercased())
        for (name, value) in params.headers ?? [:] { request.headers.add(name: name, value: value) }
        if let body = params.body { request.body = .bytes(ByteBuffer(string: body)) }
        context.log(.info, "\(request.method.rawValue) \(params.url)")
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.shared.execute(request, timeout: .hours(24))
        } catch {
            if Task.isCancelled { throw CancellationError() }
            throw RunError(code: "http_error", message: "request to \(params.url) failed: \(error)")
        }
        var body = ByteBuffer()
        var truncated = false
        for try await chunk in response.body {
            let room = maxBodyBytes - body.readableBytes
            if chunk.readableBytes > room {
                var part = chunk
                if room > 0, let slice = part.readSlice(length: room) { body.writeImmutableBuffer(slice) }
                truncated = true
                break
            }
            body.writeImmutableBuffer(chunk)
        }
        var headers: [String: JSONValue] = [:]
        for header in response.headers { headers[header.name.lowercased()] = .string(header.value) }
        let status = Int(response.status.code)
        let result: JSONValue = .object([
            "status": .int(Int64(status)), "headers": .object(headers),
            "body": .string(String(decoding: body.readableBytesView, as: UTF8.self)), "truncated": .bool(truncated),
        ])
        let ok = params.expected_status.map { $0 == status } ?? (200..<300).contains(status)
        guard ok else {
            let expected = params.expected_status.map { "\($0)" } ?? "2xx"
            throw RunError(code: "http_status", message: "\(params.url) answered \(status), expected \(expected)")
        }
        context.log(.info, "answered \(status)")
        return result
    }

    /// The first resolved address of `host` that is loopback, link-local, private or
    /// unspecified, or nil when every address is public.
    static func forbiddenAddress(host: String, port: Int) throws -> String? {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let trimmed = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        guard getaddrinfo(trimmed, String(port), &hints, &list) == 0, let first = list else {
            throw RunError(code: "http_error", message: "cannot resolve host \(host)")
        }
        defer { freeaddrinfo(list) }
        var node: UnsafeMutablePointer<addrinfo>? = first
        while let info = node {
            if info.pointee.ai_family == AF_INET, let sa = info.pointee.ai_addr {
                let addr = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt32(bigEndian: $0.pointee.sin_addr.s_addr) }
                let a = addr >> 24, b = (addr >> 16) & 0xFF
                let forbidden = a == 127 || a == 10 || a == 0 || (a == 169 && b == 254) || (a == 172 && (16...31).contains(b))
                    || (a == 192 && b == 168) || (a == 100 && (64...127).contains(b))
                if forbidden { return "\(a).\(b).\((addr >> 8) & 0xFF).\(addr & 0xFF)" }
            } else if info.pointee.ai_family == AF_INET6, let sa = info.pointee.ai_addr {
                let bytes = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { p in
                    withUnsafeBytes(of: p.pointee.sin6_addr) { Array($0) }
                }
                let isLoopback = bytes[0..<15].allSatisfy { $0 == 0 } && bytes[15] == 1
                let isUnspecified = bytes.allSatisfy { $0 == 0 }
                let isLinkLocal = bytes[0] == 0xFE && (bytes[1] & 0xC0) == 0x80
                let isUniqueLocal = (bytes[0] & 0xFE) == 0xFC
                let isMappedV4 = bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xFF && bytes[11] == 0xFF
                if isLoopback || isUnspecified || isLinkLocal || isUniqueLocal || isMappedV4 { return trimmed }
            }
            node = info.pointee.ai_next
        }
        return nil
    }
}
