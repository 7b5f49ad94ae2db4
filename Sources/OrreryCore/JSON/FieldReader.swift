/// Reads a JSON object field by field, so every error names the field (`schedule.every_sec`)
/// and the reason, and a field the reader never asked for is reported as unknown.
public struct FieldReader {
    public let object: [String: JSONValue]
    public let path: String
    private var seen: Set<String> = []

    public init(_ value: JSONValue, path: String = "") throws {
        guard case .object(let object) = value else {
            throw OrreryError(.invalidField, "must be an object, not \(value.typeName)", field: path.isEmpty ? nil : path)
        }
        self.object = object
        self.path = path
    }

    public func fieldPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// The raw value, or nil when absent or `null`.
    public mutating func value(_ key: String) -> JSONValue? {
        seen.insert(key)
        guard let v = object[key], v != .null else { return nil }
        return v
    }

    public mutating func required(_ key: String) throws -> JSONValue {
        guard let v = value(key) else {
            throw OrreryError(.missingField, "is required", field: fieldPath(key))
        }
        return v
    }

    public func has(_ key: String) -> Bool { object[key] != nil }

    public mutating func string(_ key: String, maxLength: Int = 10_000) throws -> String? {
        guard let v = value(key) else { return nil }
        guard case .string(let s) = v else { throw typeError(key, "a string", v) }
        guard s.count <= maxLength else {
            throw OrreryError(.invalidField, "must be at most \(maxLength) characters", field: fieldPath(key))
        }
        return s
    }

    public mutating func requiredString(_ key: String, maxLength: Int = 10_000) throws -> String {
        guard let s = try string(key, maxLength: maxLength) else {
            throw OrreryError(.missingField, "is required", field: fieldPath(key))
        }
        return s
    }

    public mutating func int(_ key: String, in range: ClosedRange<Int64>? = nil) throws -> Int64? {
        guard let v = value(key) else { return nil }
        let i: Int64
        switch v {
        case .int(let n): i = n
        case .double(let d) where d.rounded() == d && abs(d) < 9e15: i = Int64(d)
        default: throw typeError(key, "an integer", v)
        }
        if let range, !range.contains(i) {
            throw OrreryError(.invalidField, "\(i) is out of range \(range.lowerBound)-\(range.upperBound)", field: fieldPath(key))
        }
        return i
    }

    public mutating func bool(_ key: String) throws -> Bool? {
        guard let v = value(key) else { return nil }
        guard case .bool(let b) = v else { throw typeError(key, "a boolean", v) }
        return b
    }

    public mutating func timestamp(_ key: String) throws -> Timestamp? {
        guard let v = value(key) else { return nil }
        guard case .string(let s) = v else { throw typeError(key, "an RFC 3339 time string", v) }
        guard let t = Timestamp(rfc3339: s) else {
            throw OrreryError(.invalidField, "\"\(s)\" is not an RFC 3339 time (e.g. 2026-12-01T09:00:00Z)", field: fieldPath(key))
        }
        return t
    }

    public mutating func object(_ key: String) throws -> FieldReader? {
        guard let v = value(key) else { return nil }
        return try FieldReader(v, path: fieldPath(key))
    }

    public mutating func stringMap(_ key: String, maxEntries: Int = 64, maxLength: Int = 1000) throws -> [String: String]? {
        guard let v = value(key) else { return nil }
        guard case .object(let o) = v else { throw typeError(key, "an object of strings", v) }
        guard o.count <= maxEntries else {
            throw OrreryError(.invalidField, "must have at most \(maxEntries) entries", field: fieldPath(key))
        }
        var out: [String: String] = [:]
        for (k, value) in o {
            guard case .string(let s) = value else {
                throw OrreryError(.invalidField, "must be a string, not \(value.typeName)", field: "\(fieldPath(key)).\(k)")
            }
            guard k.count <= 200, s.count <= maxLength else {
                throw OrreryError(.invalidField, "is too long", field: "\(fieldPath(key)).\(k)")
            }
            out[k] = s
        }
        return out
    }

    /// Throws for the first field the caller never read: unknown JSON fields are a 400.
    public func rejectUnknownFields() throws {
        if let unknown = object.keys.sorted().first(where: { !seen.contains($0) }) {
            throw OrreryError(.unknownField, "is not a known field", field: fieldPath(unknown))
        }
    }

    public func typeError(_ key: String, _ expected: String, _ got: JSONValue) -> OrreryError {
        OrreryError(.invalidField, "must be \(expected), not \(got.typeName)", field: fieldPath(key))
    }
}
