import ArgumentParser
import Foundation
import OrreryCore

/// A task's fields from the command line: JSON (`--file`, `-` for standard input) for
/// anything, flags for the common fields; a flag overrides the same field of the file.
struct TaskFields: ParsableArguments {
    @Option(name: [.customShort("f"), .long], help: "The task as JSON (the body of POST /v1/tasks); - reads standard input.")
    var file: String?
    @Option(help: "The task's name.") var name: String?
    @Option(help: "The module that runs it: noop, sleep, shell, http, … (`orrery modules`).") var module: String?
    @Option(help: "Parameters for the module, as a JSON object.") var params: String?
    @Option(help: "A cron expression (5 or 6 fields, or @daily …).") var cron: String?
    @Option(help: "The cron expression's IANA time zone (default UTC).") var tz: String?
    @Option(help: "An interval: seconds, or 30s, 5m, 1h, 1d.") var every: String?
    @Option(help: "Once, at this RFC 3339 time (or `now`).") var at: String?
    @Option(help: "A description for people.") var description: String?
    @Option(name: .customLong("label"), help: "A label key=value (repeatable).") var labels: [String] = []

    func validate() throws {
        if [cron, every, at].compactMap({ $0 }).count > 1 { throw ValidationError("--cron, --every and --at are exclusive: a task has one schedule") }
        if tz != nil, cron == nil { throw ValidationError("--tz goes with --cron") }
        if let every { _ = try Self.duration(every, option: "--every") }
        if let params { _ = try Self.object(params, option: "--params") }
        for label in labels where !label.contains("=") { throw ValidationError("--label \"\(label)\" must be key=value") }
    }

    /// The request body: the file's object with the flags' fields set over it.
    func body(requireSomething: Bool, standardInput: () -> Data = { FileHandle.standardInput.readDataToEndOfFile() }) throws -> JSONValue {
        var object: [String: JSONValue] = [:]
        if let file {
            let data: Data
            if file == "-" {
                data = standardInput()
            } else {
                guard let read = FileManager.default.contents(atPath: file) else { throw ClientError(.noInput, "--file: cannot read \(file)") }
                data = read
            }
            guard case .object(let parsed)? = try? JSONValue.parse(data) else {
                throw ClientError(.refused, "--file \(file): not a JSON object (the body of POST /v1/tasks)")
            }
            object = parsed
        }
        if let name { object["name"] = .string(name) }
        if let module { object["module"] = .string(module) }
        if let params { object["params"] = try Self.object(params, option: "--params") }
        if let description { object["description"] = .string(description) }
        if let cron {
            var schedule: [String: JSONValue] = ["type": .string("cron"), "expression": .string(cron)]
            if let tz { schedule["timezone"] = .string(tz) }
            object["schedule"] = .object(schedule)
        }
        if let every { object["schedule"] = .object(["type": .string("interval"), "every_sec": .int(try Self.duration(every, option: "--every"))]) }
        if let at { object["schedule"] = .object(at == "now" ? ["type": .string("once")] : ["type": .string("once"), "at": .string(at)]) }
        if !labels.isEmpty {
            var merged = object["labels"]?.objectValue ?? [:]
            for label in labels {
                let parts = label.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                merged[String(parts[0])] = .string(String(parts[1]))
            }
            object["labels"] = .object(merged)
        }
        if requireSomething, object.isEmpty {
            throw ValidationError("give the task as JSON (--file FILE, or --file - for standard input) or flags (--name, --module, --cron, --every, …)")
        }
        return .object(object)
    }

    /// Seconds from `90`, `90s`, `5m`, `2h` or `1d`.
    static func duration(_ text: String, option: String) throws -> Int64 {
        let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3_600, "d": 86_400]
        let (number, unit) = text.last.flatMap({ units[$0] }).map { (text.dropLast(), $0) } ?? (Substring(text), 1)
        guard let n = Int64(number), n > 0 else { throw ValidationError("\(option) \"\(text)\" must be a positive duration like 30s, 5m, 1h or 1d") }
        return n * unit
    }

    static func object(_ text: String, option: String) throws -> JSONValue {
        guard case .object? = try? JSONValue.parse(Array(text.utf8)), let value = try? JSONValue.parse(Array(text.utf8)) else {
            throw ValidationError("\(option) must be a JSON object, e.g. '{\"seconds\": 5}'")
        }
        return value
    }
}
