import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Decides which addresses the http module may connect to (its SSRF guard), and resolves a
/// host name once so that the request connects to exactly the address that was checked — a
/// DNS answer that changes between the check and the connection (rebinding) cannot slip in.
public struct AddressGuard: Sendable {
    /// Turns a host name into addresses (`getaddrinfo` unless a test injects another).
    public typealias Resolver = @Sendable (_ host: String, _ port: Int) throws -> [String]

    /// Allow loopback, link-local, private and unspecified addresses too.
    public var allowPrivateNetworks: Bool
    /// `address:port` pairs allowed although private (tests stand a "public" server on loopback).
    public var trusted: Set<String>
    public var resolve: Resolver

    public init(allowPrivateNetworks: Bool = false, trusted: Set<String> = [], resolve: @escaping Resolver = AddressGuard.systemResolve) {
        self.allowPrivateNetworks = allowPrivateNetworks
        self.trusted = trusted
        self.resolve = resolve
    }

    /// The address to connect to for `host`: the first one resolved, after every resolved
    /// address was checked (a name that also resolves to a private address is refused).
    public func pin(host: String, port: Int) throws -> String {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        let addresses = Self.isLiteral(bare) ? [bare] : try resolve(bare, port)
        guard let first = addresses.first else { throw GuardError.unresolvable(host) }
        if !allowPrivateNetworks {
            for address in addresses where Self.isForbidden(address) && !trusted.contains("\(address):\(port)") {
                throw GuardError.forbidden(host: host, address: address)
            }
        }
        return first
    }

    enum GuardError: Error {
        case unresolvable(String)
        case forbidden(host: String, address: String)
    }

    static func isLiteral(_ text: String) -> Bool { ipv4(text) != nil || ipv6(text) != nil }

    /// Loopback (127/8, ::1), private (10/8, 172.16/12, 192.168/16, fc00::/7), shared address
    /// space (100.64/10), link-local (169.254/16, fe80::/10), "this network" (0/8, ::) and
    /// IPv4-mapped IPv6 forms of any of these. An address that does not parse is forbidden.
    public static func isForbidden(_ address: String) -> Bool {
        if let v4 = ipv4(address) { return isForbidden(v4: v4) }
        guard let b = ipv6(address) else { return true }
        if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xFF && b[11] == 0xFF {  // ::ffff:a.b.c.d
            return isForbidden(v4: (UInt32(b[12]) << 24) | (UInt32(b[13]) << 16) | (UInt32(b[14]) << 8) | UInt32(b[15]))
        }
        let loopback = b[0..<15].allSatisfy { $0 == 0 } && b[15] == 1
        let unspecified = b.allSatisfy { $0 == 0 }
        let linkLocal = b[0] == 0xFE && (b[1] & 0xC0) == 0x80
        let uniqueLocal = (b[0] & 0xFE) == 0xFC
        let compatibleV4 = b[0..<12].allSatisfy { $0 == 0 }  // deprecated ::a.b.c.d
        return loopback || unspecified || linkLocal || uniqueLocal || compatibleV4
    }

    static func isForbidden(v4 addr: UInt32) -> Bool {
        let a = addr >> 24, b = (addr >> 16) & 0xFF
        return a == 127 || a == 10 || a == 0 || (a == 169 && b == 254) || (a == 172 && (16...31).contains(b))
            || (a == 192 && b == 168) || (a == 100 && (64...127).contains(b))
    }

    static func ipv4(_ text: String) -> UInt32? {
        var addr = in_addr()
        guard inet_pton(AF_INET, text, &addr) == 1 else { return nil }
        return UInt32(bigEndian: addr.s_addr)
    }

    static func ipv6(_ text: String) -> [UInt8]? {
        var addr = in6_addr()
        guard inet_pton(AF_INET6, text, &addr) == 1 else { return nil }
        return withUnsafeBytes(of: addr) { Array($0) }
    }

    /// Every address `getaddrinfo` gives for `host`, as text.
    public static let systemResolve: Resolver = { host, port in
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else { return [] }
        defer { freeaddrinfo(list) }
        var addresses: [String] = []
        var node: UnsafeMutablePointer<addrinfo>? = first
        while let info = node, let sa = info.pointee.ai_addr {
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            if info.pointee.ai_family == AF_INET {
                _ = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { p in
                    withUnsafePointer(to: p.pointee.sin_addr) { inet_ntop(AF_INET, $0, &text, socklen_t(text.count)) }
                }
            } else if info.pointee.ai_family == AF_INET6 {
                _ = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { p in
                    withUnsafePointer(to: p.pointee.sin6_addr) { inet_ntop(AF_INET6, $0, &text, socklen_t(text.count)) }
                }
            }
            let address = String(cString: text)
            if !address.isEmpty && !addresses.contains(address) { addresses.append(address) }
            node = info.pointee.ai_next
        }
        return addresses
    }
}
