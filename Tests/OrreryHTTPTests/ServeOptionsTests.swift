import Foundation
import OrreryCore
import OrreryTesting
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `orrery`'s settings come from flags, `ORRERY_…` variables and a JSON configuration file,
/// in that order (SPEC §9); nonsense is refused by name before anything is opened.
@Suite("orrery settings", .timeLimit(.minutes(5)))
struct ServeOptionsTests {
    /// Runs `orrery` to its end; its exit status and what it printed (stdout + stderr).
    static func orrery(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        let process = ChildProcess()
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
          .enabled(if: Prerequisite.postgresRuns, "needs ORRERY_TEST_POSTGRES_URL (./scripts/test sets it; CI=true fails without it)"))
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

    /// One setting at three levels, each an out-of-range value the refusal names: which one is
    /// refused says which level won. (flag, variable, file value, the refusal for a value.)
    struct Layered: Sendable, CustomTestStringConvertible {
        var key: String
        var flag: String
        var values: (flag: String, env: String, file: JSONValue)
        var refusal: @Sendable (String) -> String
        var testDescription: String { key }
    }

    static let layered: [Layered] = [
        .init(key: "port", flag: "--port", values: ("70001", "70002", .int(70003)), refusal: { "port must be 0 to 65535, not \($0)" }),
        .init(key: "concurrency", flag: "--concurrency", values: ("-1", "-2", .int(-3)), refusal: { "concurrency must be 0 or more, not \($0)" }),
        .init(key: "lease_sec", flag: "--lease-sec", values: ("0", "-1", .int(-2)), refusal: { "lease-sec must be at least 1, not \($0)" }),
        .init(key: "retention_days", flag: "--retention-days", values: ("-1", "-2", .int(-3)), refusal: { "retention-days must be 0 (forever) or more, not \($0)" }),
        .init(key: "keep_runs", flag: "--keep-runs", values: ("0", "-1", .int(-2)), refusal: { "keep-runs must be at least 1, not \($0)" }),
        .init(key: "shutdown_grace_sec", flag: "--shutdown-grace-sec", values: ("-1", "-2", .int(-3)), refusal: { "shutdown-grace-sec must be 0 or more, not \($0)" }),
        .init(key: "log_format", flag: "--log-format", values: ("flagfmt", "envfmt", .string("filefmt")), refusal: { "log-format must be json or text, not \"\($0)\"" }),
        .init(key: "log_level", flag: "--log-level", values: ("flaglvl", "envlvl", .string("filelvl")), refusal: { "not \"\($0)\"" }),
    ]

    @Test("for every serve setting the flag beats ORRERY_…, which beats the configuration file, which beats the default",
          .timeLimit(.minutes(3)), arguments: ServeOptionsTests.layered)
    func everySettingPrecedence(_ setting: Layered) async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let file = dir.file("orrery.json")
        try JSONValue.object([setting.key: setting.values.file]).jsonText.write(toFile: file, atomically: true, encoding: .utf8)
        let variable = "ORRERY_" + setting.key.uppercased()
        let base = ["serve", "--data-dir", dir.file("data"), "--config", file]
        let cases: [(arguments: [String], environment: [String: String], winner: String)] = [
            (base + ["\(setting.flag)=\(setting.values.flag)"], [variable: setting.values.env], setting.values.flag),
            (base, [variable: setting.values.env], setting.values.env),
            (base, [:], setting.values.file.stringValue ?? setting.values.file.jsonText),
        ]
        for (arguments, environment, winner) in cases {
            let result = try Self.orrery(arguments, environment: environment)
            #expect(result.status == 64 && result.output.contains(setting.refusal(winner)), "\(setting.key): \(winner) should win: \(result.output)")
        }
        // Without file, variable or flag the default holds, and it is valid: the command gets past
        // this setting and is stopped by a bad logging flag, read after every other setting.
        if setting.key != "log_level" {
            let stopper = setting.key == "log_format" ? "--log-level=nope" : "--log-format=nope"
            let fallback = try Self.orrery(["serve", "--data-dir", dir.file("data"), stopper])
            #expect(fallback.status == 64 && fallback.output.contains(#""nope""#) && !fallback.output.contains(setting.refusal("")),
                    "\(setting.key) default: \(fallback.output)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir.file("data")), "refused before anything is opened")
    }

    @Test("database and allow_private_networks: the flag beats ORRERY_…, which beats the configuration file", .timeLimit(.minutes(2)))
    func databaseAndFlagPrecedence() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let file = dir.file("orrery.json")
        try #"{"database": "mysql://from-file/x", "allow_private_networks": "perhaps"}"#.write(toFile: file, atomically: true, encoding: .utf8)
        // An empty --database is "SQLite here": it beats a bad variable and a bad file.
        let flag = try Self.orrery(["migrate", "--config", file, "--database", "", "--data-dir", dir.file("flag")], environment: ["ORRERY_DATABASE": "mysql://from-env/x"])
        #expect(flag.status == 0 && FileManager.default.fileExists(atPath: dir.file("flag/orrery.sqlite")), "\(flag.output)")
        let env = try Self.orrery(["migrate", "--config", file, "--data-dir", dir.file("env")], environment: ["ORRERY_DATABASE": ""])
        #expect(env.status == 0 && FileManager.default.fileExists(atPath: dir.file("env/orrery.sqlite")), "\(env.output)")
        let fromFile = try Self.orrery(["migrate", "--config", file, "--data-dir", dir.file("file")])
        #expect(fromFile.status != 0 && fromFile.output.contains("must look like postgres://"), "\(fromFile.output)")

        // allow_private_networks: the flag never reads the variable; the variable never reads the file.
        let serve = ["serve", "--config", file, "--database", "", "--data-dir", dir.file("serve"), "--concurrency=-7"]
        let byFlag = try Self.orrery(serve + ["--allow-private-networks"], environment: ["ORRERY_ALLOW_PRIVATE_NETWORKS": "maybe"])
        #expect(byFlag.output.contains("concurrency must be 0 or more, not -7"), "\(byFlag.output)")
        let byEnv = try Self.orrery(serve, environment: ["ORRERY_ALLOW_PRIVATE_NETWORKS": "false"])
        #expect(byEnv.output.contains("concurrency must be 0 or more, not -7"), "\(byEnv.output)")
        let byFile = try Self.orrery(serve)
        #expect(byFile.status == 64 && byFile.output.contains("allow_private_networks must be true or false"), "\(byFile.output)")
    }

    /// Starts serve with `arguments` (port 0) until it says where it listens; the host it names.
    static func listeningHost(_ arguments: [String], environment: [String: String], in dir: TemporaryDirectory) async throws -> String {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: ServerProcess.binary)
        process.arguments = ["serve", "--port", "0", "--data-dir", dir.file("data-\(UUID().uuidString.prefix(6))")] + arguments
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("ORRERY_") }
        env.merge(environment) { $1 }
        env["ORRERY_ADMIN_TOKEN"] = "host-test"
        process.environment = env
        let log = dir.file("serve-\(UUID().uuidString.prefix(6)).log")
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        var host = ""
        try await eventually(timeout: .seconds(30), "serve listening") {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Orrery listening on http://") }) else { return false }
            host = String(line.dropFirst("Orrery listening on http://".count).prefix { $0 != ":" })
            return true
        }
        process.terminate()
        try await eventually(timeout: .seconds(20), "serve stops") { !process.isRunning }
        return host
    }

    @Test("host: the flag beats ORRERY_HOST, which beats the configuration file", .timeLimit(.minutes(2)))
    func hostPrecedence() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let file = dir.file("orrery.json")
        try #"{"host": "127.0.0.4"}"#.write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try await Self.listeningHost(["--config", file, "--host", "127.0.0.3"], environment: ["ORRERY_HOST": "127.0.0.2"], in: dir) == "127.0.0.3")
        #expect(try await Self.listeningHost(["--config", file], environment: ["ORRERY_HOST": "127.0.0.2"], in: dir) == "127.0.0.2")
        #expect(try await Self.listeningHost(["--config", file], environment: [:], in: dir) == "127.0.0.4")
    }
}
