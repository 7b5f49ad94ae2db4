import Foundation
import OrreryTesting

/// Tools some operations tests need from outside Swift (a Python with prometheus_client, a
/// release binary), named by variables that `scripts/test` sets. Without CI a missing one
/// skips its test and says why; with `CI=true` the test runs and fails, so CI never passes
/// by skipping.
enum Prerequisites {
    static let environment = ProcessInfo.processInfo.environment
    static var onCI: Bool { ["1", "true", "yes"].contains(environment["CI"]?.lowercased() ?? "") }

    /// The tool a variable names, or nil (the test's `.enabled` then skips it, unless on CI).
    static func path(_ variable: String) -> String? {
        environment[variable].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Whether a test that needs `variable` runs: when it is set, and always on CI.
    static func runs(_ variable: String) -> Bool { path(variable) != nil || onCI }

    /// The tool, or an error that says how to get it.
    static func require(_ variable: String, _ what: String) throws -> String {
        guard let path = path(variable), FileManager.default.isExecutableFile(atPath: path) else {
            throw MissingPrerequisite(description: "\(variable) must name \(what) (scripts/test sets it); CI=true fails instead of skipping")
        }
        return path
    }

    struct MissingPrerequisite: Error, CustomStringConvertible { let description: String }

    /// Runs a program with `input` on standard input and returns its standard output (as a
    /// shell's `$(…)` would: its log on standard error stays out, and is shown if it fails); fails
    /// when it exits non-zero or outlives `timeout`. Waits without blocking a thread (a server
    /// under test may share this process).
    static func run(_ executable: String, _ arguments: [String], input: [UInt8] = [], timeout: Duration = .seconds(60)) async throws -> String {
        guard let finished = try await ChildProcess.run(executable, arguments, input: input, timeout: timeout) else {
            throw TimedOut(what: "\(executable) \(arguments.joined(separator: " "))")
        }
        guard finished.status == 0 else {
            throw MissingPrerequisite(description: "\(executable) exited \(finished.status): \(finished.output.suffix(1000)) \(finished.errors.suffix(1000))")
        }
        return finished.output
    }

    /// The repository's root (for scripts/).
    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }
}
