import ArgumentParser
import Foundation
import OrreryCore

/// Where `orrery` reads a setting (SPEC §9): the flag, else the environment variable
/// `ORRERY_<KEY>`, else the key of the optional configuration file (`--config FILE` or
/// `ORRERY_CONFIG`; a JSON object), else the default. A file with an unknown key or a value
/// of the wrong type is refused by name, before anything is opened.
struct Settings {
    /// The keys a configuration file may hold (the flags' names in snake case).
    static let keys = [
        "data_dir", "database", "host", "port", "concurrency", "lease_sec", "allow_private_networks", "retention_days", "keep_runs",
        "shutdown_grace_sec", "log_format", "log_level", "base_path", "auth_failures_per_minute",
    ]

    private let environment: [String: String]
    private let file: [String: JSONValue]
    private let filePath: String

    init(configPath: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        self.environment = environment
        guard let path = configPath ?? environment["ORRERY_CONFIG"].flatMap({ $0.isEmpty ? nil : $0 }) else {
            file = [:]
            filePath = ""
            return
        }
        filePath = path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("--config: cannot read \(path)")
        }
        guard case .object(let object)? = try? JSONValue.parse(data) else {
            throw ValidationError("\(path): a configuration file is one JSON object, e.g. {\"database\": \"postgres://…\"}")
        }
        if let unknown = object.keys.sorted().first(where: { !Self.keys.contains($0) }) {
            throw ValidationError("\(path): unknown setting \"\(unknown)\"; known: \(Self.keys.joined(separator: ", "))")
        }
        file = object
    }

    private func variable(_ key: String) -> String { "ORRERY_" + key.uppercased() }

    func string(_ flag: String?, _ key: String) throws -> String? {
        if let flag { return flag }
        if let value = environment[variable(key)] { return value }
        guard let value = file[key], value != .null else { return nil }
        guard let text = value.stringValue else { throw ValidationError("\(filePath): \(key) must be a string") }
        return text
    }

    func int(_ flag: Int?, _ key: String) throws -> Int? {
        if let flag { return flag }
        let name = variable(key)
        if let value = environment[name] {
            guard let number = Int(value) else { throw ValidationError("\(name) must be a whole number, not \"\(value)\"") }
            return number
        }
        guard let value = file[key], value != .null else { return nil }
        guard let number = value.intValue, let int = Int(exactly: number) else {
            throw ValidationError("\(filePath): \(key) must be a whole number")
        }
        return int
    }

    func bool(_ flag: Bool, _ key: String) throws -> Bool {
        if flag { return true }
        let name = variable(key)
        if let value = environment[name] {
            switch value.lowercased() {
            case "1", "true", "yes": return true
            case "0", "false", "no", "": return false
            default: throw ValidationError("\(name) must be true or false, not \"\(value)\"")
            }
        }
        guard let value = file[key], value != .null else { return false }
        guard case .bool(let flag) = value else { throw ValidationError("\(filePath): \(key) must be true or false") }
        return flag
    }
}
