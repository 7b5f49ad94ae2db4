import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OrreryCore
import OrreryTesting
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `/metrics` of the real executable, read by an independent parser (`prometheus_client`'s,
/// from PyPI, installed by `scripts/test`; path in `ORRERY_PROMETHEUS_PYTHON`), against the
/// runs the API says were made.
@Suite("Prometheus metrics of a real server", .timeLimit(.minutes(5)))
struct MetricsScrapeTests {
    @Test("a scrape parsed by prometheus_client counts exactly the runs made, by task, module and status, and never labels a run id",
          .enabled(if: Prerequisites.runs("ORRERY_PROMETHEUS_PYTHON"), "ORRERY_PROMETHEUS_PYTHON is not set (scripts/test installs prometheus_client)"))
    func scrapeMatchesRuns() async throws {
        let python = try Prerequisites.require("ORRERY_PROMETHEUS_PYTHON", "a python3 with prometheus_client")
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let token = "metrics-test-token"
        let server = try await ServerProcess.start(dataDir: dir.file("data"), token: token, log: dir.file("serve.log"), extraArguments: ["--shutdown-grace-sec", "0"])
        defer { if server.process.isRunning { kill(server.process.processIdentifier, SIGKILL) } }
        let api = server.api(token)

        let ok = try require(try await api.post("/v1/tasks", #"{"name":"ok","module":"noop","schedule":{"type":"once"}}"#)["id"]?.stringValue)
        for _ in 0..<2 { _ = try await api.post("/v1/tasks/\(ok)/run") }
        let bad = try require(try await api.post("/v1/tasks", """
            {"name":"bad","module":"shell","params":{"command":["/bin/sh","-c","exit 3"]},"schedule":{"type":"once"},"retry":{"max_attempts":1}}
            """)["id"]?.stringValue)
        let nap = try require(try await api.post("/v1/tasks", #"{"name":"nap","module":"sleep","params":{"seconds":600},"schedule":{"type":"once"}}"#)["id"]?.stringValue)
        try await eventually("3 complete, 1 failed, 1 active") {
            let complete = try await api.get("/v1/runs?task_id=\(ok)&status=complete").items.count
            let failed = try await api.get("/v1/runs?task_id=\(bad)&status=failed").items.count
            let active = try await api.get("/v1/runs?task_id=\(nap)&status=active").items.count
            return complete == 3 && failed == 1 && active == 1
        }
        let runs = try await api.get("/v1/runs?limit=1000").items
        // Ends reach the metrics as the engine hands them to the recorder, which is before the
        // API shows them: one scrape after the API agrees is enough.
        let samples = try await Self.scrape(server.port, python: python)

        func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
            samples.first { $0.name == name && $0.labels == labels }?.value
        }
        func sum(_ name: String, where match: [String: String] = [:]) -> Double {
            samples.filter { s in s.name == name && match.allSatisfy { s.labels[$0.key] == $0.value } }.reduce(0) { $0 + $1.value }
        }
        #expect(value("orrery_runs_ended_total", ["task": ok, "module": "noop", "status": "complete"]) == 3)
        #expect(value("orrery_runs_ended_total", ["task": bad, "module": "shell", "status": "failed"]) == 1)
        #expect(sum("orrery_runs_ended_total") == 4, "nothing else ended")
        #expect(sum("orrery_run_duration_seconds_count", where: ["module": "noop"]) == 3)
        #expect(sum("orrery_run_duration_seconds_count", where: ["module": "shell"]) == 1)
        #expect(sum("orrery_firing_lateness_seconds_count") == 5, "one lateness per claimed run")
        #expect(sum("orrery_firing_lateness_seconds_count", where: ["trigger": "manual"]) == 2)
        #expect(value("orrery_runs_claimed_total") == 5)
        #expect(value("orrery_active_runs") == 1)
        #expect(value("orrery_queue_depth", ["status": "active"]) == 1)
        #expect(value("orrery_queue_depth", ["status": "due"]) == 0)
        #expect((value("orrery_claims_total") ?? 0) >= 1 && (value("orrery_group_commits_total") ?? 0) >= 1)
        #expect(value("orrery_leader") == 1 && value("orrery_store_up") == 1)
        #expect(value("orrery_notifications_total", ["outcome": "sent"]) == 0)
        #expect(samples.contains { $0.name == "orrery_build_info" && $0.value == 1 && $0.labels["version"] != nil })
        // Buckets reach from sub-millisecond to hours.
        let bounds = Set(samples.filter { $0.name == "orrery_firing_lateness_seconds_bucket" }.compactMap { $0.labels["le"] })
        #expect(bounds.contains("0.0001") && bounds.contains("21600.0") && bounds.contains("+Inf"))
        // API latency by route template, not by path.
        #expect(sum("orrery_http_request_duration_seconds_count", where: ["method": "POST", "route": "/v1/tasks", "status": "201"]) == 3)
        #expect(sum("orrery_http_request_duration_seconds_count", where: ["method": "POST", "route": "/v1/tasks/{id}/run", "status": "201"]) == 2)
        // Never a run id as a label value.
        let runIDs = Set(runs.compactMap { $0["id"]?.stringValue })
        #expect(runIDs.count == 5)
        #expect(!samples.contains { $0.labels.values.contains { runIDs.contains($0) } })
        #expect(!samples.contains { $0.labels.values.contains { $0.contains(ok) && $0 != ok } }, "no path with ids as a route")
        #expect(await server.stop())
    }

    struct Sample: Decodable {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    /// GET /metrics, then prometheus_client's parser.
    static func scrape(_ port: Int, python: String) async throws -> [Sample] {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/metrics"), timeout: .seconds(30))
        #expect(response.status.code == 200)
        #expect(response.headers.first(name: "Content-Type")?.hasPrefix("text/plain; version=0.0.4") == true)
        let body = try await response.body.collect(upTo: 16 << 20)
        let parser = Prerequisites.repositoryRoot.appendingPathComponent("scripts/prometheus_parse.py").path
        let json = try await Prerequisites.run(python, [parser], input: Array(body.readableBytesView))
        return try JSONDecoder().decode([Sample].self, from: Data(json.utf8))
    }
}
