import Foundation
import OrreryCore
import OrreryTesting
import Testing

/// Bad input and failures: a message naming the problem (the server's detail and field) and a
/// documented exit code, never a stack trace.
@Suite("CLI errors and exit codes", .timeLimit(.minutes(5)))
struct CLIErrorTests {
    @Test("unknown ids, bad flags, wrong and weak tokens, invalid input, an unreachable server, events")
    func errors() async throws {
        try await CLIServer.with { server, cli in
            func expectError(_ arguments: [String], _ status: Int32, _ text: String, env: [String: String] = [:], stdin: String? = nil,
                             sourceLocation: SourceLocation = #_sourceLocation) async throws {
                let result = try await cli.run(arguments, env: env, stdin: stdin)
                #expect(result.status == status && result.stderr.contains(text), "\(arguments): \(result)", sourceLocation: sourceLocation)
                #expect(!result.stderr.contains("Fatal error") && !result.stderr.contains("Stack"), sourceLocation: sourceLocation)
            }
            try await expectError(["task", "show", "no-such-task"], 69, #"error: task "no-such-task" does not exist"#)
            try await expectError(["run", "logs", "no-such-run", "-f"], 69, "does not exist")
            try await expectError(["run", "cancel", "no-such-run"], 69, "does not exist")
            try await expectError(["task", "list", "--bogus"], 64, "Unknown option '--bogus'")
            try await expectError(["task", "list", "-o", "yaml"], 64, "yaml")
            try await expectError(["task", "add", "--name", "x", "--cron", "* * * * *", "--every", "5m"], 64, "exclusive")
            try await expectError(["task", "add", "--name", "x", "--params", "[1]"], 64, "--params must be a JSON object")
            try await expectError(["task", "run", "x", "--timeout", "5s"], 64, "need --wait")
            try await expectError(["task", "add"], 64, "give the task as JSON")
            try await expectError(["task", "list"], 77, "the bearer token is not valid", env: ["ORRERY_TOKEN": "wrong"])
            try await expectError(["task", "add", "--name", "x", "--module", "noop", "--cron", "0 24 * * *"], 65,
                                  "cron field 2 (hour): 24 is out of range 0-23 (field: schedule.expression)")
            try await expectError(["task", "add", "--file", "-"], 65, "(field: colour)", stdin: #"{"name":"x","module":"noop","schedule":{"type":"once"},"colour":"red"}"#)
            try await expectError(["task", "add", "--file", "/nonexistent.json"], 66, "cannot read /nonexistent.json")
            try await expectError(["task", "list"], 75, "cannot reach http://127.0.0.1:1", env: ["ORRERY_URL": "http://127.0.0.1:1"])
            // An event the server refuses: the field named, exit 65 (issue 12).
            try await expectError(["events", "send", "--type", String(repeating: "t", count: 201)], 65, "(field: type)")
            try await expectError(["events", "send", "--type", "x", "--payload", "{oops"], 64, "--payload must be JSON")

            // A viewer of project a: cannot write (77), and never sees project b's runs, not even by id.
            let api = server.api(CLIServer.token)
            let viewer = try #require(try await api.post("/v1/tokens", #"{"role":"viewer","project":"a","name":"v"}"#)["token"]?.stringValue)
            let other = try await api.post("/v1/tasks", #"{"name":"b","project":"b","module":"noop","schedule":{"type":"interval","every_sec":3600}}"#)
            let otherTask = try #require(other["id"]?.stringValue)
            let otherRun = try #require(try await api.post("/v1/tasks/\(otherTask)/run")["id"]?.stringValue)
            try await expectError(["task", "add", "--name", "x", "--module", "noop", "--every", "1h"], 77, "viewer", env: ["ORRERY_TOKEN": viewer])
            try await expectError(["run", "logs", otherRun, "-f"], 69, "does not exist", env: ["ORRERY_TOKEN": viewer])
            try await expectError(["run", "show", otherRun], 69, "does not exist", env: ["ORRERY_TOKEN": viewer])
            #expect(try await cli.run(["run", "list", "-o", "jsonl"], env: ["ORRERY_TOKEN": viewer]).stdout.isEmpty)
        }
    }

    @Test("server and token come from flags, a profile of the config file, the environment, or the local admin token file")
    func configuration() async throws {
        try await CLIServer.with { server, cli in
            var bare = cli
            bare.token = nil
            let url = "http://127.0.0.1:\(server.port)"
            let config = cli.dir.file("config/orrery/config.json")
            try FileManager.default.createDirectory(atPath: cli.dir.file("config/orrery"), withIntermediateDirectories: true)
            try #"{"current_profile": "broken", "profiles": {"here": {"url": "\#(url)", "token": "\#(CLIServer.token)"}, "broken": {"url": "http://127.0.0.1:1"}}}"#
                .write(toFile: config, atomically: true, encoding: .utf8)
            let viaProfile = try await bare.run(["task", "list", "--profile", "here"], removing: ["ORRERY_URL"])
            #expect(viaProfile.status == 0, "\(viaProfile)")
            #expect(try await bare.run(["task", "list"], env: ["ORRERY_PROFILE": "here"], removing: ["ORRERY_URL"]).status == 0)
            let current = try await bare.run(["task", "list"], removing: ["ORRERY_URL"])
            #expect(current.status == 75 && current.stderr.contains("127.0.0.1:1"), "the current profile is used: \(current)")
            let flags = try await bare.run(["task", "list", "--url", url, "--token", CLIServer.token], removing: ["ORRERY_URL"])
            #expect(flags.status == 0, "\(flags)")
            let unknown = try await bare.run(["task", "list", "--profile", "nope"])
            #expect(unknown.status == 78 && unknown.stderr.contains(#"no profile "nope""#) && unknown.stderr.contains("here"), "\(unknown)")
            try "{\"profiles\": 3}".write(toFile: config, atomically: true, encoding: .utf8)
            #expect(try await bare.run(["task", "list"]).status == 78)
            try FileManager.default.removeItem(atPath: config)

            // On the server machine: ./orrery-data/admin.token, as `orrery serve` writes it.
            let noToken = try await bare.run(["task", "list"])
            #expect(noToken.status == 77 && noToken.stderr.contains("token"), "\(noToken)")
            try FileManager.default.createDirectory(atPath: cli.dir.file("orrery-data"), withIntermediateDirectories: true)
            try (CLIServer.token + "\n").write(toFile: cli.dir.file("orrery-data/admin.token"), atomically: true, encoding: .utf8)
            #expect(try await bare.run(["task", "list"]).status == 0)
        }
    }
}
