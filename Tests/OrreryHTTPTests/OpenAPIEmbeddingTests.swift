import Foundation
import OrreryHTTP
import Testing

/// The document is compiled into the binary from `Resources/openapi.json`, the one source
/// of truth; this fails when the generated Swift file was not refreshed after an edit.
@Suite("The OpenAPI document compiled into the binary")
struct OpenAPIEmbeddingTests {
    @Test("the served bytes are exactly Resources/openapi.json (else run scripts/embed-openapi)")
    func embeddedDocumentIsCurrent() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let source = try Data(contentsOf: root.appendingPathComponent("Sources/OrreryHTTP/Resources/openapi.json"))
        #expect(OpenAPIDocument.bytes == Array(source), "Sources/OrreryHTTP/OpenAPIDocument+Embedded.swift is stale: run scripts/embed-openapi")
    }
}
