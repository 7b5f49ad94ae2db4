/// A module descriptor as JSON: what `POST /v1/modules` accepts, `GET /v1/modules` shows, and
/// stores keep for external modules.
extension ModuleDescriptor {
    /// Reads a descriptor (`name`, `description` by locale with `en-US`, `params`,
    /// `required_right`); errors name the field (`params[1].type`).
    public static func parse(_ value: JSONValue) throws -> ModuleDescriptor {
        var r = try FieldReader(value)
        let name = try r.requiredString("name", maxLength: 100)
        guard isValidName(name) else {
            throw OrreryError(.invalidField, "must be 1-100 lowercase letters, digits, '-', '_' or '.', starting with a letter", field: "name")
        }
        let description = try r.stringMap("description", maxLength: 2000) ?? [:]
        guard description["en-US"] != nil else {
            throw OrreryError(.missingField, "needs an \"en-US\" entry", field: "description.en-US")
        }
        var params: [ParamSpec] = []
        if let list = r.value("params") {
            guard let items = list.arrayValue, items.count <= 100 else {
                throw OrreryError(.invalidField, "must be a list of at most 100 parameters", field: "params")
            }
            for (i, item) in items.enumerated() {
                params.append(try ParamSpec.parse(item, path: "params[\(i)]", position: i))
            }
            var seen = Set<String>()
            for (i, p) in params.enumerated() where !seen.insert(p.name).inserted {
                throw OrreryError(.invalidField, "\"\(p.name)\" is declared twice", field: "params[\(i)].name")
            }
        }
        let right = try r.string("required_right", maxLength: 50)
        if let right, right.isEmpty || !right.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") }) {
            throw OrreryError(.invalidField, "must be a right name like \"shell\" (lowercase letters, digits, '_')", field: "required_right")
        }
        try r.rejectUnknownFields()
        return ModuleDescriptor(name: name, description: description, params: params, requiredRight: right)
    }

    /// Module names: what task `module` fields and worker `modules` lists name.
    public static func isValidName(_ name: String) -> Bool {
        guard (1...100).contains(name.count), let first = name.first, first.isASCII, first.isLowercase else { return false }
        return name.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || "-_.".contains($0)) }
    }

    /// The JSON form (the catalogue's and the store's).
    public var catalogueJSON: JSONValue {
        .object([
            "name": .string(name), "description": .object(description.mapValues(JSONValue.string)),
            "params": .array(params.sorted { $0.position < $1.position }.map { p in
                .object([
                    "name": .string(p.name), "type": .string(p.type.rawValue), "required": .bool(p.required),
                    "default": p.defaultValue ?? .null, "description": .object(p.description.mapValues(JSONValue.string)),
                    "group": p.group.map(JSONValue.string) ?? .null, "position": .int(Int64(p.position)),
                ])
            }),
            "required_right": requiredRight.map(JSONValue.string) ?? .null,
        ])
    }
}

extension ParamSpec {
    static func parse(_ value: JSONValue, path: String, position defaultPosition: Int) throws -> ParamSpec {
        var r = try FieldReader(value, path: path)
        let name = try r.requiredString("name", maxLength: 100)
        guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
            throw OrreryError(.invalidField, "must be 1-100 letters, digits or '_'", field: r.fieldPath("name"))
        }
        let typeName = try r.requiredString("type", maxLength: 20)
        guard let type = Kind(rawValue: typeName) else {
            throw OrreryError(.invalidField, "must be string, integer, number, boolean, object or string_array, not \"\(typeName)\"", field: r.fieldPath("type"))
        }
        let required = try r.bool("required") ?? false
        let defaultValue = r.value("default")
        if let defaultValue, !type.accepts(defaultValue) {
            throw OrreryError(.invalidField, "must be \(type.phrase), not \(defaultValue.typeName)", field: r.fieldPath("default"))
        }
        let description = try r.stringMap("description", maxLength: 2000) ?? [:]
        let group = try r.string("group", maxLength: 100)
        let position = Int(try r.int("position", in: 0...10_000) ?? Int64(defaultPosition))
        try r.rejectUnknownFields()
        return ParamSpec(name: name, type: type, required: required, defaultValue: defaultValue, description: description, group: group, position: position)
    }
}
