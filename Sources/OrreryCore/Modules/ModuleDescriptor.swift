/// What a module is, as the catalogue shows it (SPEC §4, 001 `task_module`, 002 `task_type`):
/// a name, a localized description, a parameter schema, and the right a caller needs.
public struct ModuleDescriptor: Sendable, Hashable {
    public var name: String
    /// Description by locale (`en-US`, `de-DE`, …); `en-US` is always present.
    public var description: [String: String]
    public var params: [ParamSpec]
    /// A right a caller needs to create tasks of this module (`shell` for the shell module).
    public var requiredRight: String?

    public init(name: String, description: [String: String], params: [ParamSpec] = [], requiredRight: String? = nil) {
        self.name = name
        self.description = description
        self.params = params
        self.requiredRight = requiredRight
    }

    /// Checks `params` against the schema: an object, no unknown names, required present,
    /// each of its declared type. Errors name the parameter (`params.command`).
    public func validate(params value: JSONValue, path: String = "params") throws {
        guard case .object(let object) = value else {
            throw OrreryError(.invalidParams, "must be an object, not \(value.typeName)", field: path)
        }
        let known = Dictionary(uniqueKeysWithValues: params.map { ($0.name, $0) })
        if let unknown = object.keys.sorted().first(where: { known[$0] == nil }) {
            throw OrreryError(.invalidParams, "is not a parameter of module \"\(name)\"", field: "\(path).\(unknown)")
        }
        for spec in params {
            guard let v = object[spec.name], v != .null else {
                if spec.required { throw OrreryError(.invalidParams, "is required by module \"\(name)\"", field: "\(path).\(spec.name)") }
                continue
            }
            guard spec.type.accepts(v) else {
                throw OrreryError(.invalidParams, "must be \(spec.type.phrase), not \(v.typeName)", field: "\(path).\(spec.name)")
            }
        }
    }
}

/// One parameter of a module.
public struct ParamSpec: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        case string, integer, number, boolean, object
        case stringArray = "string_array"

        var phrase: String {
            switch self {
            case .string: "a string"
            case .integer: "an integer"
            case .number: "a number"
            case .boolean: "a boolean"
            case .object: "an object"
            case .stringArray: "an array of strings"
            }
        }

        func accepts(_ v: JSONValue) -> Bool {
            switch (self, v) {
            case (.string, .string), (.integer, .int), (.number, .int), (.number, .double), (.boolean, .bool), (.object, .object):
                return true
            case (.integer, .double(let d)):
                return d.rounded() == d
            case (.stringArray, .array(let items)):
                return items.allSatisfy { if case .string = $0 { true } else { false } }
            default:
                return false
            }
        }
    }

    public var name: String
    public var type: Kind
    public var required: Bool
    public var defaultValue: JSONValue?
    public var description: [String: String]
    public var group: String?
    public var position: Int

    public init(name: String, type: Kind, required: Bool = false, defaultValue: JSONValue? = nil,
                description: [String: String] = [:], group: String? = nil, position: Int = 0) {
        self.name = name; self.type = type; self.required = required; self.defaultValue = defaultValue
        self.description = description; self.group = group; self.position = position
    }
}
