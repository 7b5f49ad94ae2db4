import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OrreryCore
import OrreryTesting
import Testing

/// Following runs live through `GET /v1/stream` with the real binary: `run logs -f` and
/// `task run --wait` exit with the run's outcome.
@Suite("CLI follow and wait", .timeLimit(.minutes(5)))
struct CLIFollowTests {
    @Test("run logs -f prints the lines as the run writes them and exits 0 when it completes, 1 when it fails")
    func followLogs() async throws {
        try await CLIServer.with { server, cli in
            let api = server.api(CLIServer.token)
            // The run waits for a file the test writes once the follower is attached, so the
            // follower is certainly there before the run ends (no sleep on either side).
            let gate = cli.dir.file("gate")
            let script = "echo first; while [ ! -e \(gate) ]; do sleep 0.05; done; echo second; exit \"$(cat \(gate))\""
            let task = try await cli.run(["task", "add", "--name", "gated", "--module", "shell", "--every", "1d", "-o", "json",
                                          "--params", JSONValue.object(["command": .array([.string("/bin/sh"), .string("-c"), .string(script)])]).jsonText])
            let taskID = try #require(task.json?["id"]?.stringValue, "\(task)")

            for (exitCode, expected) in [("0", Int32(0)), ("3", Int32(1))] {
                try? FileManager.default.removeItem(atPath: gate)
                let run = try #require(try await cli.run(["task", "run", taskID, "-o", "json"]).json?["id"]?.stringValue)
                try await eventually("the run wrote its first line") { try await api.get("/v1/runs/\(run)/logs").items.count == 1 }
                let output = cli.dir.file("follow-\(exitCode).out")
                async let following = cli.run(["run", "logs", run, "-f"], stdoutFile: output)
                // The follower printed the first line: it is attached. Only now may the run go on,
                // so the second line and the end reach it live.
                try await eventually("the follower printed the first line") {
                    ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").contains("first")
                }
                #expect(try await api.get("/v1/runs/\(run)")["status"] == .string("active"))
                FileManager.default.createFile(atPath: gate, contents: Data(exitCode.utf8))
                let followed = try await following
                #expect(followed.status == expected, "\(followed)")
                let printed = followed.lines.compactMap { $0.split(separator: " ").last.map(String.init) }
                #expect(printed.prefix(2) == ["first", "second"], "\(followed)")
                #expect(followed.stdout.contains(expected == 0 ? "complete" : "failed"), "\(followed)")
            }
        }
    }

    @Test("task run --wait exits 0 on complete, 1 on failure, 124 when --timeout passes; --logs prints the log; -o json prints the final run")
    func waitForRuns() async throws {
        try await CLIServer.with { server, cli in
            let ok = try await cli.run(["task", "add", "--name", "ok", "--module", "shell", "--every", "1d", "-o", "json",
                                        "--params", #"{"command":["/bin/sh","-c","echo done"]}"#])
            let okID = try #require(ok.json?["id"]?.stringValue, "\(ok)")
            let waited = try await cli.run(["task", "run", okID, "--wait", "--logs"])
            #expect(waited.status == 0 && waited.stdout.contains("done") && waited.stdout.contains("complete"), "\(waited)")
            let asJSON = try await cli.run(["task", "run", okID, "--wait", "-o", "json"])
            #expect(asJSON.status == 0 && asJSON.json?["status"] == .string("complete"), "\(asJSON)")

            let bad = try await cli.run(["task", "add", "--name", "bad", "--module", "shell", "--every", "1d", "-o", "json",
                                         "--params", #"{"command":["/bin/sh","-c","exit 7"]}"#])
            let badID = try #require(bad.json?["id"]?.stringValue)
            let failed = try await cli.run(["task", "run", badID, "--wait"])
            #expect(failed.status == 1 && failed.stdout.contains("failed") && failed.stdout.contains("exit_code"), "\(failed)")

            let slow = try await cli.run(["task", "add", "--name", "slow", "--module", "sleep", "--params", #"{"seconds":600}"#, "--every", "1d", "-o", "json"])
            let slowID = try #require(slow.json?["id"]?.stringValue)
            let timedOut = try await cli.run(["task", "run", slowID, "--wait", "--timeout", "1s"])
            #expect(timedOut.status == 124 && timedOut.stderr.contains("did not end within 1s"), "\(timedOut)")
            // The run goes on after the client gave up; cancel it so the server stops at once.
            let api = server.api(CLIServer.token)
            for run in try await api.get("/v1/runs?task_id=\(slowID)&status=active").items {
                _ = try await api.post("/v1/runs/\(try #require(run["id"]?.stringValue))/cancel")
            }
        }
    }

    @Test("on a terminal: colour and a progress bar; never with NO_COLOR",
          .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script"), "needs script(1) for a terminal"))
    func terminal() async throws {
        try await CLIServer.with { _, cli in
            let nap = try await cli.run(["task", "add", "--name", "nap", "--module", "sleep", "--params", #"{"seconds":0.3}"#, "--every", "1d", "-o", "json"])
            let id = try #require(nap.json?["id"]?.stringValue, "\(nap)")
            let coloured = try await cli.run(["task", "run", id, "--wait"], terminal: true)
            #expect(coloured.status == 0 && coloured.stdout.contains("\u{1B}[32mcomplete"), "\(coloured)")
            #expect(coloured.stdout.contains("[------------------------------]   0% sleeping"), "the progress bar while it runs (script(1) merges standard error): \(coloured)")
            let plain = try await cli.run(["task", "list"], env: ["NO_COLOR": "1"], terminal: true)
            #expect(plain.status == 0 && !plain.stdout.contains("\u{1B}["), "\(plain)")
        }
    }

    @Test("an open stream ends when the server shuts down gracefully, and the server exits 0")
    func streamEndsOnShutdown() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let server = try await ServerProcess.start(dataDir: dir.file("data"), token: CLIServer.token, log: dir.file("serve.log"))
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(server.port)/v1/stream")
        request.headers.add(name: "Authorization", value: "Bearer \(CLIServer.token)")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        #expect(response.status.code == 200 && response.headers.first(name: "Content-Type") == "text/event-stream")
        var body = response.body.makeAsyncIterator()
        let first = try #require(try await body.next())
        #expect(String(buffer: first).contains(": stream open"))
        let stopped = Task { await server.stop() }
        while try await body.next() != nil {}  // ends (bounded by stop()'s SIGKILL after 15 s)
        #expect(await stopped.value, "graceful exit with status 0")
    }
}
