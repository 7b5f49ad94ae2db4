import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OrreryCore
import OrreryHTTP
import OrreryTesting
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The release artifact (`scripts/release`; path in `ORRERY_RELEASE_BINARY`, which
/// `scripts/test` sets) copied alone into an empty directory, as someone installing it would:
/// no toolchain libraries, no resource bundle, no checkout beside it.
@Suite("The release binary, alone", .timeLimit(.minutes(5)))
struct LoneBinaryTests {
    @Test("copied alone to an empty directory it links no Swift library, keeps tasks woken on NIO's event loops there, serves its OpenAPI document, and runs a task",
          .enabled(if: Prerequisites.runs("ORRERY_RELEASE_BINARY"), "ORRERY_RELEASE_BINARY is not set (scripts/test builds it with scripts/release)"))
    func alone() async throws {
        let built = try Prerequisites.require("ORRERY_RELEASE_BINARY", "the release binary from scripts/release")
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let binary = dir.file("orrery")
        try FileManager.default.copyItem(atPath: built, toPath: binary)

        // The Swift runtime and Foundation are linked in: nothing from the toolchain is loaded.
        let libraries = try await Prerequisites.run("/usr/bin/ldd", [binary])
        #expect(!libraries.lowercased().contains("swift") && !libraries.contains("Foundation"), "\(libraries)")

        // Started with relative paths in its own directory, as someone who copied it would.
        let token = "lone-binary-token"
        let server = try await ServerProcess.start(
            dataDir: "orrery-data", token: token, log: dir.file("serve.log"), extraArguments: ["--shutdown-grace-sec", "0"],
            timeout: .seconds(20), executable: binary, directory: dir.path, environment: ["PATH": "/usr/bin:/bin"])
        defer { if server.process.isRunning { kill(server.process.processIdentifier, SIGKILL) } }
        let api = server.api(token)

        let document = try await HTTPClient.shared.execute(HTTPClientRequest(url: api.baseURL + "/openapi.json"), timeout: .seconds(30))
        #expect(document.status.code == 200)
        #expect(Array(try await document.body.collect(upTo: 16 << 20).readableBytesView) == OpenAPIDocument.bytes)
        let task = try require(try await api.post("/v1/tasks", #"{"name":"alone","module":"noop","schedule":{"type":"once"}}"#)["id"]?.stringValue)
        try await eventually("the task's run completes") {
            try await api.get("/v1/runs?task_id=\(task)&status=complete").items.count == 1
        }
        #expect(try await APIClient(baseURL: api.baseURL, token: nil).get("/readyz").status == 200)
        #expect(await server.stop())
        // Tasks woken on NIO's event loops stay there: the hook is reached at link time, so it holds in
        // a binary with the Swift runtime linked in, where NIO's own dlsym finds nothing.
        let log = (try? String(contentsOfFile: dir.file("serve.log"), encoding: .utf8)) ?? ""
        #expect(log.contains("tasks woken on NIO's event loops stay there"), "\(log.suffix(3000))")
        // It made only its data directory beside itself.
        let beside = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(beside == ["orrery", "orrery-data", "serve.log"], "\(beside)")
    }
}
