import Foundation
import OrreryCore
import OrreryTesting
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The Python example worker (`Examples/python-worker/worker.py`, standard library only)
/// against the real `orrery serve` on loopback, both as separate processes (issue 13): it
/// completes runs, hears cancels and timeouts through its heartbeat, and when it is killed
/// or stopped past its lease the run is rescued, retried per policy, and ends exactly once.
@Suite("External workers: the Python example against the real server", .timeLimit(.minutes(5)))
struct WorkerProcessTests {
    static let script = Prerequisites.repositoryRoot.appendingPathComponent("Examples/python-worker/worker.py").path
    static let module = #"""
        {"name":"echo","description":{"en-US":"Waits, then returns its params."},"params":[
         {"name":"seconds","type":"number"},{"name":"fail","type":"boolean"},{"name":"message","type":"string"}]}
        """#

    /// One worker process; its output (one line per thing it did) in a file.
    struct Worker {
        let process: ChildProcess
        let log: String
        var output: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        func kill(_ signal: Int32) { _ = Glibc.kill(process.processIdentifier, signal) }
    }

    static func startWorker(name: String, url: String, token: String, dir: TemporaryDirectory) throws -> Worker {
        let log = dir.file("\(name).log")
        FileManager.default.createFile(atPath: log, contents: nil)
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-u", script, "--name", name, "--module", "echo", "--wait", "5"]
        var env = ProcessInfo.processInfo.environment
        env["ORRERY_URL"] = url
        env["ORRERY_TOKEN"] = token
        process.environment = env
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        return Worker(process: process, log: log)
    }

    @Test("the Python worker completes, is canceled and timed out through its heartbeat, and a killed or stopped worker's run is rescued and ends once", arguments: StoreKind.enabled)
    func pythonWorker(kind: StoreKind) async throws {
        try await kind.withLocation { location in
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let token = "worker-process-admin-token"
            var storeArguments = ["--data-dir", dir.file("data")]
            if case .postgres(let url) = location { storeArguments += ["--database", url] }
            let server = try await ServerProcess.start(dataDir: dir.file("data"), token: token, log: dir.file("serve.log"), extraArguments: Array(storeArguments.dropFirst(2)))
            var workers: [Worker] = []
            defer {
                for worker in workers where worker.process.isRunning { worker.kill(SIGKILL) }
                if server.process.isRunning { Glibc.kill(server.process.processIdentifier, SIGKILL) }
            }
            let api = server.api(token)
            let url = "http://127.0.0.1:\(server.port)"
            #expect(try await api.post("/v1/modules", Self.module).status == 201)
            // The worker token from the CLI, beside the running server.
            let workerToken = try await Prerequisites.run(
                ServerProcess.binary, ["token", "create", "--role", "worker", "--module", "echo", "--name", "py"] + storeArguments)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(workerToken.hasPrefix("orr_"), "\(workerToken)")

            func create(_ body: String) async throws -> String {
                let made = try await api.post("/v1/tasks", body)
                #expect(made.status == 201, "\(made.json.jsonText)")
                return try require(made["id"]?.stringValue)
            }
            func runs(_ task: String) async throws -> [JSONValue] {
                try await api.get("/v1/runs?task_id=\(task)").items.sorted { ($0["attempt"]?.intValue ?? 0) < ($1["attempt"]?.intValue ?? 0) }
            }
            func activeRun(_ task: String, on worker: String) async throws -> String {
                var id = ""
                try await eventually(timeout: .seconds(30), "a run of \(task) active on \(worker)") {
                    guard let run = try await runs(task).last, run["status"] == .string("active"),
                          run["node"]?.stringValue?.hasPrefix("worker:\(worker)/") == true else { return false }
                    id = try require(run["id"]?.stringValue)
                    return true
                }
                return id
            }

            let w1 = try Self.startWorker(name: "w1", url: url, token: workerToken, dir: dir)
            workers.append(w1)

            // Completes, with its result and logs.
            let quick = try await create(#"{"name":"quick","module":"echo","params":{"seconds":0},"schedule":{"type":"once"}}"#)
            try await eventually(timeout: .seconds(30), "quick complete") { try await runs(quick).first?["status"] == .string("complete") }
            let done = try require(try await runs(quick).first)
            #expect(done["result"] == .object(["echo": .object(["seconds": .int(0)])]), "\(done.jsonText)")
            let logs = try await api.get("/v1/runs/\(try require(done["id"]?.stringValue))/logs").items.compactMap { $0["msg"]?.stringValue }
            #expect(logs.count == 2 && logs.first?.hasPrefix("started on") == true && logs.last == "done", "\(logs)")

            // A failure is retried per policy (attempt 2 fails too and ends the task's tries).
            let failing = try await create(#"{"name":"failing","module":"echo","params":{"fail":true,"message":"no"},"schedule":{"type":"once"},"retry":{"max_attempts":2,"backoff_base_sec":0}}"#)
            try await eventually(timeout: .seconds(30), "two failed attempts") {
                try await runs(failing).map { $0["status"]?.stringValue ?? "" } == ["failed", "failed"]
            }
            #expect(try await runs(failing).first?["error"]?["code"] == .string("worker_error"))

            // A cancel through the API reaches the worker through its heartbeat.
            let long = try await create(#"{"name":"long","module":"echo","params":{"seconds":60},"schedule":{"type":"once"}}"#)
            let longRun = try await activeRun(long, on: "w1")
            _ = try await api.post("/v1/runs/\(longRun)/cancel")
            try await eventually(timeout: .seconds(30), "the long run canceled") { try await runs(long).first?["status"] == .string("canceled") }
            #expect(w1.output.contains("cancel requested \(longRun)"), "\(w1.output)")

            // A timeout fails the run `timeout` and stops the work.
            let slow = try await create(#"{"name":"slow","module":"echo","params":{"seconds":60},"schedule":{"type":"once"},"timeout_sec":1}"#)
            try await eventually(timeout: .seconds(30), "the slow run timed out") { try await runs(slow).first?["error"]?["code"] == .string("timeout") }
            try await eventually(timeout: .seconds(30), "the worker free again") { w1.output.contains("lease lost") || w1.output.contains("cancel requested") }

            // kill -9 mid-run: the lease lapses, the run is rescued (lease_expired) and retried;
            // another worker takes the retry.
            let crash = try await create(#"{"name":"crash","module":"echo","params":{"seconds":60},"schedule":{"type":"once"},"retry":{"max_attempts":2,"backoff_base_sec":0}}"#)
            _ = try await activeRun(crash, on: "w1")
            w1.kill(SIGKILL)
            try await eventually(timeout: .seconds(30), "the killed worker's run rescued") {
                try await runs(crash).first?["error"]?["code"] == .string("lease_expired")
            }
            let w2 = try Self.startWorker(name: "w2", url: url, token: workerToken, dir: dir)
            workers.append(w2)
            let retried = try await activeRun(crash, on: "w2")
            #expect(try await runs(crash).last?["attempt"] == .int(2))
            _ = try await api.post("/v1/runs/\(retried)/cancel")
            try await eventually(timeout: .seconds(30), "the retry canceled") { try await runs(crash).last?["status"] == .string("canceled") }

            // SIGSTOP past the lease, then SIGCONT: the run was rescued meanwhile; the worker's
            // late heartbeat and end get 409 and change nothing; the run ended exactly once.
            let frozen = try await create(#"{"name":"frozen","module":"echo","params":{"seconds":3},"schedule":{"type":"once"}}"#)
            let frozenRun = try await activeRun(frozen, on: "w2")
            w2.kill(SIGSTOP)
            try await eventually(timeout: .seconds(30), "the stopped worker's run rescued") {
                try await runs(frozen).first?["error"]?["code"] == .string("lease_expired")
            }
            let rescued = try await api.get("/v1/runs/\(frozenRun)").json
            w2.kill(SIGCONT)
            try await eventually(timeout: .seconds(30), "the resumed worker told its lease is lost") { w2.output.contains("lease lost") }
            try await eventually(timeout: .seconds(30), "the resumed worker done with the run") {
                w2.output.contains("lease lost \(frozenRun)") || w2.output.contains("ended \(frozenRun)")
            }
            #expect(!w2.output.contains("ended \(frozenRun)"), "\(w2.output)")
            #expect(try await runs(frozen).count == 1)
            #expect(try await api.get("/v1/runs/\(frozenRun)").json == rescued, "the late worker changed nothing")
            _ = await server.stop()
        }
    }
}
