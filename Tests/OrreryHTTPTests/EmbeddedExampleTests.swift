import Foundation
import OrreryTesting
import Testing

@Suite("The embedding example", .timeLimit(.minutes(5)))
struct EmbeddedExampleTests {
    @Test("an app embedding the engine runs its own typed and closure modules and shuts down cleanly")
    func runsExample() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let binary = URL(fileURLWithPath: ServerProcess.binary).deletingLastPathComponent().appendingPathComponent("EmbeddedExample")
        let process = ChildProcess()
        process.executableURL = binary
        process.arguments = [dir.file("data")]
        let output = dir.file("out.log")
        FileManager.default.createFile(atPath: output, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        try process.run()
        try await eventually(timeout: .seconds(30), "example exits") { !process.isRunning }
        #expect(process.terminationStatus == 0)
        let lines = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(lines.contains(#"greet: complete {"greeted":"world","times":2} logs=["hello, world", "hello, world"]"#))
        #expect(lines.contains(#"shout: complete "shouted" logs=["HEY"]"#))
    }
}
