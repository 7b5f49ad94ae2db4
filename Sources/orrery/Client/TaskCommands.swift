import ArgumentParser
import NIOHTTP1
import OrreryCore

/// `orrery task …`: the tasks of `/v1/tasks`.
struct TaskCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "task", abstract: "Add, list, show, edit, pause, resume, run and remove tasks.",
        discussion: ExitStatus.summary,
        subcommands: [Add.self, List.self, Show.self, Edit.self, Pause.self, Resume.self, RunNow.self, Remove.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List tasks (oldest first).")
        @OptionGroup var client: ClientOptions
        @Option(help: "Only tasks of this module.") var module: String?
        @Option(help: "Only enabled (true) or paused (false) tasks.") var enabled: Bool?
        @Option(help: "Only tasks whose name contains this.") var name: String?
        @Option(help: "Last run statuses, comma-separated (e.g. failed,canceled).") var lastStatus: String?
        @Option(help: "Only tasks of this project (admins).") var project: String?
        @Option(help: "At most this many (1-1000).") var limit: Int = 100
        @Option(help: "The next page: the cursor a previous page printed.") var cursor: String?

        func run() async throws {
            try await runClient {
                let ctx = try client.context()
                let reply = try await ctx.api.get("/v1/tasks", query: [
                    ("module", module), ("enabled", enabled.map { "\($0)" }), ("name_contains", name), ("last_status", lastStatus),
                    ("project", project), ("limit", "\(limit)"), ("cursor", cursor),
                ])
                guard ctx.out.isTable else {
                    ctx.out.printJSON(reply)
                    return .ok
                }
                let rows = (reply.json["items"]?.arrayValue ?? []).map { t -> [Cell] in
                    [Cell(t["id"]?.stringValue ?? ""), Cell(t["name"]?.stringValue ?? ""), Cell(t["module"]?.stringValue ?? ""),
                     Cell(TaskText.schedule(t["schedule"])),
                     t["enabled"] == .bool(true) ? "yes" : Cell("paused", color: ctx.out.color ? "33" : nil),
                     Cell(ctx.out.time(t["next_run_at"])), ctx.out.status(t["last_status"]?.stringValue)]
                }
                ctx.out.table(["ID", "NAME", "MODULE", "SCHEDULE", "ENABLED", "NEXT RUN", "LAST STATUS"], rows, flexible: [1, 3])
                TaskText.footer(reply, ctx)
                return .ok
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one task.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The task id.") var id: String

        func run() async throws {
            try await runClient {
                let ctx = try client.context()
                TaskText.show(try await ctx.api.get("/v1/tasks/\(OrreryAPI.segment(id))"), ctx)
                return .ok
            }
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a task from JSON (--file, - for standard input) and/or flags.",
            discussion: #"Example: orrery task add --name hello --module shell --params '{"command":["/usr/bin/env","echo","hi"]}' --every 30s"#)
        @OptionGroup var client: ClientOptions
        @OptionGroup var fields: TaskFields
        @Option(help: "An Idempotency-Key: repeating the command does not create a second task.") var idempotencyKey: String?

        func run() async throws {
            try await runClient {
                let ctx = try client.context()
                let body = try fields.body(requireSomething: true)
                let reply = try await ctx.api.post("/v1/tasks", body: body, headers: idempotencyKey.map { [("Idempotency-Key", $0)] } ?? [])
                TaskText.show(reply, ctx)
                return .ok
            }
        }
    }

    struct Edit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a task (PATCH): JSON of the fields to change (--file, - for standard input) and/or flags.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The task id.") var id: String
        @OptionGroup var fields: TaskFields
        @Option(help: "Change only if the task is still at this version (If-Match); else exit 65.") var version: Int?

        func run() async throws {
            try await runClient {
                let ctx = try client.context()
                let body = try fields.body(requireSomething: true)
                let reply = try await ctx.api.send(
                    .PATCH, "/v1/tasks/\(OrreryAPI.segment(id))", body: body, headers: version.map { [("If-Match", "\($0)")] } ?? [])
                TaskText.show(reply, ctx)
                return .ok
            }
        }
    }

    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Pause a task: it fires no more until resumed.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The task id.") var id: String

        func run() async throws {
            try await runClient {
                let ctx = try client.context()
                TaskText.show(try await ctx.api.post("/v1/tasks/\(OrreryAPI.segment(id))/pause"), ctx)
                return .ok
            }
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Resume a paused task.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The task id.") var id: String

        func run() async throws {
            try await runClient {
                let ctx = try client.context()
                TaskText.show(try await ctx.api.post("/v1/tasks/\(OrreryAPI.segment(id))/resume"), ctx)
                return .ok
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete a task (its run history stays readable).")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The task id.") var id: String
        @Option(help: "Delete only if the task is still at this version (If-Match).") var version: Int?

        func run() async throws {
            try await runClient {
                let ctx = try client.context()
                _ = try await ctx.api.send(.DELETE, "/v1/tasks/\(OrreryAPI.segment(id))", headers: version.map { [("If-Match", "\($0)")] } ?? [])
                if ctx.out.isTable { say("deleted \(id)") } else { say(JSONValue.object(["id": .string(id), "deleted": .bool(true)]).jsonText) }
                return .ok
            }
        }
    }

    struct RunNow: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run", abstract: "Run a task now; with --wait, until the run ends.",
            discussion: "With --wait the exit code is the run's outcome: 0 complete, 1 failed, canceled or skipped, 124 when --timeout passes first.\n" + ExitStatus.summary)
        @OptionGroup var client: ClientOptions
        @Argument(help: "The task id.") var id: String
        @Flag(help: "Wait until the run ends (through the live event stream).") var wait = false
        @Flag(help: "With --wait: print the run's log lines as they come.") var logs = false
        @Option(help: "With --wait: give up after this long, e.g. 90s, 5m, 1h (exit 124).") var timeout: String?

        func validate() throws {
            if timeout != nil || logs, !wait { throw ValidationError("--timeout and --logs need --wait") }
            if let timeout { _ = try TaskFields.duration(timeout, option: "--timeout") }
        }

        func run() async throws {
            try await runClient {
                let ctx = try client.context()
                let created = try await ctx.api.post("/v1/tasks/\(OrreryAPI.segment(id))/run")
                guard wait, let runID = created.json["id"]?.stringValue else {
                    RunText.show(created, ctx)
                    return .ok
                }
                let limit = try timeout.map { Duration.seconds(try TaskFields.duration($0, option: "--timeout")) }
                _ = try await RunFollower(context: ctx, printLogs: logs).follow(runID, timeout: limit)
                let final = try await ctx.api.get("/v1/runs/\(OrreryAPI.segment(runID))")
                RunText.show(final, ctx)
                return final.json["status"] == .string("complete") ? .ok : .runFailed
            }
        }
    }
}

/// How tasks read in tables.
enum TaskText {
    static func schedule(_ s: JSONValue?) -> String {
        guard let s else { return "-" }
        let zone = s["timezone"]?.stringValue.map { $0 == "UTC" ? "" : " (\($0))" } ?? ""
        switch s["type"]?.stringValue {
        case "cron": return (s["expression"]?.stringValue ?? "") + zone
        case "interval": return "every " + Printer.span(Double(s["every_sec"]?.intValue ?? 0))
        case "once": return "once " + (s["at"]?.stringValue ?? "")
        case "calendar": return "calendar" + zone
        case "trigger": return "on " + (s["event"]?.stringValue ?? "event")
        default: return s.jsonText
        }
    }

    static func show(_ reply: OrreryAPI.Reply, _ ctx: ClientContext) {
        guard ctx.out.isTable else { return ctx.out.printJSON(reply) }
        let t = reply.json
        ctx.out.fields([
            ("id", ctx.out.bold(t["id"]?.stringValue ?? "")), ("name", Cell(t["name"]?.stringValue ?? "")),
            ("project", Cell(t["project"]?.stringValue ?? "")), ("module", Cell(t["module"]?.stringValue ?? "")),
            ("params", Cell(t["params"]?.jsonText ?? "{}")), ("schedule", Cell(schedule(t["schedule"]))),
            ("enabled", Cell(t["enabled"] == .bool(true) ? "yes" : "paused")),
            ("next run", Cell(ctx.out.time(t["next_run_at"]))), ("last run", Cell(ctx.out.time(t["last_run_at"]))),
            ("last status", ctx.out.status(t["last_status"]?.stringValue)), ("version", Cell(t["version"]?.intValue.map { "\($0)" } ?? "-")),
        ])
    }

    /// Below a table: how many there are, and how to get the next page.
    static func footer(_ reply: OrreryAPI.Reply, _ ctx: ClientContext) {
        let shown = reply.json["items"]?.arrayValue?.count ?? 0
        if let next = reply.json["next_cursor"]?.stringValue {
            let total = reply.json["total_count"]?.intValue.map { " of \($0)" } ?? ""
            say("(\(shown)\(total) shown; next page: --cursor \(next))")
        } else if shown == 0 {
            say("(none)")
        }
    }
}
