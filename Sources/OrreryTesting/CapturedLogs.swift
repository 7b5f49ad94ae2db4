public import Logging
import OrreryEngine

/// What a logger logged, by level.
public final class CapturedLogs: Sendable {
    public init() {}

    private let lines = Locked<[(level: Logger.Level, message: String)]>([])

    public var logger: Logger { Logger(label: "captured") { _ in Handler(sink: self) } }

    public func at(_ level: Logger.Level) -> [String] { lines.withLock { $0.filter { $0.level == level }.map(\.message) } }

    private struct Handler: LogHandler {
        let sink: CapturedLogs
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            sink.lines.withLock { $0.append((event.level, "\(event.message) \(event.metadata ?? [:])")) }
        }
    }
}
