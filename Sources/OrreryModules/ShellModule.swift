public import OrreryCore
public import OrreryEngine
import Subprocess
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// `shell`: runs a program (an argv array, no shell parsing) with an optional working
/// directory and environment. Each line of stdout (info) and stderr (warning) becomes a log
/// entry; exit code 0 completes the run, anything else fails it with code `exit_code` and
/// the last lines of stderr. The child gets its own session, so cancellation reaches its
/// whole process group (SIGTERM, then SIGKILL after `killGrace`).
public struct ShellModule: TaskModule {
    public var killGrace: Duration
    /// How many trailing stderr lines an error message carries.
    public static let stderrTail = 10

    public init(killGrace: Duration = .seconds(5)) { self.killGrace = killGrace }

    public let descriptor = ModuleDescriptor(
        name: "shell",
        description: [
            "en-US": "Runs a command (argv array) with optional working directory and environment.",
            "de-DE": "Führt einen Befehl (argv-Liste) aus, optional mit Arbeitsverzeichnis und Umgebung.",
        ],
        params: [
            ParamSpec(name: "command", type: .stringArray, required: true,
                      description: ["en-US": "Program and arguments, e.g. [\"/usr/bin/env\", \"echo\", \"hi\"]."], position: 0),
            ParamSpec(name: "cwd", type: .string, description: ["en-US": "Working directory."], position: 1),
            ParamSpec(name: "env", type: .object, description: ["en-US": "Extra environment variables (strings)."], position: 2),
        ],
        requiredRight: "shell")

    struct Params: Decodable {
        var command: [String]
        var cwd: String?
        var env: [String: String]?
    }

    public func run(_ context: RunContext) async throws -> JSONValue? {
        let params = try context.params(as: Params.self)
        guard let program = params.command.first, !program.isEmpty else {
            throw RunError(code: "invalid_params", message: "params.command must name a program")
        }
        var options = PlatformOptions()
        options.createSession = true
        options.teardownSequence = [.gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: killGrace)]
        var environment = Environment.inherit
        if let env = params.env, !env.isEmpty {
            var updates: [Environment.Key: String?] = [:]
            for (k, v) in env { updates[Environment.Key(stringLiteral: k)] = v }
            environment = environment.updating(updates)
        }
        let executable: Executable = program.contains("/") ? .path(FilePath(program)) : .name(program)
        let tail = Locked<[String]>([])
        let result: ExecutionResult<Void, SequenceOutput, SequenceOutput>
        do {
            result = try await Subprocess.run(
                executable, arguments: Arguments(Array(params.command.dropFirst())), environment: environment,
                workingDirectory: params.cwd.map { FilePath($0) }, platformOptions: options,
                input: .none, output: .sequence, error: .sequence
            ) { execution in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for try await line in execution.standardOutput.strings() {
                            context.log(.info, Self.trimNewline(line))
                        }
                    }
                    group.addTask {
                        for try await line in execution.standardError.strings() {
                            let text = Self.trimNewline(line)
                            context.log(.warning, text)
                            tail.withLock { lines in
                                lines.append(text)
                                if lines.count > Self.stderrTail { lines.removeFirst() }
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
        } catch let error as SubprocessError {
            throw RunError(code: "spawn_failed", message: "could not start \(program): \(error)")
        }
        try Task.checkCancellation()
        switch result.terminationStatus {
        case .exited(0):
            return .object(["exit_code": .int(0)])
        case .exited(let code):
            let lines = tail.withLock { $0 }
            let detail = lines.isEmpty ? "" : ": " + lines.joined(separator: "\n")
            throw RunError(code: "exit_code", message: "exit status \(code)\(detail)")
        case .signaled(let signal):
            throw RunError(code: "signaled", message: "killed by signal \(signal)")
        }
    }

    static func trimNewline(_ line: String) -> String {
        var s = Substring(line)
        while let last = s.last, last == "\n" || last == "\r" { s = s.dropLast() }
        return String(s)
    }
}

/// The built-in modules.
public enum BuiltinModules {
    public static func all(allowPrivateNetworks: Bool = false) -> [any TaskModule] {
        [NoopModule(), SleepModule(), ShellModule(), HTTPModule(allowPrivateNetworks: allowPrivateNetworks)]
    }
}
