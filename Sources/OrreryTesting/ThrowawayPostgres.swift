import Foundation

/// A private PostgreSQL server for one test (`scripts/postgres-test-server`), which the
/// test may stop and start under load without disturbing tests that share the main one.
public struct ThrowawayPostgres: Sendable {
    /// A database on it that tests may use.
    public let url: String
    public let directory: String
    let script: String

    /// Starts one (the script installs PostgreSQL when it is missing).
    public static func start(repositoryRoot: String) throws -> ThrowawayPostgres {
        let script = repositoryRoot + "/scripts/postgres-test-server"
        let output = try run(script, ["start"])
        var exports: [String: String] = [:]
        for line in output.split(separator: "\n") where line.hasPrefix("export ") {
            let pair = line.dropFirst("export ".count).split(separator: "=", maxSplits: 1)
            if pair.count == 2 { exports[String(pair[0])] = String(pair[1]).trimmingCharacters(in: CharacterSet(charactersIn: "'")) }
        }
        guard let url = exports["ORRERY_TEST_POSTGRES_URL"], let dir = exports["ORRERY_TEST_PG_DIR"] else {
            throw CommandFailed(description: "\(script) start printed no server")
        }
        return ThrowawayPostgres(url: url, directory: dir, script: script)
    }

    /// `pg_ctl stop -m fast`: every client is disconnected and new ones are refused.
    public func pause() throws { _ = try Self.run(script, ["pause", directory]) }
    /// Starts it again on the same port.
    public func resume() throws { _ = try Self.run(script, ["resume", directory]) }
    public func stop() { _ = try? Self.run(script, ["stop", directory]) }

    /// Runs the script to its end and returns what it printed.
    @discardableResult
    static func run(_ executable: String, _ arguments: [String]) throws -> String {
        let finished = try ChildProcess.run(executable, arguments)
        guard finished.succeeded else {
            throw CommandFailed(description: "\(executable) \(arguments.joined(separator: " ")) exited with status \(finished.status)")
        }
        return finished.output
    }
}

/// A helper command that did not succeed.
public struct CommandFailed: Error, CustomStringConvertible {
    public let description: String
}
