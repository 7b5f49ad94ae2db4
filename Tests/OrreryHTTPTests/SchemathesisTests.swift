import Foundation
import OrreryCore
import OrreryTesting
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Schemathesis (installed by `scripts/test` into a throwaway virtual environment, path in
/// `ORRERY_SCHEMATHESIS`) fuzzes the real server on loopback from the OpenAPI document it
/// serves, bounded in examples and time: no 5xx, and every response conforms to the document.
@Suite("Schemathesis against the served OpenAPI document")
struct SchemathesisTests {
    /// Schemathesis, or an error saying how to get it (CI=true runs the tests and fails without it).
    static func binary() throws -> String { try Prerequisite.require("ORRERY_SCHEMATHESIS", "schemathesis") }

    @Test("no server error and no response outside the document",
          .enabled(if: Prerequisite.runs("ORRERY_SCHEMATHESIS"), "ORRERY_SCHEMATHESIS is not set (scripts/test installs schemathesis; CI=true fails without it)"),
          .timeLimit(.minutes(4)))
    func fuzz() async throws {
        _ = try Self.binary()
        try await InProcessServer.with { api, _ in try await Self.fuzz(api, seconds: 90) }
    }

    @Test("the same against a node on PostgreSQL",
          .enabled(if: Prerequisite.runs("ORRERY_SCHEMATHESIS") && Prerequisite.postgresRuns,
                   "needs ORRERY_SCHEMATHESIS and ORRERY_TEST_POSTGRES_URL (scripts/test sets both; CI=true fails without them)"),
          .timeLimit(.minutes(3)))
    func fuzzPostgres() async throws {
        _ = try Self.binary()
        try await StoreKind.withFreshDatabase { url in
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let token = "schemathesis-admin"
            let node = try await ServerProcess.start(dataDir: dir.file("data"), token: token, log: dir.file("serve.log"),
                                                     extraArguments: ["--database", url], timeout: .seconds(30))
            defer { if node.process.isRunning { kill(node.process.processIdentifier, SIGKILL) } }
            try await Self.fuzz(node.api(token), seconds: 45)
            #expect(await node.stop())
        }
    }

    /// Seeds something to find, then fuzzes `api`'s server for at most `seconds`.
    static func fuzz(_ api: APIClient, seconds: Int) async throws {
        // Something for the fuzzer to find: a task with runs, a log, a token.
        let task = try await api.post("/v1/tasks", #"{"name":"fuzz","module":"noop","schedule":{"type":"interval","every_sec":3600}}"#)
        _ = try await api.post("/v1/tasks/\(try require(task["id"]?.stringValue))/run")
        // An operator token: the fuzzer must not be able to start shell commands it made up.
        let token = try require(try await api.post("/v1/tokens", #"{"role":"operator","name":"fuzzer"}"#)["token"]?.stringValue)

        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: try Self.binary())
        process.currentDirectoryURL = URL(fileURLWithPath: dir.path)  // its cache stays out of the checkout
        process.arguments = [
            "run", "\(api.baseURL)/openapi.json", "--url", api.baseURL,
            "-H", "Authorization: Bearer \(token)",
            "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--phases", "examples,coverage,fuzzing", "--max-examples", "25", "--max-time", "\(seconds)", "--seed", "20261126",
            "--workers", "2", "--request-timeout", "10", "--no-color", "--suppress-health-check", "all",
            // The live event stream stays open until the client leaves: nothing for a fuzzer.
            "--exclude-path", "/v1/stream",
        ]
        let log = dir.file("schemathesis.log")
        FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        // Waiting without blocking a thread: the server under test may run in this process, and
        // with two cores two blocked waits would leave it no thread to answer on.
        // Bounded: schemathesis stops itself after `seconds`; a hung one is killed a minute later.
        let deadline = ContinuousClock.now.advanced(by: .seconds(seconds + 60))
        while process.isRunning {
            guard ContinuousClock.now < deadline else {
                kill(process.processIdentifier, SIGKILL)
                throw TimedOut(what: "schemathesis still running \(seconds + 60) s after its start")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        // The verdict on the server is the checks' ("N generated, N passed" and no FAILURES).
        // Schemathesis also exits 1 for its own generator hiccups ("Inconsistent results" when
        // the time budget cuts a case short), which say nothing about the server.
        let summary = output.split(separator: "\n").first { $0.contains(" generated, ") } ?? ""
        let numbers = summary.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        #expect(!output.contains("FAILURES") && !summary.contains("failed"), "schemathesis found failures:\n\(output.suffix(8000))")
        // A floor, not a rate to meet: a lone run makes 50-100 cases a second; a loaded 2-core CI
        // run was seen near a third of that. Five a second still proves the fuzzer got going.
        #expect(numbers.count >= 2 && numbers[0] == numbers[1] && numbers[0] >= seconds * 5, "too few cases ran: \(summary)\n\(output.suffix(3000))")
    }
}
