import Foundation
import OrreryCore
import OrreryTesting
import Testing

@Suite("OpenAPI document")
struct OpenAPITests {
    /// The required fields of a component schema, as the served document says.
    static func required(_ schema: String, in doc: JSONValue) -> [String] {
        doc["components"]?["schemas"]?[schema]?["required"]?.arrayValue?.compactMap(\.stringValue) ?? []
    }

    @Test("served at /openapi.json without a token, valid OpenAPI 3.1, and responses carry every required field")
    func servedAndHonoured() async throws {
        try await InProcessServer.with { api, _ in
            var anonymous = api
            anonymous.token = nil
            let doc = try await anonymous.get("/openapi.json")
            #expect(doc.status == 200 && doc["openapi"] == .string("3.1.0"))
            let paths = Set(doc["paths"]?.objectValue?.keys.map { $0 } ?? [])
            #expect(paths.isSuperset(of: ["/v1/tasks", "/v1/tasks/{id}", "/v1/runs", "/v1/runs/{id}/logs", "/v1/modules", "/v1/schedules/preview"]))

            let task = try await api.post("/v1/tasks", #"{"name":"doc","module":"noop","schedule":{"type":"interval","every_sec":60}}"#)
            for field in Self.required("Task", in: doc.json) { #expect(task[field] != nil, "Task.\(field)") }
            let run = try await api.post("/v1/tasks/\(try require(task["id"]?.stringValue))/run")
            for field in Self.required("Run", in: doc.json) { #expect(run[field] != nil, "Run.\(field)") }
            let problem = try await api.get("/v1/tasks/nope")
            for field in Self.required("Problem", in: doc.json) { #expect(problem[field] != nil, "Problem.\(field)") }
            let page = try await api.get("/v1/runs")
            for field in ["items", "next_cursor", "total_count"] { #expect(page[field] != nil) }
        }
    }

    @Test("the document passes openapi-spec-validator (when it is installed)",
          .enabled(if: OpenAPITests.validatorAvailable, "python3 with openapi_spec_validator is not installed"))
    func validates() throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/OrreryHTTP/Resources/openapi.json").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import json,sys; from openapi_spec_validator import validate; validate(json.load(open(sys.argv[1])))", file]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
    }

    static let validatorAvailable: Bool = {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import openapi_spec_validator"]
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }()
}
