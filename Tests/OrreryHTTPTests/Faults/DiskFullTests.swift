import Foundation
import OrreryCore
import OrreryTesting
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The SQLite file's disk fills up under a running server (a real tmpfs of 8 MB, filled by
/// a file): writes answer 507 and write nothing, the server stays up, and everything works
/// again when space returns.
@Suite("Fault: disk full", .timeLimit(.minutes(3)))
struct DiskFullTests {
    static func sh(_ command: String) -> Int32 {
        (try? ChildProcess.run("/bin/sh", ["-c", command], passErrors: true))?.status ?? -1
    }

    @Test("a full disk is a 507 that writes nothing; the server keeps answering and recovers when space returns")
    func diskFull() async throws {
        guard getuid() == 0 else {
            // A tmpfs needs root; CI runs as root on this machine kind.
            if ProcessInfo.processInfo.environment["CI"] == "true" { Issue.record("the disk-full scenario needs root (tmpfs)") }
            return
        }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let mount = dir.file("disk")
        try FileManager.default.createDirectory(atPath: mount, withIntermediateDirectories: true)
        try #require(Self.sh("mount -t tmpfs -o size=8m tmpfs '\(mount)'") == 0, "mount a tmpfs")
        defer { _ = Self.sh("umount -l '\(mount)'") }
        let token = "disk-full-token"
        let server = try await ServerProcess.start(dataDir: mount + "/data", token: token, log: dir.file("server.log"))
        defer { if server.process.isRunning { kill(server.process.processIdentifier, SIGKILL) } }
        let api = server.api(token)
        var created = 0
        for i in 0..<5 {
            #expect(try await api.post("/v1/tasks", #"{"name":"before-\#(i)","module":"noop","schedule":{"type":"interval","every_sec":1}}"#).status == 201)
            created += 1
        }
        _ = Self.sh("dd if=/dev/zero of='\(mount)/filler' bs=64k 2>/dev/null")  // until the disk is full
        var statuses: [Int] = []
        for i in 0..<60 {
            let answer = try await api.post("/v1/tasks", #"{"name":"during-\#(i)","module":"noop","description":"\#(String(repeating: "x", count: 2000))","schedule":{"type":"once"}}"#)
            statuses.append(answer.status)
            if answer.status == 201 { created += 1 }
            if answer.status == 507 {
                #expect(answer["code"] == .string("storage_full") && answer.contentType == "application/problem+json")
                break
            }
        }
        #expect(statuses.last == 507, "a write on a full disk is a 507: \(statuses)")
        #expect(statuses.allSatisfy { $0 == 201 || $0 == 507 }, "never a 500: \(statuses)")
        #expect(try await api.get("/v1/tasks?limit=1").status == 200, "reads still answer")
        #expect(try await api.get("/healthz").status == 200)
        #expect(server.process.isRunning)

        _ = Self.sh("rm -f '\(mount)/filler'")  // space returns
        try await eventually(timeout: .seconds(30), "writes succeed again") {
            let answer = try await api.post("/v1/tasks", #"{"name":"after","module":"noop","schedule":{"type":"once"}}"#)
            if answer.status == 201 { created += 1 }
            return answer.status == 201
        }
        #expect(try await api.get("/v1/tasks?limit=1&count=true")["total_count"] == .int(Int64(created)), "nothing half-written, nothing lost")
        try await eventually(timeout: .seconds(30), "the interval tasks fire again") {
            try await api.get("/v1/runs?status=complete&started_after=\(Timestamp(secondsSinceEpoch: Date().timeIntervalSince1970 - 1).rfc3339)&limit=1").items.count == 1
        }
        server.process.terminate()
        server.process.waitUntilExit()
        #expect(server.process.terminationStatus == 0)
        #expect(Self.sh("python3 -c \"import sqlite3,sys; r=sqlite3.connect('\(mount)/data/orrery.sqlite').execute('PRAGMA integrity_check').fetchone()[0]; sys.exit(0 if r=='ok' else 1)\"") == 0,
                "PRAGMA integrity_check is ok")
    }
}
