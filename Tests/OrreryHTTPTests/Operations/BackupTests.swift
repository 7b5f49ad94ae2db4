import Foundation
import OrreryCore
import OrrerySQLite
import OrreryTesting
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `orrery backup FILE` against a server that keeps writing (SQLite's online backup).
@Suite("Backup of a running server's store", .timeLimit(.minutes(5)))
struct BackupTests {
    @Test("a backup taken while the server writes is a whole, consistent database with every task made before it")
    func backupWhileWriting() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let token = "backup-test-token"
        let server = try await ServerProcess.start(
            dataDir: dir.file("data"), token: token, log: dir.file("serve.log"), extraArguments: ["--shutdown-grace-sec", "0"])
        defer { if server.process.isRunning { kill(server.process.processIdentifier, SIGKILL) } }
        let api = server.api(token)
        // A steady stream of writes from the engine (runs every second) and from the API.
        _ = try await api.post("/v1/tasks", #"{"name":"tick","module":"noop","schedule":{"type":"interval","every_sec":1}}"#)
        for i in 0..<50 { _ = try await api.post("/v1/tasks", #"{"name":"before-\#(i)","module":"noop","schedule":{"type":"once"}}"#) }
        let writer = Task {
            var made = 0
            while !Task.isCancelled {
                _ = try? await api.post("/v1/tasks", #"{"name":"during","module":"noop","schedule":{"type":"once"}}"#)
                made += 1
            }
            return made
        }
        let copy = dir.file("copy.sqlite")
        let output = try await Prerequisites.run(ServerProcess.binary, ["backup", copy, "--data-dir", dir.file("data")])
        let madeDuring = await { writer.cancel(); return await writer.value }()
        #expect(output.contains("integrity ok"), "\(output)")
        #expect(madeDuring > 0, "the server was writing during the backup")

        // An independent reader (Python's sqlite3) finds the copy whole, in one file.
        let check = try await Prerequisites.run("/usr/bin/env", ["python3", "-c", """
            import sqlite3, sys
            db = sqlite3.connect(sys.argv[1])
            print(db.execute("PRAGMA integrity_check").fetchone()[0], db.execute("PRAGMA journal_mode").fetchone()[0],
                  db.execute("SELECT count(*) FROM tasks WHERE name LIKE 'before-%'").fetchone()[0])
            """, copy])
        #expect(check.trimmingCharacters(in: .whitespacesAndNewlines) == "ok delete 50", "\(check)")
        #expect(!FileManager.default.fileExists(atPath: copy + "-wal"))

        // Orrery opens the copy as a store: every task and its runs are there.
        let restored = try SQLiteStore(path: copy)
        var filter = TaskFilter()
        filter.limit = 1000
        let tasks = try await restored.listTasks(filter)
        #expect(tasks.items.filter { $0.name.hasPrefix("before-") }.count == 50)
        #expect(tasks.items.contains { $0.name == "tick" })
        let runs = try await restored.listRuns(RunFilter())
        #expect((runs.totalCount ?? 0) >= 51)

        // Never over an existing file.
        await #expect(throws: (any Error).self) { try await Prerequisites.run(ServerProcess.binary, ["backup", copy, "--data-dir", dir.file("data")]) }
        #expect(await server.stop())
    }

    @Test("on PostgreSQL it refuses and names pg_dump")
    func refusesPostgres() async throws {
        do {
            _ = try await Prerequisites.run(ServerProcess.binary, ["backup", "/tmp/never-written.sqlite", "--database", "postgres://nobody@127.0.0.1:1/none"])
            Issue.record("backup on PostgreSQL succeeded")
        } catch {
            #expect("\(error)".contains("pg_dump"), "\(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: "/tmp/never-written.sqlite"))
    }
}
