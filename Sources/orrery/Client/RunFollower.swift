import Foundation
import OrreryCore
#if canImport(Glibc)
import Glibc
#endif

/// Follows one run through the live stream until it ends: prints its log lines as they come,
/// draws a progress bar on a terminal while the run reports progress, and returns the run's
/// last state. A dropped stream is resumed with `Last-Event-ID` (a few times, then unreachable).
struct RunFollower {
    let context: ClientContext
    /// Print log lines (`run logs -f`), or only wait for the end (`task run --wait`).
    let printLogs: Bool

    func follow(_ runID: String, timeout: Duration?) async throws -> JSONValue {
        guard let timeout else { return try await follow(runID) }
        return try await withThrowingTaskGroup(of: JSONValue?.self) { group in
            group.addTask { try await follow(runID) }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let result = try await group.next(), let run = result else {
                throw ClientError(.timeout, "run \(runID) did not end within \(timeout.components.seconds)s (it goes on; `orrery run show \(runID)`)")
            }
            return run
        }
    }

    private func follow(_ runID: String) async throws -> JSONValue {
        let bar = ProgressBar(enabled: context.out.isTable && isatty(STDERR_FILENO) == 1)
        defer { bar.clear() }
        var lastEventID: String?
        var drops = 0
        while true {
            let events = try await context.api.events(
                query: [("run_id", runID), ("logs", printLogs ? "true" : "false")], lastEventID: lastEventID)
            do {
                for try await event in events {
                    lastEventID = event.id ?? lastEventID
                    guard let json = try? JSONValue.parse(Array(event.data.utf8)) else { continue }
                    switch event.event {
                    case "log":
                        bar.clear()
                        printLine(json)
                        bar.redraw()
                    case "run":
                        if let status = json["status"]?.stringValue, RunStatus(rawValue: status)?.isFinished == true { return json }
                        bar.update(json["progress"])
                    default:
                        break
                    }
                }
            } catch let error as ClientError where error.status == .unreachable {
                // The connection dropped mid-stream: resume below like an ended stream.
                _ = error
            }
            // The server ended the stream (it shut down, or the stream's lifetime passed): resume.
            drops += 1
            if drops > 5 { throw ClientError(.unreachable, "the event stream of run \(runID) keeps ending; \(context.api.baseURL) may be shutting down") }
            try await Task.sleep(for: .milliseconds(200 * drops))
        }
    }

    private func printLine(_ entry: JSONValue) {
        switch context.out.format {
        case .table:
            let level = entry["level"]?.stringValue ?? "info"
            let stamp = entry["timestamp"]?.stringValue.map { context.out.timeFormat == .iso ? $0 : String($0.dropFirst(11).prefix(8)) } ?? ""
            let shown = level == "info" ? "" : level.uppercased() + " "
            let levelCell = Cell(shown, color: context.out.color && (level == "error" || level == "warning") ? (level == "error" ? "31" : "33") : nil)
            say("\(Cell(stamp, color: context.out.color ? "90" : nil).rendered) \(levelCell.rendered)\(entry["msg"]?.stringValue ?? "")")
        case .json, .jsonl:
            say(entry.jsonText)
        }
    }
}

/// A one-line progress bar on standard error (a terminal only), redrawn in place.
final class ProgressBar: @unchecked Sendable {
    private let enabled: Bool
    private var line = ""

    init(enabled: Bool) { self.enabled = enabled }

    func update(_ progress: JSONValue?) {
        guard enabled, let progress else { return }
        let percent: Double? = switch progress["percent"] {
        case .double(let d)?: d
        case .int(let i)?: Double(i)
        default: nil
        }
        guard let percent else { return }
        let filled = Int((min(max(percent, 0), 100) / 100 * 30).rounded())
        line = "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: 30 - filled) + "] "
            + String(format: "%3.0f%%", percent) + (progress["message"]?.stringValue.map { " " + $0 } ?? "")
        redraw()
    }

    func redraw() {
        guard enabled, !line.isEmpty else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K\(line)".utf8))
    }

    func clear() {
        guard enabled, !line.isEmpty else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}
