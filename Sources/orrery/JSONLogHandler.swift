import Foundation
import Logging
import OrreryCore

/// A swift-log handler that writes one JSON object per line to standard error, for log
/// collectors (journald's JSON fields, Loki, CloudWatch): `timestamp` (RFC 3339, ms),
/// `level`, `label`, `message`, `source`, then each metadata key as a field of its own
/// (a key that would shadow one of those goes under `metadata`).
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    static let reserved: Set<String> = ["timestamp", "level", "label", "message", "source", "metadata"]

    func log(event: LogEvent) {
        var fields: [String: JSONValue] = [
            "timestamp": .string(SystemClock().now().rfc3339), "level": .string(event.level.rawValue),
            "label": .string(label), "message": .string(event.message.description), "source": .string(event.source),
        ]
        var shadowed: [String: JSONValue] = [:]
        // The same merge as the text lines': the line's metadata over the handler's, and an error.
        for (key, value) in TextLogHandler.merged(metadata, provided: nil, explicit: event.metadata, error: event.error) {
            if Self.reserved.contains(key) { shadowed[key] = Self.json(value) } else { fields[key] = Self.json(value) }
        }
        if !shadowed.isEmpty { fields["metadata"] = .object(shadowed) }
        FileHandle.standardError.write(Data((JSONValue.object(fields).jsonText + "\n").utf8))
    }

    static func json(_ value: Logger.Metadata.Value) -> JSONValue {
        switch value {
        case .string(let text): .string(text)
        // Numbers and flags stay numbers and flags, so a collector can compare them.
        case .stringConvertible(let value as Int): .int(Int64(value))
        case .stringConvertible(let value as Double): .double(value)
        case .stringConvertible(let value as Bool): .bool(value)
        case .stringConvertible(let value): .string(value.description)
        case .array(let values): .array(values.map(json))
        case .dictionary(let values): .object(values.mapValues(json))
        }
    }
}
