import Foundation
import OrreryCore
import OrreryTesting
import Testing

@Suite("Schedule previews over HTTP", .timeLimit(.minutes(5)))
struct PreviewTests {
    @Test("POST /v1/schedules/preview lists fire times with offsets and a description; invalid is a 400 naming the field")
    func preview() async throws {
        try await InProcessServer.with { api, _ in
            let r = try await api.post("/v1/schedules/preview", #"""
                {"schedule":{"type":"interval","every_sec":90,"start_at":"2026-01-01T00:00:00Z"},"from":"2026-01-01T00:00:00Z","count":3}
                """#)
            #expect(r.status == 200)
            #expect(r.items.compactMap { $0["at"]?.stringValue } == ["2026-01-01T00:01:30.000Z", "2026-01-01T00:03:00.000Z", "2026-01-01T00:04:30.000Z"])
            #expect(r.items.first?["local"] == .string("2026-01-01T00:01:30Z"))
            #expect(r["description"] == .string("Every 90 seconds, counted from 2026-01-01T00:00:00Z"))
            let bad = try await api.post("/v1/schedules/preview", #"{"schedule":{"type":"interval","every_sec":0}}"#)
            #expect(bad.status == 400 && bad["field"] == .string("schedule.every_sec"))
            let badCount = try await api.post("/v1/schedules/preview", #"{"schedule":{"type":"interval","every_sec":5},"count":0}"#)
            #expect(badCount.status == 400 && badCount["field"] == .string("count"))
            #expect(try await api.get("/v1/tasks?count=true")["total_count"] == .int(0), "a preview saves nothing")
        }
    }

    @Test("GET /v1/tasks/{id}/upcoming starts with the task's next_run_at")
    func upcoming() async throws {
        try await InProcessServer.with { api, _ in
            let task = try await api.post("/v1/tasks", #"{"name":"u","module":"noop","schedule":{"type":"interval","every_sec":3600,"jitter_sec":30}}"#)
            let id = try require(task["id"]?.stringValue)
            let upcoming = try await api.get("/v1/tasks/\(id)/upcoming?count=4")
            #expect(upcoming.items.count == 4)
            #expect(upcoming.items.first?["at"] == task["next_run_at"], "jitter included, as in next_run_at")
            #expect(try await api.get("/v1/tasks/\(id)/upcoming?count=5000").status == 400)
            #expect(try await api.get("/v1/tasks/nope/upcoming").status == 404)
        }
    }

    @Test("a cron preview shows local times with their offsets and an English description (SPEC §3 example)")
    func cronPreview() async throws {
        try await InProcessServer.with { api, _ in
            let r = try await api.post("/v1/schedules/preview", #"""
                {"schedule":{"type":"cron","expression":"30 2 * * *","timezone":"America/New_York"},"from":"2025-03-08T12:00:00Z","count":2}
                """#)
            #expect(r.items.compactMap { $0["at"]?.stringValue } == ["2025-03-09T07:00:00.000Z", "2025-03-10T06:30:00.000Z"])
            #expect(r.items.compactMap { $0["local"]?.stringValue } == ["2025-03-09T03:00:00-04:00", "2025-03-10T02:30:00-04:00"])
            #expect(r["description"] == .string("At 02:30 (America/New_York)"))
            let bad = try await api.post("/v1/schedules/preview", #"{"schedule":{"type":"cron","expression":"0 24 * * *"}}"#)
            #expect(bad.status == 400 && bad["code"] == .string("invalid_schedule") && bad["field"] == .string("schedule.expression"))
            #expect(bad["detail"] == .string("cron field 2 (hour): 24 is out of range 0-23"))
            let mars = try await api.post("/v1/tasks", #"{"name":"m","module":"noop","schedule":{"type":"cron","expression":"0 0 * * *","timezone":"Mars/Base"}}"#)
            #expect(mars.status == 400 && mars["field"] == .string("schedule.timezone"))
            let task = try await api.post("/v1/tasks", #"{"name":"c","module":"noop","schedule":{"type":"cron","expression":"0 9 * * MON-FRI","timezone":"Asia/Shanghai"}}"#)
            #expect(task.status == 201 && task["schedule"]?["timezone"] == .string("Asia/Shanghai"))
            let id = try require(task["id"]?.stringValue)
            let upcoming = try await api.get("/v1/tasks/\(id)/upcoming?count=3")
            #expect(upcoming.items.allSatisfy { ($0["local"]?.stringValue ?? "").hasSuffix("T09:00:00+08:00") })
            #expect(upcoming.items.first?["at"] == task["next_run_at"])
            #expect(try await api.get("/v1/tasks?count=true")["total_count"] == .int(1), "only the valid task was stored")
        }
    }
}
