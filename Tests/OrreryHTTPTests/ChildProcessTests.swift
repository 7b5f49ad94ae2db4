import Foundation
import OrreryTesting
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The launcher every test uses to start `orrery` and its peers. Foundation's `Process`
/// crashed the test process in CI when many descriptors were open (ChildProcess.swift says
/// why); these check what replaced it.
@Suite("ChildProcess, the tests' launcher", .timeLimit(.minutes(1)))
struct ChildProcessTests {
    @Test("with 1,500 descriptors open here, the child starts with only its three standard ones")
    func descriptors() throws {
        var opened: [Int32] = []
        defer { opened.forEach { close($0) } }
        for _ in 0..<1_500 {
            let fd = open("/dev/null", O_RDONLY)  // without O_CLOEXEC, as Foundation's Pipe makes its ends
            try #require(fd >= 0)
            opened.append(fd)
        }
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/bin/sleep")
        process.arguments = ["30"]
        process.standardInput = FileHandle.nullDevice
        try process.run()
        defer { process.terminate(); process.waitUntilExit() }
        // posix_spawn returns once the child has exec'd, so its descriptors are final here.
        let inherited = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(process.processIdentifier)/fd")
        let onlyStandard = inherited.sorted() == ["0", "1", "2"]
        #expect(onlyStandard, "the child holds \(inherited.count) descriptors")
    }

    @Test("an exit code, a signal, the working directory, the environment and a termination handler reach the caller")
    func statuses() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let exited = ChildProcess()
        exited.executableURL = URL(fileURLWithPath: "/bin/sh")
        exited.arguments = ["-c", #"pwd > out; printf %s "$GREETING" >> out; exit 3"#]
        exited.currentDirectoryURL = URL(fileURLWithPath: dir.path)
        exited.environment = ["GREETING": "hello"]
        try exited.run()
        exited.waitUntilExit()
        #expect(exited.terminationReason == .exit && exited.terminationStatus == 3)
        let written = try String(contentsOfFile: dir.file("out"), encoding: .utf8)
        #expect(written == URL(fileURLWithPath: dir.path).resolvingSymlinksInPath().path + "\nhello")

        let (ended, continuation) = AsyncStream<Int32>.makeStream()
        let sleeper = ChildProcess()
        sleeper.executableURL = URL(fileURLWithPath: "/bin/sleep")
        sleeper.arguments = ["30"]
        sleeper.terminationHandler = { continuation.yield($0.terminationStatus) }
        try sleeper.run()
        #expect(sleeper.isRunning)
        sleeper.terminate()
        var statuses = ended.makeAsyncIterator()
        #expect(await statuses.next() == SIGTERM)
        #expect(!sleeper.isRunning && sleeper.terminationReason == .uncaughtSignal)

        let missing = ChildProcess()
        missing.executableURL = URL(fileURLWithPath: dir.file("no-such-program"))
        #expect(throws: CommandFailed.self) { try missing.run() }
    }

    @Test("run to its end: the input reaches it, its output, errors and status come back, and a child it leaves running does not hold the caller")
    func runToEnd() async throws {
        // The background `sleep` keeps the shell's standard output open for 300 s (as the
        // PostgreSQL test script's server does): through a pipe, the caller would wait for it.
        let finished = try ChildProcess.run("/bin/sh", ["-c", "cat; echo oops >&2; sleep 300 & echo \"pid $!\"; exit 4"], input: Array("hello\n".utf8))
        let sleeper = finished.output.split(separator: "\n").last.flatMap { Int32($0.dropFirst("pid ".count)) }
        if let sleeper { kill(sleeper, SIGKILL) }
        #expect(finished.status == 4 && finished.reason == .exit && !finished.succeeded)
        #expect(finished.output.hasPrefix("hello\npid "), "\(finished.output)")
        #expect(finished.errors == "oops\n")
        #expect(sleeper != nil)

        let outlived = try await ChildProcess.run("/bin/sleep", ["30"], timeout: .milliseconds(100))
        #expect(outlived == nil)
        #expect(try ChildProcess.run("/bin/true", []).succeeded)
    }
}
