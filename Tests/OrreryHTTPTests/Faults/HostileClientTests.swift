import Foundation
import OrreryCore
import OrreryTesting
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Slow and hostile clients against a real `orrery serve` on loopback: idle connections by
/// the thousand, slowloris headers, oversized bodies and deeply nested JSON. Memory stays
/// bounded and everyone else keeps being answered. `ORRERY_FAULT_IDLE_CONNECTIONS` raises
/// the number of idle connections (the fault script uses 10,000; CI 2,000).
@Suite("Fault: hostile clients", .timeLimit(.minutes(3)))
struct HostileClientTests {
    static func connect(port: Int) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port)).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let ok = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard ok == 0 else { close(fd); return nil }
        return fd
    }

    static func send(_ fd: Int32, _ text: String) { _ = text.withCString { Glibc.send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) } }

    /// Resident memory of a process in MB.
    static func residentMB(_ pid: Int32) -> Double {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Double(line.split(separator: " ").dropFirst().first ?? "0").map { $0 / 1024 } ?? 0
    }

    @Test("thousands of idle connections and slowloris headers: memory bounded, other clients answered; oversized and deep bodies are 4xx")
    func hostile() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let token = "hostile-token"
        let server = try await ServerProcess.start(dataDir: dir.file("data"), token: token, log: dir.file("server.log"))
        defer { if server.process.isRunning { kill(server.process.processIdentifier, SIGKILL) } }
        let api = server.api(token)
        let pid = server.process.processIdentifier
        #expect(try await api.post("/v1/tasks", #"{"name":"tick","module":"noop","schedule":{"type":"interval","every_sec":1}}"#).status == 201)
        let before = Self.residentMB(pid)

        let wanted = Int(ProcessInfo.processInfo.environment["ORRERY_FAULT_IDLE_CONNECTIONS"] ?? "") ?? 2_000
        var sockets: [Int32] = []
        defer { sockets.forEach { close($0) } }
        for _ in 0..<wanted {
            guard let fd = Self.connect(port: server.port) else { break }
            sockets.append(fd)
        }
        #expect(sockets.count == wanted, "opened \(sockets.count) of \(wanted) connections")
        // Slowloris: 100 requests whose headers never end, a byte at a time.
        let slow = sockets.prefix(100)
        for fd in slow { Self.send(fd, "GET /v1/tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ") }
        for round in 0..<5 {
            for fd in slow { Self.send(fd, "a") }
            let answer = try await api.get("/v1/tasks?limit=1")
            #expect(answer.status == 200, "round \(round): others are answered while \(sockets.count) connections hang")
        }
        let during = Self.residentMB(pid)
        // Hostile bodies: 20 MB, and 1 MB of nesting.
        let big = try await api.post("/v1/tasks", String(repeating: "x", count: 20 << 20))
        #expect(big.status == 413 && big["code"] == .string("body_too_large"))
        let deep = try await api.post("/v1/tasks", String(repeating: "[", count: 1 << 20))
        #expect(deep.status == 413 || deep.status == 400, "deep JSON: \(deep.status)")
        let nested = try await api.post("/v1/tasks", String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000))
        #expect(nested.status == 400 && nested["code"] == .string("invalid_json"))
        #expect(try await api.get("/healthz").status == 200)
        #expect(server.process.isRunning, "no crash")
        let perConnectionKB = (during - before) * 1024 / Double(max(sockets.count, 1))
        print("hostile clients: RSS \(Int(before)) MB before, \(Int(during)) MB with \(sockets.count) open connections (\(String(format: "%.1f", perConnectionKB)) KB each)")
        #expect(during - before < 256, "memory bounded: +\(Int(during - before)) MB for \(sockets.count) connections")
        sockets.forEach { close($0) }
        sockets = []
        server.process.terminate()
        server.process.waitUntilExit()
        #expect(server.process.terminationStatus == 0)
    }
}
