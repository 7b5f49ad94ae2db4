import Foundation
import OrreryCore

/// Checks a response against the OpenAPI document the server serves: the operation is
/// found by method and path template, the response by its status listed explicitly (a
/// `default` response documents nothing: a status the document does not name is a
/// mismatch), and the body is validated against its JSON Schema — the keywords in
/// `enforced` (`type` with null, `required`, `properties`, `additionalProperties`, `items`,
/// `enum`, `const`, `$ref`, `allOf`, `oneOf` as exactly one, `anyOf` as at least one,
/// numeric bounds, string lengths in code points, `pattern`, item counts, `date-time`).
/// A schema keyword outside `enforced` and `annotations` fails its own test, so the document
/// cannot grow a rule this checker silently ignores.
struct SchemaValidator {
    let document: JSONValue

    /// The JSON Schema keywords this checker enforces.
    static let enforced: Set<String> = [
        "type", "required", "properties", "additionalProperties", "items", "enum", "const", "$ref", "allOf", "oneOf", "anyOf",
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "pattern", "minItems", "maxItems",
        "format",
    ]
    /// Keywords that say nothing about validity.
    static let annotations: Set<String> = ["description", "title", "example", "examples", "default", "deprecated", "readOnly", "writeOnly"]

    /// Problems found; empty when the response conforms.
    func check(method: String, path: String, status: Int, contentType: String?, body: JSONValue) -> [String] {
        let pathOnly = String(path.split(separator: "?", maxSplits: 1).first ?? "")
        guard let (template, operations) = operation(for: pathOnly) else { return ["no path in the document matches \(pathOnly)"] }
        guard let op = operations[method.lowercased()] else { return ["\(method) \(template) is not in the document"] }
        let responses = op["responses"]?.objectValue ?? [:]
        guard let response = responses[String(status)].map(resolve) else {
            return ["\(method) \(template): status \(status) is not documented (listed: \(responses.keys.filter { $0 != "default" }.sorted()))"]
        }
        guard let content = response["content"]?.objectValue, !content.isEmpty else {
            return body == .null ? [] : ["\(method) \(template) \(status): a body where the document has none"]
        }
        let type = contentType?.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard let media = content[type] else {
            return ["\(method) \(template) \(status): content type \(type) is not documented (\(content.keys.sorted()))"]
        }
        guard let schema = media["schema"] else { return [] }
        return validate(body, against: schema, at: "\(method) \(template) \(status) $")
    }

    private func operation(for path: String) -> (String, [String: JSONValue])? {
        let parts = path.split(separator: "/")
        for (template, ops) in document["paths"]?.objectValue ?? [:] {
            let tparts = template.split(separator: "/")
            guard tparts.count == parts.count else { continue }
            if zip(tparts, parts).allSatisfy({ $0.hasPrefix("{") || $0 == $1 }), let ops = ops.objectValue {
                return (template, ops)
            }
        }
        return nil
    }

    private func resolve(_ schema: JSONValue) -> JSONValue {
        guard let ref = schema["$ref"]?.stringValue, ref.hasPrefix("#/") else { return schema }
        var node = document
        for part in ref.dropFirst(2).split(separator: "/") { node = node[String(part)] ?? .null }
        return resolve(node)
    }

    func validate(_ value: JSONValue, against raw: JSONValue, at where_: String) -> [String] {
        let schema = resolve(raw)
        var problems: [String] = []
        if let all = schema["allOf"]?.arrayValue {
            for part in all { problems += validate(value, against: part, at: where_) }
        }
        if let options = schema["oneOf"]?.arrayValue {
            let matching = options.filter { validate(value, against: $0, at: where_).isEmpty }.count
            if matching != 1 { problems.append("\(where_): matches \(matching) of oneOf's \(options.count) schemas, not exactly one") }
        }
        if let options = schema["anyOf"]?.arrayValue, !options.contains(where: { validate(value, against: $0, at: where_).isEmpty }) {
            problems.append("\(where_): matches none of anyOf")
        }
        if let allowed = schema["enum"]?.arrayValue, !allowed.contains(value) {
            problems.append("\(where_): \(value.jsonText) is not one of \(JSONValue.array(allowed).jsonText)")
        }
        if let constant = schema["const"], constant != value {
            problems.append("\(where_): \(value.jsonText) is not \(constant.jsonText)")
        }
        if let types = typeNames(schema["type"]), !types.contains(where: { matches(value, $0) }) {
            problems.append("\(where_): \(value.jsonText.prefix(80)) is not \(types.joined(separator: "|"))")
            return problems
        }
        switch value {
        case .object(let object):
            for name in schema["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where object[name] == nil {
                problems.append("\(where_): required field \(name) is missing")
            }
            let properties = schema["properties"]?.objectValue ?? [:]
            for (name, field) in object {
                if let propertySchema = properties[name] {
                    problems += validate(field, against: propertySchema, at: "\(where_).\(name)")
                } else if schema["additionalProperties"] == .bool(false) {
                    problems.append("\(where_): field \(name) is not in the schema")
                } else if let extra = schema["additionalProperties"], extra.objectValue != nil {
                    problems += validate(field, against: extra, at: "\(where_).\(name)")
                }
            }
        case .array(let items):
            if let itemSchema = schema["items"] {
                for (i, item) in items.enumerated() { problems += validate(item, against: itemSchema, at: "\(where_)[\(i)]") }
            }
            if let min = schema["minItems"]?.intValue.map(Int.init), items.count < min { problems.append("\(where_): \(items.count) items < minItems \(min)") }
            if let max = schema["maxItems"]?.intValue.map(Int.init), items.count > max { problems.append("\(where_): \(items.count) items > maxItems \(max)") }
        case .int, .double:
            let number: Double = switch value { case .int(let i): Double(i); case .double(let d): d; default: 0 }
            if let min = schema["minimum"].flatMap(Self.double), number < min { problems.append("\(where_): \(number) < minimum \(min)") }
            if let max = schema["maximum"].flatMap(Self.double), number > max { problems.append("\(where_): \(number) > maximum \(max)") }
            if let min = schema["exclusiveMinimum"].flatMap(Self.double), number <= min { problems.append("\(where_): \(number) <= exclusiveMinimum \(min)") }
            if let max = schema["exclusiveMaximum"].flatMap(Self.double), number >= max { problems.append("\(where_): \(number) >= exclusiveMaximum \(max)") }
        case .string(let text):
            if schema["format"] == .string("date-time"), Timestamp(rfc3339: text) == nil {
                problems.append("\(where_): \"\(text)\" is not a date-time")
            }
            // JSON Schema counts lengths in code points, not grapheme clusters or bytes.
            let length = text.unicodeScalars.count
            if let min = schema["minLength"]?.intValue.map(Int.init), length < min { problems.append("\(where_): length \(length) < minLength \(min)") }
            if let max = schema["maxLength"]?.intValue.map(Int.init), length > max { problems.append("\(where_): length \(length) > maxLength \(max)") }
            if let pattern = schema["pattern"]?.stringValue {
                // Unanchored, as JSON Schema's ECMA-262 patterns are: anchors are the pattern's own.
                if let regex = try? NSRegularExpression(pattern: pattern) {
                    if regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) == nil {
                        problems.append("\(where_): \"\(text.prefix(80))\" does not match \(pattern)")
                    }
                } else {
                    problems.append("\(where_): the document's pattern \(pattern) is not a regular expression")
                }
            }
        default:
            break
        }
        return problems
    }

    private func typeNames(_ type: JSONValue?) -> [String]? {
        switch type {
        case .string(let name)?: [name]
        case .array(let names)?: names.compactMap(\.stringValue)
        default: nil
        }
    }

    private func matches(_ value: JSONValue, _ type: String) -> Bool {
        switch (type, value) {
        case ("null", .null), ("boolean", .bool), ("string", .string), ("array", .array), ("object", .object): true
        case ("integer", .int): true
        case ("integer", .double(let d)): d.rounded() == d
        case ("number", .int), ("number", .double): true
        default: false
        }
    }

    private static func double(_ value: JSONValue) -> Double? {
        switch value {
        case .int(let i): Double(i)
        case .double(let d): d
        default: nil
        }
    }
}
