import Foundation
import OrreryCore
import OrreryTesting
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// What the README promises about a first start, with the real executable: the admin token
/// printed once and written with mode 0600, kept on the next start; and the defaults
/// (127.0.0.1, port 8080, `./orrery-data`).
@Suite("First start of the real executable", .serialized, .timeLimit(.minutes(5)))
struct FirstStartTests {
    /// This process's environment without any `ORRERY_…` setting (as a new user's shell).
    static var bareEnvironment: [String: String] { ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("ORRERY_") } }

    @Test("an empty store prints an admin token once, writes it to admin.token with mode 0600, and the next start keeps it",
          .timeLimit(.minutes(2)))
    func adminTokenOnFirstStart() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let data = dir.file("data")
        // An empty ORRERY_ADMIN_TOKEN is no token: the first start makes one.
        let first = try await ServerProcess.start(dataDir: data, token: "", log: dir.file("first.log"),
                                                  timeout: .seconds(30), environment: Self.bareEnvironment)
        defer { if first.process.isRunning { kill(first.process.processIdentifier, SIGKILL) } }
        let file = (data as NSString).appendingPathComponent("admin.token")
        let written = try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(written.hasPrefix("orr_") && written.count > 20, "admin.token holds a token: \(written)")
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? NSNumber)
        #expect(mode.intValue & 0o777 == 0o600, "admin.token mode \(String(mode.intValue & 0o777, radix: 8))")
        let output = try String(contentsOfFile: dir.file("first.log"), encoding: .utf8)
        #expect(output.components(separatedBy: written).count - 1 == 1, "printed exactly once:\n\(output)")
        #expect(output.contains("Admin token (shown once, also written to \(file))"))
        #expect(try await first.api(written).get("/v1/tokens").status == 200, "the printed token is an admin token")
        #expect(await first.stop(), "stopped by SIGTERM within 15 s with status 0; \(Self.exit(first.process)); its log:\n\(Self.log(dir.file("first.log")))")

        let second = try await ServerProcess.start(dataDir: data, token: "", log: dir.file("second.log"),
                                                   timeout: .seconds(30), environment: Self.bareEnvironment)
        defer { if second.process.isRunning { kill(second.process.processIdentifier, SIGKILL) } }
        let again = try String(contentsOfFile: dir.file("second.log"), encoding: .utf8)
        #expect(!again.contains("Admin token") && !again.contains(written), "not printed again:\n\(again)")
        #expect(try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) == written, "not regenerated")
        #expect(try await second.api(written).get("/v1/tokens").items.filter { $0["role"] == .string("admin") }.count == 1)
        #expect(try await second.api(written).get("/v1/tasks").status == 200, "the first token still works")
        #expect(await second.stop(), "stopped by SIGTERM within 15 s with status 0; \(Self.exit(second.process)); its log:\n\(Self.log(dir.file("second.log")))")
    }

    /// A server's log as the test reads it after the fact (when a stop failed: why).
    static func log(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "(unreadable)" }

    /// How a server process ended (a stop that gave up kills it with SIGKILL).
    static func exit(_ process: ChildProcess) -> String {
        process.isRunning ? "still running" : "ended by \(process.terminationReason == .uncaughtSignal ? "signal" : "exit status") \(process.terminationStatus)"
    }

    /// Whether something already listens on 127.0.0.1:`port` (then `serve` cannot).
    static func listening(onLoopbackPort port: UInt16) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    /// The listening TCP sockets of the kernel's table, as "address:port" in hex (/proc/net/tcp).
    static func listeningSockets() -> [String] {
        // Read to the end: /proc files report size 0, and a one-shot read returned only the
        // first page when a busy test run had many sockets open (8080 was past it).
        let data = FileHandle(forReadingAtPath: "/proc/net/tcp")?.readDataToEndOfFile() ?? Data()
        let table = String(decoding: data, as: UTF8.self)
        return table.split(separator: "\n").dropFirst().compactMap { line in
            let fields = line.split(separator: " ")
            return fields.count > 3 && fields[3] == "0A" ? String(fields[1]) : nil
        }
    }

    @Test("with no settings, serve listens on 127.0.0.1:8080 and keeps its data in ./orrery-data (or names port 8080 when it is taken)",
          .timeLimit(.minutes(2)))
    func defaults() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var environment = Self.bareEnvironment
        environment["ORRERY_ADMIN_TOKEN"] = "defaults-token"
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: ServerProcess.binary)
        process.currentDirectoryURL = URL(fileURLWithPath: dir.path)
        process.arguments = ["serve"]
        process.environment = environment
        let log = dir.file("serve.log")
        FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = handle
        process.standardError = handle
        let taken = Self.listening(onLoopbackPort: 8080)
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        func output() -> String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

        if taken {
            // Someone else has the port on this machine: the failure must say which port.
            try await eventually(timeout: .seconds(30), "serve exits") { !process.isRunning }
            #expect(process.terminationStatus != 0)
            #expect(output().contains("127.0.0.1:8080"), "the failure names the default address:\n\(output())")
            return
        }
        try await eventually(timeout: .seconds(30), "serve listening on the default address") { output().contains("Orrery listening on") }
        #expect(output().contains("Orrery listening on http://127.0.0.1:8080 "), "\(output())")
        #expect(output().contains("tasks woken on NIO's event loops stay there"), "\(output())")
        // Bound to loopback only: 127.0.0.1:8080 is 0100007F:1F90 in the kernel's table, and
        // no socket listens on port 8080 at any other address.
        let sockets = Self.listeningSockets().filter { $0.hasSuffix(":1F90") }
        #expect(sockets == ["0100007F:1F90"], "listening sockets on 8080: \(sockets)")
        #expect(FileManager.default.fileExists(atPath: dir.file("orrery-data/orrery.sqlite")), "the store is in ./orrery-data")
        let api = APIClient(baseURL: "http://127.0.0.1:8080", token: "defaults-token")
        #expect(try await api.get("/v1/tasks").status == 200)

        // A second serve in the same place cannot have the port: it says which one.
        let other = try TemporaryDirectory()
        defer { other.remove() }
        let second = try Self.run(["serve", "--data-dir", other.file("data")], environment: environment)
        #expect(second.status != 0 && second.output.contains("cannot listen on 127.0.0.1:8080"), "a taken port is named:\n\(second.output)")

        process.terminate()
        try await eventually(timeout: .seconds(20), "serve stops on SIGTERM") { !process.isRunning }
        #expect(process.terminationStatus == 0)
    }

    static func run(_ arguments: [String], environment: [String: String]) throws -> (status: Int32, output: String) {
        try ServeOptionsTests.orrery(arguments, environment: environment.filter { $0.key.hasPrefix("ORRERY_") })
    }
}
