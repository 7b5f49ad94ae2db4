import Foundation
import OrreryCore
import OrreryPostgres
import OrreryTesting
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A PostgreSQL node frozen (SIGSTOP) past its lease while it runs work, then resumed: the
/// other node rescues and retries the run, and the frozen node's late end is refused — the
/// run is never completed twice. Runs with the multi-node tests (scripts/test's second pass).
@Suite("Fault: a frozen PostgreSQL node", .serialized, .timeLimit(.minutes(3)))
struct FrozenNodeTests {
    @Test("SIGSTOP past the lease, then SIGCONT: late writes refused, the run ends once, its retry completes elsewhere")
    func frozen() async throws {
        guard StoreKind.postgresURL != nil else {
            if ProcessInfo.processInfo.environment["CI"] == "true" { Issue.record("needs ORRERY_TEST_POSTGRES_URL (scripts/test starts a server)") }
            return
        }
        try await StoreKind.withFreshDatabase { url in
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let token = "frozen-node-token"
            // The worker runs the task; the other node only serves the API and leads (rescue).
            let worker = try await ServerProcess.start(
                dataDir: dir.file("worker"), token: token, log: dir.file("worker.log"),
                extraArguments: ["--database", url, "--lease-sec", "2"], timeout: .seconds(30))
            defer { if worker.process.isRunning { kill(worker.process.processIdentifier, SIGCONT); kill(worker.process.processIdentifier, SIGKILL) } }
            let api = worker.api(token)
            let body = #"{"name":"frozen","module":"sleep","params":{"seconds":3},"schedule":{"type":"once"},"retry":{"max_attempts":2,"backoff_base_sec":0}}"#
            let task = try require(try await api.post("/v1/tasks", body)["id"]?.stringValue)
            var first = ""
            try await eventually(timeout: .seconds(30), "the worker runs it") {
                guard let run = try await api.get("/v1/runs?task_id=\(task)&status=active").items.first else { return false }
                first = run["id"]?.stringValue ?? ""
                return true
            }
            kill(worker.process.processIdentifier, SIGSTOP)
            let other = try await ServerProcess.start(
                dataDir: dir.file("other"), token: token, log: dir.file("other.log"),
                extraArguments: ["--database", url, "--lease-sec", "2"], timeout: .seconds(30))
            defer { if other.process.isRunning { kill(other.process.processIdentifier, SIGKILL) } }
            let api2 = other.api(token)
            try await eventually(timeout: .seconds(60), "rescued: lease_expired, and the retry completed on the other node") {
                let runs = try await api2.get("/v1/runs?task_id=\(task)").items
                return runs.contains { $0["id"]?.stringValue == first && $0["error"]?["code"] == .string("lease_expired") }
                    && runs.contains { $0["attempt"] == .int(2) && $0["status"] == .string("complete") }
            }
            kill(worker.process.processIdentifier, SIGCONT)  // its sleep ends; it tries to complete the rescued run
            try await Task.sleep(for: .seconds(5))  // real time for the thawed node to finish and try its late write
            let runs = try await api2.get("/v1/runs?task_id=\(task)").items
            let original = try require(runs.first { $0["id"]?.stringValue == first })
            #expect(original["status"] == .string("failed") && original["error"]?["code"] == .string("lease_expired"), "the late end was refused")
            #expect(runs.filter { $0["status"] == .string("complete") }.count == 1, "completed exactly once")
            #expect(worker.process.isRunning, "the thawed node carries on")
            for node in [worker, other] {
                node.process.terminate()
                node.process.waitUntilExit()
            }
        }
    }
}
