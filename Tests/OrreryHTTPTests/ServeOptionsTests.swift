import Foundation
import OrreryCore
import OrreryTesting
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `orrery`'s settings come from flags, `ORRERY_…` variables and a JSON configuration file,
/// in that order (SPEC §9); nonsense is refused by name before anything is opened.
@Suite("orrery settings")
struct ServeOptionsTests {
    /// Runs `orrery` to its end; its exit status and what it printed (stdout + stderr).
    static func orrery(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ServerProcess.binary)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("ORRERY_") }
        env.merge(environment) { $1 }
        process.environment = env
        let output = Pipe()
        process.standardError = output
        process.standardOutput = output
        try process.run()
        // A command that should have been refused but started serving is stopped, not waited on.
        let pid = process.processIdentifier
        let guardTimer = Task {
            try await Task.sleep(for: .seconds(20))
            kill(pid, SIGKILL)
        }
        defer { guardTimer.cancel() }
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, text)
    }

    @Test("a bad number is refused by name, with exit status 64, and no data directory is made",
          arguments: [
              (["--concurrency=-1"], [:], "concurrency must be 0 or more"),
              (["--lease-sec", "0"], [:], "lease-sec must be at least 1"),
              (["--retention-days=-2"], [:], "retention-days must be 0 (forever) or more"),
              (["--keep-runs", "0"], [:], "keep-runs must be at least 1"),
              ([], ["ORRERY_PORT": "http"], "ORRERY_PORT must be a whole number"),
              ([], ["ORRERY_CONCURRENCY": "-5"], "concurrency must be 0 or more"),
              ([], ["ORRERY_ALLOW_PRIVATE_NETWORKS": "maybe"], "ORRERY_ALLOW_PRIVATE_NETWORKS must be true or false"),
          ] as [([String], [String: String], String)])
    func refused(_ arguments: [String], _ environment: [String: String], _ message: String) async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let result = try Self.orrery(["serve", "--data-dir", dir.file("data")] + arguments, environment: environment)
        #expect(result.status == 64)
        #expect(result.output.contains(message), "output: \(result.output)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("data")))
    }

    @Test("a configuration file with an unknown key, a value of the wrong type or no JSON object is refused by name")
    func badFile() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let cases = [
            (#"{"data_dir": "x", "databse": "postgres://h/db"}"#, #"unknown setting "databse""#),
            (#"{"concurrency": "many"}"#, "concurrency must be a whole number"),
            (#"{"allow_private_networks": 1}"#, "allow_private_networks must be true or false"),
            (#"["database"]"#, "a configuration file is one JSON object"),
        ]
        for (i, (text, message)) in cases.enumerated() {
            let file = dir.file("bad\(i).json")
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            let result = try Self.orrery(["serve", "--config", file, "--data-dir", dir.file("data")])
            #expect(result.status == 64, "\(text)")
            #expect(result.output.contains(message), "\(text): \(result.output)")
        }
        #expect(try Self.orrery(["migrate", "--config", dir.file("missing.json")]).output.contains("cannot read"))
        #expect(!FileManager.default.fileExists(atPath: dir.file("data")))
    }

    @Test("the flag beats ORRERY_DATA_DIR, which beats the configuration file (also named by ORRERY_CONFIG)")
    func precedence() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let file = dir.file("orrery.json")
        try #"{"data_dir": "\#(dir.file("from-file"))"}"#.write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try Self.orrery(["migrate", "--config", file]).status == 0)
        #expect(FileManager.default.fileExists(atPath: dir.file("from-file/orrery.sqlite")))
        #expect(try Self.orrery(["migrate"], environment: ["ORRERY_CONFIG": file, "ORRERY_DATA_DIR": dir.file("from-env")]).status == 0)
        #expect(FileManager.default.fileExists(atPath: dir.file("from-env/orrery.sqlite")))
        #expect(try Self.orrery(["migrate", "--data-dir", dir.file("from-flag")], environment: ["ORRERY_CONFIG": file, "ORRERY_DATA_DIR": dir.file("from-env")]).status == 0)
        #expect(FileManager.default.fileExists(atPath: dir.file("from-flag/orrery.sqlite")))
    }

    @Test("a configuration file's database selects PostgreSQL for serve",
          .enabled(if: StoreKind.postgresURL != nil, "needs ORRERY_TEST_POSTGRES_URL (./scripts/test sets it)"))
    func databaseFromFile() async throws {
        try await StoreKind.withFreshDatabase { url in
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let file = dir.file("orrery.json")
            try JSONValue.object(["database": .string(url), "concurrency": .int(5)]).jsonText.write(toFile: file, atomically: true, encoding: .utf8)
            let node = try await ServerProcess.start(dataDir: dir.file("data"), token: "t", log: dir.file("serve.log"),
                                                     extraArguments: ["--config", file], timeout: .seconds(30))
            defer { if node.process.isRunning { kill(node.process.processIdentifier, SIGKILL) } }
            let log = try String(contentsOfFile: dir.file("serve.log"), encoding: .utf8)
            #expect(log.contains("(data: postgres://"), "log: \(log)")
            #expect(await node.stop())
        }
    }
}
