import Foundation
import OrreryCore
import OrreryTesting
import Testing

/// Every client command of the real `orrery` binary against a real server on loopback, in
/// table and JSON form.
@Suite("CLI commands", .timeLimit(.minutes(5)))
struct CLICommandTests {
    @Test("task add, list, show, edit, pause, resume, run and rm in table, json and jsonl form; -o json is exactly the API's JSON")
    func tasks() async throws {
        try await CLIServer.with { server, cli in
            let api = server.api(CLIServer.token)
            let added = try await cli.run(["task", "add", "--name", "nightly", "--module", "noop", "--cron", "0 3 * * *", "--tz", "Europe/Berlin", "--label", "team=ops"])
            #expect(added.status == 0, "\(added)")
            #expect(added.stdout.contains("name:") && added.stdout.contains("nightly") && added.stdout.contains("0 3 * * * (Europe/Berlin)"), "\(added)")
            let fromFile = try await cli.run(["task", "add", "--file", "-", "-o", "json"], stdin: #"{"name":"every","module":"noop","schedule":{"type":"interval","every_sec":3600}}"#)
            let every = try #require(fromFile.json, "\(fromFile)")
            let id = try #require(every["id"]?.stringValue)
            #expect(every["version"] == .int(1) && every["schedule"]?["every_sec"] == .int(3600))

            let table = try await cli.run(["task", "list"])
            #expect(table.status == 0 && table.lines.first?.hasPrefix("ID") == true && table.lines.count == 3, "\(table)")
            #expect(table.stdout.contains("every 1h") && !table.stdout.contains("\u{1B}["), "no colour when not on a terminal")
            let listed = try await cli.run(["task", "list", "-o", "json"])
            #expect(listed.json == (try await api.get("/v1/tasks?limit=100")).json, "-o json is the API's answer")
            let jsonl = try await cli.run(["task", "list", "-o", "jsonl"])
            #expect(jsonl.lines.count == 2 && jsonl.lines.allSatisfy { (try? JSONValue.parse(Array($0.utf8)))?["id"] != nil })

            let shown = try await cli.run(["task", "show", id, "-o", "json"])
            #expect(shown.json == (try await api.get("/v1/tasks/\(id)")).json)
            #expect(try await cli.run(["task", "show", id, "--time-format", "iso"]).stdout.contains("next run:    20"))

            let edited = try await cli.run(["task", "edit", id, "--name", "hourly", "--version", "1", "-o", "json"])
            #expect(edited.json?["name"] == .string("hourly") && edited.json?["version"] == .int(2), "\(edited)")
            let stale = try await cli.run(["task", "edit", id, "--name", "again", "--version", "1"])
            #expect(stale.status == 65 && stale.stderr.contains("version 2, not 1") && stale.stderr.contains("If-Match"), "\(stale)")
            let patched = try await cli.run(["task", "edit", id, "--file", "-", "-o", "json"], stdin: #"{"priority": 5}"#)
            #expect(patched.json?["priority"] == .int(5))

            #expect(try await cli.run(["task", "pause", id]).stdout.contains("paused"))
            #expect(try await cli.run(["task", "pause", id, "-o", "json"]).json?["enabled"] == .bool(false))
            #expect(try await cli.run(["task", "resume", id, "-o", "json"]).json?["enabled"] == .bool(true))

            let ran = try await cli.run(["task", "run", id, "-o", "json"])
            #expect(ran.json?["task_id"] == .string(id) && ran.json?["trigger"] == .string("manual"), "\(ran)")
            let ranTable = try await cli.run(["task", "run", id])
            #expect(ranTable.stdout.contains("trigger:") && ranTable.stdout.contains("manual"))

            let removed = try await cli.run(["task", "rm", id])
            #expect(removed.status == 0 && removed.stdout == "deleted \(id)\n", "\(removed)")
            let gone = try await cli.run(["task", "show", id])
            #expect(gone.status == 69 && gone.stderr.contains("does not exist"), "\(gone)")
        }
    }

    @Test("run list, show, logs, cancel and dismiss, and modules, in table and JSON form")
    func runsAndModules() async throws {
        try await CLIServer.with { server, cli in
            let api = server.api(CLIServer.token)
            let echo = try await cli.run(["task", "add", "--name", "echo", "--module", "shell", "--at", "now", "-o", "json",
                                          "--params", #"{"command":["/bin/sh","-c","echo hello; echo world"]}"#])
            let echoID = try #require(echo.json?["id"]?.stringValue, "\(echo)")
            let nap = try await cli.run(["task", "add", "--name", "nap", "--module", "sleep", "--params", #"{"seconds":600}"#, "--every", "1d", "-o", "json"])
            let napID = try #require(nap.json?["id"]?.stringValue, "\(nap)")
            let run = try #require(try await api.get("/v1/runs?task_id=\(echoID)").items.first?["id"]?.stringValue)
            try await eventually("the echo run completes") { try await api.get("/v1/runs/\(run)")["status"] == .string("complete") }

            let listed = try await cli.run(["run", "list", "--task", echoID])
            #expect(listed.lines.first?.hasPrefix("ID") == true && listed.stdout.contains("complete"), "\(listed)")
            #expect(try await cli.run(["run", "list", "--task", echoID, "-o", "json"]).json == (try await api.get("/v1/runs?task_id=\(echoID)&limit=50")).json)
            #expect(try await cli.run(["run", "list", "--status", "complete", "-o", "jsonl"]).lines.count == 1)
            #expect(try await cli.run(["run", "show", run]).stdout.contains("status:    complete"))
            #expect(try await cli.run(["run", "show", run, "-o", "json"]).json == (try await api.get("/v1/runs/\(run)")).json)

            let logs = try await cli.run(["run", "logs", run])
            #expect(logs.lines.map { $0.split(separator: " ", maxSplits: 1).last.map(String.init) } == ["hello", "world"], "\(logs)")
            #expect(try await cli.run(["run", "logs", run, "-o", "json"]).json == (try await api.get("/v1/runs/\(run)/logs?offset=0&limit=1000")).json)
            #expect(try await cli.run(["run", "logs", run, "-o", "jsonl"]).lines.count == 2)

            let napRun = try #require(try await cli.run(["task", "run", napID, "-o", "json"]).json?["id"]?.stringValue)
            let canceled = try await cli.run(["run", "cancel", napRun, "-o", "json"])
            #expect(canceled.status == 0 && canceled.json?["id"] == .string(napRun), "\(canceled)")
            try await eventually("the nap is canceled") { try await api.get("/v1/runs/\(napRun)")["status"] == .string("canceled") }
            let dismissed = try await cli.run(["run", "dismiss", run])
            #expect(dismissed.status == 0 && dismissed.stdout.contains(run), "\(dismissed)")
            #expect(try await cli.run(["run", "list", "--dismissed", "-o", "jsonl"]).lines.count == 1)

            let modules = try await cli.run(["modules"])
            #expect(modules.lines.first?.hasPrefix("NAME") == true && modules.stdout.contains("shell") && modules.stdout.contains("command*"), "\(modules)")
            #expect(try await cli.run(["modules", "-o", "json"]).json == (try await api.get("/v1/modules")).json)
            let german = try await cli.run(["modules"], env: ["LANG": "de_DE.UTF-8"])
            #expect(german.status == 0)
        }
    }

    @Test("shell completions are generated for bash, zsh and fish")
    func completions() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let cli = CLI(url: "http://127.0.0.1:1", token: nil, dir: dir)
        for shell in ["bash", "zsh", "fish"] {
            let script = try await cli.run(["--generate-completion-script", shell])
            #expect(script.status == 0 && script.stdout.contains("task") && script.stdout.contains("logs"), "\(shell): \(script.stderr)")
        }
    }
}
