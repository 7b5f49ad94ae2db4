import Foundation
import OrreryCore

/// Waits until `condition` holds, checking every few milliseconds of real time, and fails
/// (throws) after `timeout`. An expectation with a timeout, not a fixed sleep: it returns as
/// soon as the condition is true, so the generous default (a loaded 2-core CI machine runs
/// the engine slowly) costs nothing when things work.
public func eventually(
    timeout: Duration = .seconds(60), _ what: @autoclosure () -> String = "condition",
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    while ContinuousClock.now < deadline {
        // A store that is briefly unavailable (a PostgreSQL pool with no free connection while
        // the whole suite runs) is asked again, as a user would retry; other errors end the wait.
        do {
            if try await condition() { return }
        } catch let error as OrreryError where error.code == .unavailable {}
        try await Task.sleep(for: .milliseconds(5))
    }
    if try await condition() { return }
    throw TimedOut(what: what())
}

public struct TimedOut: Error, CustomStringConvertible {
    public let what: String
    public init(what: String) { self.what = what }
    public var description: String { "timed out waiting for \(what)" }
}

/// A fresh temporary directory, removed when the value's owner calls `remove()`.
public struct TemporaryDirectory: Sendable {
    public let path: String

    public init() throws {
        path = NSTemporaryDirectory() + "orrery-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// An existing directory, as a test chose it (a server's data directory).
    public static func at(_ path: String) -> TemporaryDirectory { TemporaryDirectory(path: path) }
    private init(path: String) { self.path = path }

    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    public func remove() { try? FileManager.default.removeItem(atPath: path) }
}
