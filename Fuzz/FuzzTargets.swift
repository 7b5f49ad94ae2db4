// The fuzzed entry points, shared by the libFuzzer driver (Fuzz/FuzzCron.swift) and the
// corpus replay. Built together with OrreryCore's sources by scripts/fuzz.
import Foundation

enum FuzzTargets {
    static let modules: [String: ModuleDescriptor] = [
        "noop": ModuleDescriptor(name: "noop", description: ["en-US": "nothing"]),
        "shell": ModuleDescriptor(
            name: "shell", description: ["en-US": "a command"],
            params: [ParamSpec(name: "command", type: .stringArray, required: true), ParamSpec(name: "cwd", type: .string)],
            requiredRight: "shell"),
    ]

    static func run(target: String, bytes: [UInt8], text: String, now: Timestamp) {
        if target == "all" || target == "cron" { cron(text, now: now) }
        if target == "all" || target == "schedule" { schedule(bytes, now: now) }
        if target == "all" || target == "task" { task(bytes, now: now) }
    }

    /// A cron expression: parsed or refused; when parsed, its next fires in zones with DST.
    static func cron(_ text: String, now: Timestamp) {
        guard text.utf8.count <= 256 else { return }
        for zone in ["UTC", "America/New_York", "Australia/Lord_Howe"] {
            guard let s = try? Schedule.parse(.object(["type": .string("cron"), "expression": .string(text), "timezone": .string(zone)]), now: now)
            else { continue }
            let fires = s.upcoming(after: now, count: 5, createdAt: now)
            for (a, b) in zip(fires, fires.dropFirst()) where !(a.at < b.at) { fatalError("fire times out of order for \(text) in \(zone)") }
            _ = s.summary
        }
    }

    /// A schedule body as JSON.
    static func schedule(_ bytes: [UInt8], now: Timestamp) {
        guard let json = try? JSONValue.parse(bytes), let s = try? Schedule.parse(json, now: now) else { return }
        _ = s.upcoming(after: now, count: 3, createdAt: now)
        _ = try? Schedule.parse(s.json, now: now)  // what is stored parses again
    }

    /// A whole task body, as POST /v1/tasks and PATCH read it.
    static func task(_ bytes: [UInt8], now: Timestamp) {
        guard let json = try? JSONValue.parse(bytes) else { return }
        if let created = try? TaskInput.create(json, id: "T", now: now, project: "default", owner: nil, modules: modules) {
            _ = try? TaskInput.update(created, with: json, now: now, modules: modules)
            _ = created.firstRun(now: now, id: "R")
        }
    }
}
