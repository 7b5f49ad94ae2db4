import Foundation

/// A tool a test needs from outside Swift (croniter, schemathesis, openapi-spec-validator,
/// the PostgreSQL test server), named by a variable `scripts/test` sets. Without CI a
/// missing one skips its test and says why; with `CI=true` the test runs and fails, so CI
/// never passes by skipping what it was meant to check.
public enum Prerequisite {
    static var environment: [String: String] { ProcessInfo.processInfo.environment }

    /// Whether this is a CI run (`CI=true`, as `.ci/run` sets it): missing tools fail.
    public static var onCI: Bool { ["1", "true", "yes"].contains(environment["CI"]?.lowercased() ?? "") }

    /// The value of `variable`, or nil when it is unset or empty.
    public static func path(_ variable: String) -> String? {
        environment[variable].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Whether a test that needs `variable` runs: when it is set, and always on CI (where a
    /// missing one then fails through `require`). For `.enabled(if:)`.
    public static func runs(_ variable: String) -> Bool { path(variable) != nil || onCI }

    /// Whether the PostgreSQL tests run: a server is named, or this is CI (which then fails
    /// them if it is not).
    public static var postgresRuns: Bool { runs("ORRERY_TEST_POSTGRES_URL") }

    /// The executable `variable` names, or an error that says how to get it.
    public static func require(_ variable: String, _ what: String) throws -> String {
        guard let path = path(variable), FileManager.default.isExecutableFile(atPath: path) else {
            throw Missing(description: "\(variable) must name \(what) (scripts/test sets it); with CI=true a missing prerequisite fails instead of skipping")
        }
        return path
    }

    /// A prerequisite that is not there.
    public struct Missing: Error, CustomStringConvertible {
        public let description: String
    }
}
