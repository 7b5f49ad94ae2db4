#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import Synchronization

/// The text log line of swift-log's `StreamLogHandler`, the same text
/// (`2026-12-05T08:11:56+0000 info orrery: key=value … [source] message`), written to standard
/// error with one `write` per line.
///
/// What it does differently is the cost: `StreamLogHandler` calls `localtime`, which re-reads
/// the time zone file on every line (an `fstatat` of /etc/localtime: 3.4% of a `GET /healthz`
/// request's CPU, one log line each), and sorts the metadata into a string of strings. Here
/// the time stamp is made once a second and shared by every line of that second, and the line
/// is built in one string.
struct TextLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    init(label: String, logLevel: Logger.Level, metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider) {
        self.label = label
        self.logLevel = logLevel
        self.metadataProvider = metadataProvider
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        Self.emit(Self.lineBytes(
            timestamp: Self.stamp.now(), level: event.level, label: label,
            metadata: Self.merged(metadata, provided: metadataProvider?.get(), explicit: event.metadata, error: event.error),
            source: event.source, message: event.message))
    }

    /// The line `StreamLogHandler` writes for these parts, newline included, as UTF-8 in one
    /// array: every request writes one, and appending `String` pieces cost about 12,000
    /// instructions a line (issue 16, GET by id).
    static func lineBytes(
        timestamp: String, level: Logger.Level, label: String, metadata: Logger.Metadata,
        source: String, message: Logger.Message
    ) -> [UInt8] {
        var line: [UInt8] = []
        line.reserveCapacity(256)
        line += timestamp.utf8
        line.append(UInt8(ascii: " "))
        line += level.rawValue.utf8
        if !label.isEmpty { line.append(UInt8(ascii: " ")) }
        line += label.utf8
        line.append(UInt8(ascii: ":"))
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            line.append(UInt8(ascii: " "))
            line += key.utf8
            line.append(UInt8(ascii: "="))
            if case .string(let text) = value { line += text.utf8 } else { line += value.description.utf8 }
        }
        line += " [".utf8
        line += source.utf8
        line += "] ".utf8
        line += message.description.utf8
        line.append(UInt8(ascii: "\n"))
        return line
    }

    /// The handler's own metadata, then the provider's, then the line's, each overriding the
    /// one before; an error as `error.message` and `error.type` (as `StreamLogHandler` does).
    static func merged(_ base: Logger.Metadata, provided: Logger.Metadata?, explicit: Logger.Metadata?, error: (any Error)?) -> Logger.Metadata {
        var metadata = base
        if let provided, !provided.isEmpty { metadata.merge(provided) { _, new in new } }
        if let explicit, !explicit.isEmpty { metadata.merge(explicit) { _, new in new } }
        if let error {
            metadata["error.message"] = "\(error)"
            metadata["error.type"] = "\(String(reflecting: type(of: error)))"
        }
        return metadata
    }

    private static func emit(_ line: [UInt8]) {
        line.withUnsafeBytes { bytes in
            var rest = bytes
            while !rest.isEmpty {
                let written = write(STDERR_FILENO, rest.baseAddress, rest.count)
                if written < 0 {
                    if errno == EINTR { continue }
                    return  // standard error is gone: a log line is not worth failing for
                }
                rest = UnsafeRawBufferPointer(rebasing: rest[written...])
            }
        }
    }

    static let stamp = SecondStamp()

    /// The local time as `StreamLogHandler` writes it (`%Y-%m-%dT%H:%M:%S%z`), made once per
    /// second; the time zone is looked up again each time it is made, so a change of the
    /// machine's zone shows within a second, as it did.
    final class SecondStamp: Sendable {
        private let cached = Mutex<(second: time_t, text: String)>((-1, ""))

        func now() -> String {
            var second = time(nil)
            if let text = cached.withLock({ $0.second == second ? $0.text : nil }) { return text }
            tzset()
            var local = tm()
            guard localtime_r(&second, &local) != nil else { return "<unknown>" }
            var buffer = [CChar](repeating: 0, count: 64)
            let count = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &local)
            let text = String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            cached.withLock { $0 = (second, text) }
            return text
        }
    }
}
