import Foundation
import OrreryTesting
import Testing

/// `orrery serve` refuses options that make no sense before it touches anything.
@Suite("orrery serve options")
struct ServeOptionsTests {
    @Test("a bad number is refused by name, with exit status 64, and no data directory is made",
          arguments: [
              (["--concurrency", "-1"], "--concurrency must be 0 or more"),
              (["--lease-sec", "0"], "--lease-sec must be at least 1"),
              (["--retention-days", "-2"], "--retention-days must be 0 (forever) or more"),
              (["--keep-runs", "0"], "--keep-runs must be at least 1"),
          ])
    func refused(_ arguments: [String], _ message: String) async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ServerProcess.binary)
        // `=` keeps a negative number from reading as an option.
        process.arguments = ["serve", "--port", "0", "--data-dir", dir.file("data"), "\(arguments[0])=\(arguments[1])"]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 64)
        #expect(text.contains(message), "stderr: \(text)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("data")))
    }
}
