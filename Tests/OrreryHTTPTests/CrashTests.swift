import Foundation
import OrreryCore
import OrreryTesting
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The `orrery` executable next to this test bundle, started as a user would start it.
struct ServerProcess {
    let process: ChildProcess
    let output: String
    let port: Int

    static var binary: String {
        if let path = ProcessInfo.processInfo.environment["ORRERY_BINARY"] { return path }
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return exe.deletingLastPathComponent().appendingPathComponent("orrery").path
    }

    /// `executable`, `directory` and `environment` (instead of this process's): the release
    /// binary started alone in an empty directory with a bare environment.
    static func start(
        dataDir: String, token: String, log: String, extraArguments: [String] = [], timeout: Duration = .seconds(10),
        executable: String = binary, directory: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment
    ) async throws -> ServerProcess {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: executable)
        process.currentDirectoryURL = directory.map { URL(fileURLWithPath: $0) }
        process.arguments = ["serve", "--port", "0", "--data-dir", dataDir, "--lease-sec", "2"] + extraArguments
        var env = environment
        env["ORRERY_ADMIN_TOKEN"] = token
        process.environment = env
        FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        var port = 0
        try await eventually(timeout: timeout, "server listening") {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Orrery listening on http://127.0.0.1:") }),
                  let p = Int(line.dropFirst("Orrery listening on http://127.0.0.1:".count).prefix { $0.isNumber })
            else { return false }
            port = p
            return true
        }
        return ServerProcess(process: process, output: log, port: port)
    }

    func api(_ token: String) -> APIClient { APIClient(baseURL: "http://127.0.0.1:\(port)", token: token) }
}

@Suite("Crash and restart of the real executable", .timeLimit(.minutes(5)))
struct CrashTests {
    @Test("a server killed with SIGKILL and started again keeps every task and run and goes on firing")
    func sigkill() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let token = "crash-test-token"
        let first = try await ServerProcess.start(dataDir: dir.file("data"), token: token, log: dir.file("first.log"))
        let api1 = first.api(token)
        let now = Timestamp(secondsSinceEpoch: Date().timeIntervalSince1970)
        let tick = try require(try await api1.post("/v1/tasks", """
            {"name":"tick","module":"noop","schedule":{"type":"interval","every_sec":1,"start_at":"\(now.rfc3339)"}}
            """)["id"]?.stringValue)
        let nap = try require(try await api1.post("/v1/tasks", #"{"name":"nap","module":"sleep","params":{"seconds":600},"schedule":{"type":"once"}}"#)["id"]?.stringValue)
        try await eventually("two ticks and an active nap") {
            let ticks = try await api1.get("/v1/runs?task_id=\(tick)&status=complete").items.count
            let naps = try await api1.get("/v1/runs?task_id=\(nap)&status=active").items.count
            return ticks >= 2 && naps == 1
        }
        let before = try await api1.get("/v1/runs?limit=1000").items
        let napRun = try require(try await api1.get("/v1/runs?task_id=\(nap)").items.first?["id"]?.stringValue)

        kill(first.process.processIdentifier, SIGKILL)
        first.process.waitUntilExit()
        #expect(first.process.terminationReason == .uncaughtSignal)

        let second = try await ServerProcess.start(dataDir: dir.file("data"), token: token, log: dir.file("second.log"))
        let api2 = second.api(token)
        let restartedAt = Timestamp(secondsSinceEpoch: Date().timeIntervalSince1970)
        #expect(try await api2.get("/v1/tasks?count=true")["total_count"] == .int(2))
        let finishedBefore = before.filter { ["complete", "failed"].contains($0["status"]?.stringValue ?? "") }
        for run in finishedBefore {
            let id = try require(run["id"]?.stringValue)
            let now = try await api2.get("/v1/runs/\(id)")
            #expect(now["status"] == run["status"] && now["finished_at"] == run["finished_at"], "run \(id) unchanged")
        }
        try await eventually("the orphaned nap run is rescued") {
            try await api2.get("/v1/runs/\(napRun)")["status"] == .string("failed")
        }
        #expect(try await api2.get("/v1/runs/\(napRun)")["error"]?["code"] == .string("lease_expired"))
        try await eventually("ticks after the restart") {
            try await api2.get("/v1/runs?task_id=\(tick)&status=complete").items.contains {
                ($0["started_at"]?.stringValue).flatMap(Timestamp.init(rfc3339:)).map { $0 >= restartedAt } ?? false
            }
        }
        // Each slot fired once: no two runs of the interval task share scheduled_at.
        let tickRuns = try await api2.get("/v1/runs?task_id=\(tick)&limit=1000").items.compactMap { $0["scheduled_at"]?.stringValue }
        #expect(Set(tickRuns).count == tickRuns.count)

        second.process.terminate()  // SIGTERM: graceful shutdown
        second.process.waitUntilExit()
        #expect(second.process.terminationStatus == 0)
    }
}
