import ArgumentParser
import Foundation
import NIOHTTP1
import OrreryCore

/// `orrery run …`: the runs of `/v1/runs`.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "List, show, follow, cancel and dismiss runs.",
        discussion: ExitStatus.summary,
        subcommands: [List.self, Show.self, Logs.self, Cancel.self, Dismiss.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List runs (newest first).")
        @OptionGroup var client: ClientOptions
        @Option(name: .customLong("task"), help: "Only runs of this task.") var taskID: String?
        @Option(help: "Statuses, comma-separated: scheduled, active, complete, failed, canceled, skipped.") var status: String?
        @Option(help: "Only runs of this module.") var module: String?
        @Option(help: "Triggers, comma-separated: schedule, manual, event, retry.") var trigger: String?
        @Flag(help: "Dismissed runs only.") var dismissed = false
        @Option(help: "Only runs of this project (admins).") var project: String?
        @Option(help: "At most this many (1-1000).") var limit: Int = 50
        @Option(help: "The next page: the cursor a previous page printed.") var cursor: String?

        func run() async throws {
            try await runClient {
                let ctx = try client.context()
                let reply = try await ctx.api.get("/v1/runs", query: [
                    ("task_id", taskID), ("status", status), ("module", module), ("trigger", trigger),
                    ("dismissed", dismissed ? "true" : nil), ("project", project), ("limit", "\(limit)"), ("cursor", cursor),
                ])
                guard ctx.out.isTable else {
                    ctx.out.printJSON(reply)
                    return .ok
                }
                let rows = (reply.json["items"]?.arrayValue ?? []).map { r -> [Cell] in
                    [Cell(r["id"]?.stringValue ?? ""), Cell(r["task_id"]?.stringValue ?? ""), Cell(r["module"]?.stringValue ?? ""),
                     ctx.out.status(r["status"]?.stringValue), Cell(r["trigger"]?.stringValue ?? ""),
                     Cell(r["attempt"]?.intValue.map { "\($0)" } ?? ""), Cell(ctx.out.time(r["scheduled_at"])),
                     Cell(RunText.duration(r)), Cell(RunText.outcome(r))]
                }
                ctx.out.table(["ID", "TASK", "MODULE", "STATUS", "TRIGGER", "ATTEMPT", "SCHEDULED", "TOOK", "RESULT"], rows, flexible: [8])
                TaskText.footer(reply, ctx)
                return .ok
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one run.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The run id.") var id: String

        func run() async throws {
            try await runClient {
                let ctx = try client.context()
                RunText.show(try await ctx.api.get("/v1/runs/\(OrreryAPI.segment(id))"), ctx)
                return .ok
            }
        }
    }

    struct Logs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a run's log; with -f, follow it live until the run ends.",
            discussion: "With -f the exit code is the run's outcome: 0 complete, 1 failed, canceled or skipped.\n" + ExitStatus.summary)
        @OptionGroup var client: ClientOptions
        @Argument(help: "The run id.") var id: String
        @Flag(name: [.customShort("f"), .long], help: "Follow the log as it is written and exit with the run's outcome.") var follow = false
        @Option(help: "With -f: give up after this long, e.g. 90s, 5m (exit 124).") var timeout: String?

        func validate() throws {
            if timeout != nil, !follow { throw ValidationError("--timeout needs -f") }
            if let timeout { _ = try TaskFields.duration(timeout, option: "--timeout") }
        }

        func run() async throws {
            try await runClient {
                let ctx = try client.context()
                let path = "/v1/runs/\(OrreryAPI.segment(id))"
                if follow {
                    let limit = try timeout.map { Duration.seconds(try TaskFields.duration($0, option: "--timeout")) }
                    let run = try await RunFollower(context: ctx, printLogs: true).follow(id, timeout: limit)
                    if ctx.out.isTable { RunText.summary(run, ctx) }
                    return run["status"] == .string("complete") ? .ok : .runFailed
                }
                var entries: [JSONValue] = []
                while true {
                    let page = try await ctx.api.get(path + "/logs", query: [("offset", "\(entries.count)"), ("limit", "1000")])
                    let items = page.json["items"]?.arrayValue ?? []
                    entries += items
                    if items.count < 1000 { break }
                }
                switch ctx.out.format {
                case .json: say(JSONValue.object(["items": .array(entries)]).jsonText)
                case .jsonl: for entry in entries { say(entry.jsonText) }
                case .table:
                    for entry in entries {
                        let level = entry["level"]?.stringValue ?? "info"
                        say("\(entry["timestamp"]?.stringValue ?? "") \(level == "info" ? "" : level.uppercased() + " ")\(entry["msg"]?.stringValue ?? "")")
                    }
                }
                return .ok
            }
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cancel a run (a scheduled one at once; an active one is asked to stop).")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The run id.") var id: String

        func run() async throws {
            try await runClient {
                let ctx = try client.context()
                RunText.show(try await ctx.api.post("/v1/runs/\(OrreryAPI.segment(id))/cancel"), ctx)
                return .ok
            }
        }
    }

    struct Dismiss: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Hide a finished run from default listings (it is kept).")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The run id.") var id: String

        func run() async throws {
            try await runClient {
                let ctx = try client.context()
                RunText.show(try await ctx.api.post("/v1/runs/\(OrreryAPI.segment(id))/dismiss"), ctx)
                return .ok
            }
        }
    }
}

/// How runs read in tables.
enum RunText {
    static func duration(_ run: JSONValue) -> String {
        guard let start = run["started_at"]?.stringValue.flatMap(Timestamp.init(rfc3339:)) else { return "-" }
        let end = run["finished_at"]?.stringValue.flatMap(Timestamp.init(rfc3339:))
        guard let end else { return "running" }
        let seconds = end.secondsSinceEpoch - start.secondsSinceEpoch
        return seconds < 60 ? String(format: "%.1fs", seconds) : Printer.span(seconds)
    }

    /// The error, or the progress message, or the result, in a few words.
    static func outcome(_ run: JSONValue) -> String {
        if let code = run["error"]?["code"]?.stringValue { return "\(code): \(run["error"]?["message"]?.stringValue ?? "")" }
        if let message = run["progress"]?["message"]?.stringValue { return message }
        if let result = run["result"], result != .null { return result.jsonText }
        return ""
    }

    static func show(_ reply: OrreryAPI.Reply, _ ctx: ClientContext) {
        guard ctx.out.isTable else { return ctx.out.printJSON(reply) }
        let r = reply.json
        var percent = ""
        if case .double(let p)? = r["progress"]?["percent"] { percent = String(format: "%.0f%%", p) }
        ctx.out.fields([
            ("id", ctx.out.bold(r["id"]?.stringValue ?? "")), ("task", Cell(r["task_id"]?.stringValue ?? "")),
            ("module", Cell(r["module"]?.stringValue ?? "")), ("status", ctx.out.status(r["status"]?.stringValue)),
            ("trigger", Cell(r["trigger"]?.stringValue ?? "")), ("attempt", Cell(r["attempt"]?.intValue.map { "\($0)" } ?? "")),
            ("scheduled", Cell(ctx.out.time(r["scheduled_at"]))), ("started", Cell(ctx.out.time(r["started_at"]))),
            ("finished", Cell(ctx.out.time(r["finished_at"]))), ("took", Cell(duration(r))),
            ("progress", Cell([percent, r["progress"]?["message"]?.stringValue ?? ""].filter { !$0.isEmpty }.joined(separator: " ").nonEmpty ?? "-")),
            ("result", Cell(r["result"].map { $0 == .null ? "-" : $0.jsonText } ?? "-")),
            ("error", Cell(r["error"]?["code"]?.stringValue.map { "\($0): \(r["error"]?["message"]?.stringValue ?? "")" } ?? "-")),
            ("node", Cell(r["node"]?.stringValue ?? "-")),
        ])
    }

    /// After following: one line with the outcome.
    static func summary(_ run: JSONValue, _ ctx: ClientContext) {
        let status = ctx.out.status(run["status"]?.stringValue).rendered
        let error = run["error"]?["message"]?.stringValue.map { ": \($0)" } ?? ""
        say("run \(run["id"]?.stringValue ?? "") \(status) (\(duration(run)))\(error)")
    }
}

extension String {
    var nonEmpty: String? { isEmpty ? nil : self }
}
