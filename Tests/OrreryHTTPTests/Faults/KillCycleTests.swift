import Foundation
import OrreryCore
import OrreryTesting
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// kill -9 of a SQLite node under load, again and again (`ORRERY_FAULT_CYCLES`, 3 in CI, 10
/// in scripts/fault-suite): every run ends exactly once, no slot fires twice, the file stays
/// sound.
@Suite("Fault: kill -9 cycles on SQLite", .timeLimit(.minutes(5)))
struct KillCycleTests {
    @Test("SIGKILL under load, cycle after cycle: each once-task completes exactly once, no slot twice, integrity_check ok")
    func killCycles() async throws {
        let cycles = Int(ProcessInfo.processInfo.environment["ORRERY_FAULT_CYCLES"] ?? "") ?? 3
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let token = "kill-cycle-token"
        let data = dir.file("data")
        var onceTasks: [String] = []
        var intervalTasks: [String] = []
        var activeAtKill: [Int] = []
        for cycle in 0..<cycles {
            let server = try await ServerProcess.start(dataDir: data, token: token, log: dir.file("cycle-\(cycle).log"))
            let api = server.api(token)
            if cycle == 0 {
                for i in 0..<10 {
                    intervalTasks.append(try require(try await api.post("/v1/tasks", #"{"name":"every-\#(i)","module":"noop","schedule":{"type":"interval","every_sec":1}}"#)["id"]?.stringValue))
                }
            }
            for i in 0..<40 {
                let seconds = [0.1, 0.3, 0.6][i % 3]
                let body = #"{"name":"once-\#(cycle)-\#(i)","module":"sleep","params":{"seconds":\#(seconds)},"schedule":{"type":"once"},"retry":{"max_attempts":20,"backoff_base_sec":0}}"#
                onceTasks.append(try require(try await api.post("/v1/tasks", body)["id"]?.stringValue))
            }
            try await eventually(timeout: .seconds(30), "runs in flight") {
                try await api.get("/v1/runs?status=active&limit=1&count=true")["total_count"]?.intValue ?? 0 >= 5
            }
            activeAtKill.append(Int(try await api.get("/v1/runs?status=active&limit=1&count=true")["total_count"]?.intValue ?? 0))
            kill(server.process.processIdentifier, SIGKILL)
            server.process.waitUntilExit()
        }
        let last = try await ServerProcess.start(dataDir: data, token: token, log: dir.file("final.log"))
        let api = last.api(token)
        let recovered = ContinuousClock.now
        try await eventually(timeout: .seconds(60), "every once-task completed") {
            for id in onceTasks where try await api.get("/v1/runs?task_id=\(id)&status=complete&limit=1&count=true")["total_count"]?.intValue != 1 {
                return false
            }
            return true
        }
        let recoveryTime = ContinuousClock.now - recovered
        var lost = 0, twice = 0, rescued = 0
        for id in onceTasks {
            let runs = try await api.get("/v1/runs?task_id=\(id)&limit=100").items
            let complete = runs.filter { $0["status"] == .string("complete") }.count
            if complete == 0 { lost += 1 }
            if complete > 1 { twice += 1 }
            rescued += runs.filter { $0["error"]?["code"] == .string("lease_expired") }.count
            #expect(runs.allSatisfy { ["complete", "failed"].contains($0["status"]?.stringValue ?? "") && ($0["status"] == .string("complete") || $0["error"]?["code"] == .string("lease_expired")) },
                    "a once-task's runs: rescued attempts, then one completion")
        }
        #expect(lost == 0 && twice == 0)
        for id in intervalTasks {
            let slots = try await api.get("/v1/runs?task_id=\(id)&limit=1000").items.compactMap { $0["scheduled_at"]?.stringValue }
            #expect(Set(slots).count == slots.count, "no slot of \(id) fired twice")
        }
        print("kill cycles: \(cycles) cycles, active at each kill \(activeAtKill), \(rescued) runs rescued, 0 lost (\(lost)), 0 twice (\(twice)), all done \(recoveryTime) after the last restart")
        last.process.terminate()
        last.process.waitUntilExit()
        #expect(last.process.terminationStatus == 0)
        let check = try ChildProcess.run("/usr/bin/env", [
            "python3", "-c", "import sqlite3,sys; r=sqlite3.connect(sys.argv[1]).execute('PRAGMA integrity_check').fetchone()[0]; print(r); sys.exit(0 if r=='ok' else 1)",
            data + "/orrery.sqlite"], passErrors: true)
        #expect(check.status == 0, "PRAGMA integrity_check is ok: \(check.output)")
    }
}
