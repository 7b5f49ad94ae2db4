public import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A process a test starts (the `orrery` binary, a CLI, a Python peer), with the part of
/// Foundation's `Process` API the tests use, spawned with `posix_spawn`.
///
/// Foundation's `Process.run()` on Linux reads 256 bytes of every /proc/self/fd entry's
/// name (`findMaximumOpenFromProcSelfFD`; swift-corelibs-foundation PR #5472, not in this
/// toolchain). When glibc's directory buffer ends at unmapped memory the test process dies
/// with SIGSEGV: seen in CI launching the CLI, and again on 2026-12-07 with
/// `MALLOC_ARENA_MAX=1` set, at fd 1,354. Here the child closes every descriptor above 2
/// itself (`posix_spawn_file_actions_addclosefrom_np`, close_range(2) in the child), so the
/// parent reads no directory. swift-subprocess does the same, but its API lives inside one
/// `async` closure, and these tests hold servers across many awaits and stop them from
/// `defer`.
///
/// Configure it, then `run()` once. A thread per child waits for it (`waitpid`), so a
/// status is never read twice and `terminationHandler` runs without polling.
public final class ChildProcess: @unchecked Sendable {
    // @unchecked: the configuration is written by the one task that creates the process,
    // before `run()`; everything after is behind `condition`.
    public var executableURL: URL?
    public var arguments: [String] = []
    /// `nil`: this process's environment.
    public var environment: [String: String]?
    public var currentDirectoryURL: URL?
    /// A `FileHandle` (`FileHandle.nullDevice` for /dev/null) or a `Pipe`; `nil` inherits this
    /// process's.
    public var standardInput: Any?
    public var standardOutput: Any?
    public var standardError: Any?
    /// Called once, on the waiting thread, when the child has exited.
    public var terminationHandler: (@Sendable (ChildProcess) -> Void)?

    public enum TerminationReason: Sendable { case exit, uncaughtSignal }

    private let condition = NSCondition()
    private var pid: pid_t = 0
    /// The raw `waitpid` status, once the child has exited.
    private var waitStatus: Int32?

    public init() {}

    public var processIdentifier: Int32 { locked { pid } }
    public var isRunning: Bool { locked { pid != 0 && waitStatus == nil } }

    /// The exit code, or the signal's number when a signal ended it (as Foundation's).
    public var terminationStatus: Int32 {
        let status = exitedStatus()
        return status & 0x7f == 0 ? (status >> 8) & 0xff : status & 0x7f
    }

    public var terminationReason: TerminationReason {
        exitedStatus() & 0x7f == 0 ? .exit : .uncaughtSignal
    }

    /// SIGTERM.
    public func terminate() { signal(SIGTERM) }
    /// SIGINT.
    public func interrupt() { signal(SIGINT) }

    public func waitUntilExit() {
        condition.lock()
        defer { condition.unlock() }
        precondition(pid != 0, "waitUntilExit() before run()")
        while waitStatus == nil { condition.wait() }
    }

    public func run() throws {
        guard let executable = executableURL?.path else { throw CommandFailed(description: "ChildProcess.run(): no executableURL") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var parentCopies: [FileHandle] = []
        for (target, stream) in [(Int32(0), standardInput), (1, standardOutput), (2, standardError)] {
            switch stream {
            case nil:
                break
            case let handle as FileHandle where handle === FileHandle.nullDevice || handle.fileDescriptor < 0:
                posix_spawn_file_actions_addopen(&actions, target, "/dev/null", target == 0 ? O_RDONLY : O_WRONLY, 0)
            case let handle as FileHandle:
                posix_spawn_file_actions_adddup2(&actions, handle.fileDescriptor, target)
            case let pipe as Pipe:
                // The child's end; this process closes its copy after the spawn, so that a
                // reader sees the end of the stream when the child exits.
                let end = target == 0 ? pipe.fileHandleForReading : pipe.fileHandleForWriting
                posix_spawn_file_actions_adddup2(&actions, end.fileDescriptor, target)
                parentCopies.append(end)
            default:
                throw CommandFailed(description: "ChildProcess.run(): stream \(target) is neither a FileHandle nor a Pipe")
            }
        }
        guard Spawn.closeFrom(&actions, 3) == 0 else { throw CommandFailed(description: "posix_spawn_file_actions_addclosefrom_np failed") }
        if let directory = currentDirectoryURL?.path {
            guard Spawn.changeDirectory(&actions, directory) == 0 else { throw CommandFailed(description: "posix_spawn_file_actions_addchdir_np failed") }
        }
        // Default dispositions and an empty mask: this process may ignore or block signals
        // (SIGPIPE, a service group's SIGTERM) that the child must receive.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var all = sigset_t(), none = sigset_t()
        sigfillset(&all)
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let env = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { env.forEach { free($0) } }
        var spawned: pid_t = 0
        let result = posix_spawn(&spawned, executable, &actions, &attributes, argv, env)
        guard result == 0 else {
            throw CommandFailed(description: "cannot start \(executable): \(String(cString: strerror(result)))")
        }
        let child = spawned
        for end in parentCopies { try? end.close() }
        locked { pid = child }
        Thread.detachNewThread { [self] in
            var status: Int32 = 0
            var waited: pid_t
            repeat { waited = waitpid(child, &status, 0) } while waited < 0 && errno == EINTR
            // Only this thread waits for the child; should it be gone anyway (ECHILD), it has
            // ended and its status is lost: report exit 255.
            if waited < 0 { status = 255 << 8 }
            condition.lock()
            waitStatus = status
            condition.broadcast()
            condition.unlock()
            terminationHandler?(self)
        }
    }

    private func signal(_ signal: Int32) {
        locked { if pid != 0, waitStatus == nil { _ = kill(pid, signal) } }
    }

    private func exitedStatus() -> Int32 {
        locked {
            guard let waitStatus else { preconditionFailure("the process has not exited") }
            return waitStatus
        }
    }

    private func locked<T>(_ body: () -> T) -> T {
        condition.lock()
        defer { condition.unlock() }
        return body()
    }
}

/// glibc's GNU extensions to posix_spawn (2.29 and 2.34), which Swift's Glibc module does not
/// declare (they are behind `_GNU_SOURCE`); looked up once, as swift-subprocess does.
private enum Spawn {
    typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    typealias ChangeDirectory = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32

    static let closeFrom: CloseFrom = symbol("posix_spawn_file_actions_addclosefrom_np")
    static let changeDirectory: ChangeDirectory = symbol("posix_spawn_file_actions_addchdir_np")

    private static func symbol<F>(_ name: String) -> F {
        guard let address = dlsym(nil, name) else { fatalError("glibc has no \(name) (it needs 2.34 or later)") }
        return unsafeBitCast(address, to: F.self)
    }
}

extension ChildProcess {
    /// How a program run to its end (`run(_:_:input:)`) ended, and what it wrote.
    public struct Finished: Sendable {
        public let status: Int32
        public let reason: TerminationReason
        public let output: String
        public let errors: String
        /// Exited with 0.
        public var succeeded: Bool { reason == .exit && status == 0 }
    }

    /// Runs `executable` to its end with `input` on standard input, blocking this thread until
    /// it exits. Its streams go through files, not pipes: nothing waits on a full pipe, and a
    /// program that leaves a child running (the PostgreSQL test script leaves its server) is
    /// not waited on past its own exit. `passErrors`: its standard error goes to this
    /// process's, as a shell shows it, and `errors` is empty.
    public static func run(_ executable: String, _ arguments: [String], input: [UInt8] = [], passErrors: Bool = false) throws -> Finished {
        let started = try Captured(executable, arguments, input: input, passErrors: passErrors)
        defer { started.directory.remove() }
        started.process.waitUntilExit()
        return started.finished()
    }

    /// The same, awaited without blocking a thread (a server under test may share this
    /// process). Nil when it outlives `timeout`: it is then sent SIGTERM.
    public static func run(_ executable: String, _ arguments: [String], input: [UInt8] = [], timeout: Duration) async throws -> Finished? {
        let started = try Captured(executable, arguments, input: input, passErrors: false)
        defer { started.directory.remove() }
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while started.process.isRunning {
            guard ContinuousClock.now < deadline else {
                started.process.terminate()
                return nil
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return started.finished()
    }
}

/// A started program whose standard streams are files in a directory of their own.
private struct Captured {
    let directory: TemporaryDirectory
    let process = ChildProcess()

    init(_ executable: String, _ arguments: [String], input: [UInt8], passErrors: Bool) throws {
        directory = try TemporaryDirectory()
        do {
            FileManager.default.createFile(atPath: directory.file("in"), contents: Data(input))
            FileManager.default.createFile(atPath: directory.file("out"), contents: nil)
            FileManager.default.createFile(atPath: directory.file("err"), contents: nil)
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            process.standardInput = try FileHandle(forReadingFrom: URL(fileURLWithPath: directory.file("in")))
            process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: directory.file("out")))
            if !passErrors { process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: directory.file("err"))) }
            try process.run()
            // This process's copies of the three files close with their handles.
            process.standardInput = nil
            process.standardOutput = nil
            process.standardError = nil
        } catch {
            directory.remove()
            throw error
        }
    }

    func finished() -> ChildProcess.Finished {
        ChildProcess.Finished(
            status: process.terminationStatus, reason: process.terminationReason,
            output: (try? String(contentsOfFile: directory.file("out"), encoding: .utf8)) ?? "",
            errors: (try? String(contentsOfFile: directory.file("err"), encoding: .utf8)) ?? "")
    }
}
