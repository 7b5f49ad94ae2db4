import Foundation
import OrreryCore
import OrreryTesting
#if canImport(Glibc)
import Glibc
#endif

/// What one run of the `orrery` client printed and how it exited.
struct CLIResult: CustomStringConvertible {
    var status: Int32
    var stdout: String
    var stderr: String

    var json: JSONValue? { try? JSONValue.parse(Array(stdout.utf8)) }
    var lines: [String] { stdout.split(separator: "\n").map(String.init) }
    var description: String { "exit \(status)\nstdout: \(stdout.prefix(2000))\nstderr: \(stderr.prefix(2000))" }
}

/// The real `orrery` binary used as a client of a server on loopback, as a user runs it: in
/// its own working directory, with a HOME and client configuration of its own (none of the
/// machine's `ORRERY_…` settings leak in). Every run is bounded in time.
struct CLI {
    let url: String
    var token: String?
    let dir: TemporaryDirectory

    init(url: String, token: String?, dir: TemporaryDirectory) {
        self.url = url
        self.token = token
        self.dir = dir
    }

    init(server: ServerProcess, token: String?, dir: TemporaryDirectory) {
        self.init(url: "http://127.0.0.1:\(server.port)", token: token, dir: dir)
    }

    var environment: [String: String] {
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("ORRERY_") && $0.key != "NO_COLOR" }
        env["HOME"] = dir.path
        env["XDG_CONFIG_HOME"] = dir.file("config")
        env["ORRERY_URL"] = url
        if let token { env["ORRERY_TOKEN"] = token }
        return env
    }

    /// Runs `orrery ARGS…` (optionally through `script`, which gives it a terminal) and waits
    /// for it to exit, at most `timeout` (then it is killed and this throws).
    func run(_ arguments: [String], env extra: [String: String] = [:], removing: [String] = [], stdin: String? = nil,
             terminal: Bool = false, timeout: Duration = .seconds(30), stdoutFile: String? = nil) async throws -> CLIResult {
        let out = stdoutFile ?? dir.file("out-\(UUID().uuidString)"), err = dir.file("err-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: out, contents: nil)
        FileManager.default.createFile(atPath: err, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: out); try? FileManager.default.removeItem(atPath: err) }
        let process = ChildProcess()
        if terminal {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/script")
            let line = ([ServerProcess.binary] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
            process.arguments = ["-qec", line, "/dev/null"]
        } else {
            process.executableURL = URL(fileURLWithPath: ServerProcess.binary)
            process.arguments = arguments
        }
        var env = environment.merging(extra) { $1 }
        for name in removing { env[name] = nil }
        process.environment = env
        process.currentDirectoryURL = URL(fileURLWithPath: dir.path)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
        if let stdin {
            let input = dir.file("in-\(UUID().uuidString)")
            FileManager.default.createFile(atPath: input, contents: Data(stdin.utf8))
            process.standardInput = try FileHandle(forReadingFrom: URL(fileURLWithPath: input))
        } else {
            process.standardInput = FileHandle.nullDevice
        }
        let exited = AsyncStream.makeStream(of: Int32.self)
        process.terminationHandler = { exited.continuation.yield($0.terminationStatus) }
        try process.run()
        let status = try await withThrowingTaskGroup(of: Int32?.self) { group in
            group.addTask { await exited.stream.first { _ in true } }
            group.addTask {
                try await Task.sleep(for: timeout)  // a bound on the wait, not a pause
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let status = first else {
                kill(process.processIdentifier, SIGKILL)
                throw TimedOut(what: "orrery \(arguments.joined(separator: " ")) to exit")
            }
            return status
        }
        return CLIResult(
            status: status, stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
    }
}

/// A real server process for a test's length, and a client of it.
enum CLIServer {
    static let token = "cli-test-admin-token"

    static func with(_ body: (ServerProcess, CLI) async throws -> Void) async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let server = try await ServerProcess.start(dataDir: dir.file("data"), token: token, log: dir.file("serve.log"))
        defer { if server.process.isRunning { kill(server.process.processIdentifier, SIGKILL) } }
        try await body(server, CLI(server: server, token: token, dir: dir))
        _ = await server.stop()
    }
}
