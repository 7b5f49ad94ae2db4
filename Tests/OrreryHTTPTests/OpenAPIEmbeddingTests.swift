import Foundation
import OrreryHTTP
import Testing

/// The document is compiled into the binary from `Resources/openapi.json`, the one source
/// of truth; this fails when the generated Swift file was not refreshed after an edit.
@Suite("The OpenAPI document compiled into the binary", .timeLimit(.minutes(5)))
struct OpenAPIEmbeddingTests {
    @Test("the served bytes are exactly Resources/openapi.json (else run scripts/embed-openapi)")
    func embeddedDocumentIsCurrent() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let source = try Data(contentsOf: root.appendingPathComponent("Sources/OrreryHTTP/Resources/openapi.json"))
        let compiled = OpenAPIDocument.bytes, file = Array(source)
        // A Bool, not the arrays: a failure names where they part instead of printing 80 kB twice.
        let same = compiled == file
        let firstDifference = zip(compiled, file).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(compiled.count, file.count)
        #expect(same, "OpenAPIDocument+Embedded.swift is stale (differs from byte \(firstDifference); \(compiled.count) vs \(file.count) bytes): run scripts/embed-openapi")
    }
}
