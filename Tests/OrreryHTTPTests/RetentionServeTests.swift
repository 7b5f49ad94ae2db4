import Foundation
import OrreryCore
import OrreryTesting
import Testing

/// `--retention-days` and `--keep-runs` prune a running server's history (README), not only
/// the pruner in isolation.
@Suite("Retention in a running server", .timeLimit(.minutes(3)))
struct RetentionServeTests {
    /// `count` finished runs of `task`, `daysAgo` days back, each with a log line.
    func history(_ store: any ConformingStore, _ task: ScheduledTask, count: Int, daysAgo: Int) async throws {
        let now = Timestamp(secondsSinceEpoch: Date().timeIntervalSince1970)
        try await Fixtures.finishedRuns(of: task, at: (0..<count).map { now.adding(seconds: -Int64(daysAgo) * 86_400 + Int64($0)) }, in: store)
    }

    @Test("serve --retention-days 7 --keep-runs 3: older runs and runs beyond the newest 3 per task are gone, with their logs")
    func prunes() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let data = dir.file("data")
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        let now = Timestamp(secondsSinceEpoch: Date().timeIntervalSince1970)
        let aged = Fixtures.task("aged", schedule: Schedule(.once(at: now.adding(seconds: 86_400))), at: now)
        let busy = Fixtures.task("busy", schedule: Schedule(.once(at: now.adding(seconds: 86_400))), at: now)
        try await StoreLocation.sqlite(TemporaryDirectory.at(data)).withStore { store in
            try await Fixtures.create([aged, busy], in: store, now: now)
            try await history(store, aged, count: 3, daysAgo: 10)
            try await history(store, aged, count: 2, daysAgo: 1)
            try await history(store, busy, count: 6, daysAgo: 2)
        }
        let token = "retention-token"
        let server = try await ServerProcess.start(
            dataDir: data, token: token, log: dir.file("server.log"), extraArguments: ["--retention-days", "7", "--keep-runs", "3"])
        defer { server.process.terminate(); server.process.waitUntilExit() }
        let api = server.api(token)
        try await eventually(timeout: .seconds(60), "pruned at start") {
            let agedRuns = try await api.get("/v1/runs?task_id=\(aged.id)&status=complete&count=true")["total_count"]?.intValue
            let busyRuns = try await api.get("/v1/runs?task_id=\(busy.id)&status=complete&count=true")["total_count"]?.intValue
            return agedRuns == 2 && busyRuns == 3
        }
        let left = try await api.get("/v1/runs?task_id=\(aged.id)&status=complete").items
        let cutoff = now.adding(seconds: -7 * 86_400)
        #expect(left.allSatisfy { ($0["finished_at"]?.stringValue).flatMap(Timestamp.init(rfc3339:)).map { $0 > cutoff } ?? false })
        #expect(try await api.get("/v1/runs?task_id=\(aged.id)&status=scheduled").items.count == 1, "a pending run is never pruned")
    }
}
