import Foundation
import OrreryCore
import Testing

/// The checker the contract tests lean on must itself be able to fail: for each rule, a
/// response that breaks it is rejected, and one that keeps it passes.
@Suite("Schema validator rules", .timeLimit(.minutes(5)))
struct SchemaValidatorTests {
    /// A small document: one operation answering 200 (a `Thing`) and `default`.
    static let document = try! JSONValue.parse(Data(#"""
        {"openapi": "3.1.0", "paths": {"/things/{id}": {"get": {"responses": {
          "200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}},
          "default": {"description": "anything else", "content": {"application/problem+json": {"schema": {"type": "object"}}}}
        }}}},
        "components": {"schemas": {"Thing": {"type": "object", "additionalProperties": false, "required": ["id"], "properties": {
          "id": {"type": "string", "minLength": 2, "maxLength": 5, "pattern": "^[a-z]+$"},
          "tags": {"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "string"}},
          "count": {"type": "integer", "minimum": 1, "maximum": 10},
          "ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
          "color": {"type": "string", "enum": ["red", "blue"]},
          "kind": {"const": "thing"},
          "at": {"type": ["string", "null"], "format": "date-time"},
          "shape": {"oneOf": [{"type": "integer"}, {"type": "number", "minimum": 100}]},
          "either": {"anyOf": [{"type": "integer"}, {"type": "boolean"}]}
        }}}}}
        """#.utf8))

    static func check(_ body: String, status: Int = 200, contentType: String = "application/json") -> [String] {
        SchemaValidator(document: document).check(
            method: "GET", path: "/things/abc", status: status, contentType: contentType, body: try! JSONValue.parse(Data(body.utf8)))
    }

    @Test("a conforming response passes")
    func conforming() {
        let body = #"{"id":"abc","tags":["a"],"count":3,"ratio":0.5,"color":"red","kind":"thing","at":"2026-01-01T00:00:00Z","shape":7,"either":true}"#
        #expect(Self.check(body).isEmpty, "\(Self.check(body))")
        #expect(Self.check(#"{"id":"abc","at":null}"#).isEmpty)
    }

    @Test("a status documented only through `default` is not documented")
    func defaultIsNotDocumented() {
        let problems = Self.check(#"{"type":"x"}"#, status: 409, contentType: "application/problem+json")
        #expect(problems.count == 1 && problems[0].contains("status 409 is not documented"), "\(problems)")
    }

    @Test("each broken rule is rejected, naming the rule", arguments: [
        (#"{"id":"a"}"#, "minLength"),
        (#"{"id":"abcdef"}"#, "maxLength"),
        (#"{"id":"ab1"}"#, "does not match"),
        (#"{"id":"abc","tags":[]}"#, "minItems"),
        (#"{"id":"abc","tags":["a","b","c"]}"#, "maxItems"),
        (#"{"id":"abc","count":0}"#, "minimum"),
        (#"{"id":"abc","count":11}"#, "maximum"),
        (#"{"id":"abc","ratio":0}"#, "exclusiveMinimum"),
        (#"{"id":"abc","ratio":1}"#, "exclusiveMaximum"),
        (#"{"id":"abc","color":"green"}"#, "is not one of"),
        (#"{"id":"abc","kind":"other"}"#, #"is not "thing""#),
        (#"{"id":"abc","count":"3"}"#, "is not integer"),
        (#"{"tags":["a"]}"#, "required field id is missing"),
        (#"{"id":"abc","extra":1}"#, "field extra is not in the schema"),
        (#"{"id":"abc","at":"yesterday"}"#, "is not a date-time"),
        (#"{"id":"abc","shape":150}"#, "matches 2 of oneOf"),
        (#"{"id":"abc","shape":"round"}"#, "matches 0 of oneOf"),
        (#"{"id":"abc","either":"x"}"#, "matches none of anyOf"),
    ] as [(String, String)])
    func rejects(_ body: String, _ rule: String) {
        let problems = Self.check(body)
        #expect(problems.contains { $0.contains(rule) }, "\(body): \(problems)")
    }

    @Test("lengths count code points: five accented letters fit maxLength 5")
    func codePoints() {
        #expect(Self.check(#"{"id":"ééééé"}"#).filter { $0.contains("Length") }.isEmpty)
    }

    @Test("a content type the document does not name for the status is rejected")
    func bodyAndContentType() {
        #expect(Self.check(#"{"id":"abc"}"#, contentType: "text/plain").contains { $0.contains("content type text/plain is not documented") })
    }

    @Test("the served document uses no schema keyword this checker does not enforce")
    func everyKeywordEnforced() throws {
        let file = URL(fileURLWithPath: OpenAPITests.documentPath)
        let doc = try JSONValue.parse(Data(contentsOf: file))
        var unknown: Set<String> = []
        func walkSchema(_ schema: JSONValue) {
            guard let object = schema.objectValue else { return }
            for (key, value) in object {
                if !SchemaValidator.enforced.contains(key) && !SchemaValidator.annotations.contains(key) { unknown.insert(key) }
                switch key {
                case "properties": value.objectValue?.values.forEach(walkSchema)
                case "items", "additionalProperties": walkSchema(value)
                case "allOf", "oneOf", "anyOf": value.arrayValue?.forEach(walkSchema)
                default: break
                }
            }
        }
        doc["components"]?["schemas"]?.objectValue?.values.forEach(walkSchema)
        func walkDocument(_ node: JSONValue) {
            if let object = node.objectValue {
                for (key, value) in object {
                    if key == "schema" { walkSchema(value) } else { walkDocument(value) }
                }
            } else if let array = node.arrayValue {
                array.forEach(walkDocument)
            }
        }
        walkDocument(doc["paths"] ?? .null)
        #expect(unknown.isEmpty, "keywords the checker would ignore: \(unknown.sorted())")
    }
}
