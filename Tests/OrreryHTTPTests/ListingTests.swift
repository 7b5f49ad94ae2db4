import Foundation
import NIOHTTP1
import OrreryCore
import OrrerySQLite
import OrreryTesting
import Testing

@Suite("Listing: filters, order, cursors", .timeLimit(.minutes(5)))
struct ListingTests {
    /// The ids of every item of a listing, following cursors to the end.
    static func allPages(_ api: APIClient, _ path: String, limit: Int) async throws -> (ids: [String], pages: Int, total: Int) {
        var ids: [String] = []
        var cursor: String?
        var pages = 0
        var total = 0
        repeat {
            let sep = path.contains("?") ? "&" : "?"
            let page = try await api.get(path + sep + "count=true&limit=\(limit)" + (cursor.map { "&cursor=\($0)" } ?? ""))
            #expect(page.status == 200, "\(page.json.jsonText)")
            ids += page.items.compactMap { $0["id"]?.stringValue }
            total = Int(page["total_count"]?.intValue ?? -1)
            cursor = page["next_cursor"]?.stringValue
            pages += 1
        } while cursor != nil && pages < 1000
        return (ids, pages, total)
    }

    @Test("task filters: module, resource, enabled, name, name_contains, schedule_type, event, labels, owner, last_status", arguments: StoreKind.enabled)
    func taskFilters(kind: StoreKind) async throws {
        try await InProcessServer.with(store: kind) { api, _ in
            func make(_ body: String) async throws -> String {
                let r = try await api.post("/v1/tasks", body)
                #expect(r.status == 201, "\(r.json.jsonText)")
                return try require(r["id"]?.stringValue)
            }
            let a = try await make(#"{"name":"Nightly Backup","module":"noop","resource_id":"db-1","labels":{"team":"ops","configuration_id":"7"},"schedule":{"type":"cron","expression":"0 3 * * *"}}"#)
            let b = try await make(#"{"name":"hourly report","module":"sleep","params":{"seconds":0},"resource_id":"db-2","labels":{"team":"bi"},"schedule":{"type":"interval","every_sec":3600},"enabled":false}"#)
            let c = try await make(#"{"name":"on create","module":"noop","schedule":{"type":"trigger","event":"desktop.created"}}"#)
            func ids(_ query: String) async throws -> [String] {
                let r = try await api.get("/v1/tasks?" + (query.isEmpty ? "" : query + "&") + "count=true")
                #expect(r.status == 200, "\(query): \(r.json.jsonText)")
                #expect(r["total_count"]?.intValue == Int64(r.items.count), "\(query)")
                return r.items.compactMap { $0["id"]?.stringValue }
            }
            #expect(try await ids("") == [a, b, c], "creation order")
            #expect(try await ids("module=sleep") == [b])
            #expect(try await ids("resource_id=db-1") == [a])
            #expect(try await ids("enabled=false") == [b])
            #expect(try await ids("enabled=true") == [a, c])
            #expect(try await ids("name=hourly%20report") == [b])
            #expect(try await ids("name_contains=BACKUP") == [a])
            #expect(try await ids("schedule_type=cron,trigger") == [a, c])
            #expect(try await ids("event=desktop.created") == [c])
            #expect(try await ids("labels=team=ops") == [a])
            #expect(try await ids("labels=team=ops,configuration_id=7") == [a])
            #expect(try await ids("labels=team=ops,configuration_id=8") == [])
            #expect(try await ids("owner=admin") == [a, b, c])
            #expect(try await ids("owner=someone-else") == [])
            #expect(try await ids("module=noop&labels=team=ops") == [a])
            #expect(try await ids("last_status=complete") == [])

            for (query, field) in [
                ("schedule_type=weekly", "schedule_type"), ("labels=team", "labels"), ("enabled=maybe", "enabled"),
                ("limit=0", "limit"), ("limit=1001", "limit"), ("cursor=garbage", "cursor"), ("modul=noop", "modul"),
                ("last_status=done", "last_status"),
            ] {
                let r = try await api.get("/v1/tasks?\(query)")
                #expect(r.status == 400 && r["field"] == .string(field), "\(query): \(r.json.jsonText)")
            }
        }
    }

    @Test("run filters: several statuses, trigger, labels, performed_by, time windows, dismissed", arguments: StoreKind.enabled)
    func runFilters(kind: StoreKind) async throws {
        try await InProcessServer.with(store: kind) { api, _ in
            let task = try await api.post("/v1/tasks", #"{"name":"f","module":"noop","labels":{"configuration_id":"7"},"schedule":{"type":"interval","every_sec":3600}}"#)
            let taskID = try require(task["id"]?.stringValue)
            let other = try await api.post("/v1/tasks", #"{"name":"g","module":"noop","schedule":{"type":"interval","every_sec":3600}}"#)
            let otherID = try require(other["id"]?.stringValue)
            let manual = try require(try await api.post("/v1/tasks/\(taskID)/run")["id"]?.stringValue)
            try await eventually("manual run complete") { try await api.get("/v1/runs/\(manual)")["status"] == .string("complete") }
            let scheduled = try require(try await api.get("/v1/runs?task_id=\(taskID)&status=scheduled").items.first?["id"]?.stringValue)

            func ids(_ query: String) async throws -> Set<String> {
                let r = try await api.get("/v1/runs?\(query)")
                #expect(r.status == 200, "\(query): \(r.json.jsonText)")
                return Set(r.items.compactMap { $0["id"]?.stringValue })
            }
            #expect(try await ids("task_id=\(taskID)") == [manual, scheduled])
            #expect(try await ids("task_id=\(taskID)&status=complete,scheduled") == [manual, scheduled])
            #expect(try await ids("task_id=\(taskID)&status=failed") == [])
            #expect(try await ids("trigger=manual") == [manual])
            #expect(try await ids("labels=configuration_id=7") == [manual, scheduled])
            #expect(try await ids("performed_by=admin") == [manual])
            let startedAt = try require(try await api.get("/v1/runs/\(manual)")["started_at"]?.stringValue)
            #expect(try await ids("started_after=\(startedAt)") == [manual], "windows include their start")
            #expect(try await ids("started_before=\(startedAt)") == [], "and exclude their end")
            #expect(try await ids("finished_after=2000-01-01T00:00:00Z&task_id=\(taskID)") == [manual])
            #expect(try await ids("scheduled_after=2100-01-01T00:00:00Z") == [])
            #expect(try await ids("task_id=\(otherID)&status=complete") == [])
            let uncounted = try await api.get("/v1/runs?task_id=\(taskID)&count=false")
            #expect(uncounted["total_count"] == .null && uncounted.items.count == 2, "count=false skips counting, not listing")
            let byDefault = try await api.get("/v1/runs?task_id=\(taskID)")
            #expect(byDefault["total_count"] == .null && byDefault.items.count == 2, "by default nothing is counted")
            #expect(try await api.get("/v1/tasks")["total_count"] == .null, "tasks neither")
            #expect(try await api.get("/v1/runs?task_id=\(taskID)&count=true")["total_count"] == .int(2))

            #expect(try await api.post("/v1/runs/\(manual)/dismiss")["dismissed_by"] == .string("admin"))
            #expect(try await ids("task_id=\(taskID)") == [scheduled], "dismissed runs are hidden by default")
            #expect(try await ids("task_id=\(taskID)&dismissed=true") == [manual])

            for (query, field) in [
                ("status=complete,done", "status"), ("trigger=cron", "trigger"), ("started_after=yesterday", "started_after"),
                ("labels=,", "labels"), ("sort=asc", "sort"),
            ] {
                let r = try await api.get("/v1/runs?\(query)")
                #expect(r.status == 400 && r["field"] == .string(field) && r.contentType == "application/problem+json", "\(query): \(r.json.jsonText)")
            }
        }
    }

    @Test("paging with cursors while tasks and runs are inserted misses nothing and repeats nothing", arguments: StoreKind.enabled)
    func pagingWhileInserting(kind: StoreKind) async throws {
        try await InProcessServer.with(store: kind) { api, store in
            let now = Timestamp(secondsSinceEpoch: Date().timeIntervalSince1970)
            let far = Schedule(.once(at: now.adding(seconds: 86_400)))
            try await Fixtures.create((0..<250).map { Fixtures.task("t\($0)", schedule: far, at: now) }, in: store, now: now)
            let before = try await api.get("/v1/runs?limit=1&count=true")
            #expect(before["total_count"]?.intValue == 250)
            let beforeIDs = Set(try await Self.allPages(api, "/v1/runs", limit: 1000).ids)

            // Page through runs (newest first) and tasks (oldest first) while others insert.
            var runIDs: [String] = []
            var taskIDs: [String] = []
            var runCursor: String?
            var taskCursor: String?
            var inserted = 0
            var runsDone = false
            var tasksDone = false
            var insertedWhileListingTasks = 0
            repeat {
                if !runsDone {
                    let runs = try await api.get("/v1/runs?limit=7" + (runCursor.map { "&cursor=\($0)" } ?? ""))
                    runIDs += runs.items.compactMap { $0["id"]?.stringValue }
                    runCursor = runs["next_cursor"]?.stringValue
                    runsDone = runCursor == nil
                }
                if !tasksDone {
                    let tasks = try await api.get("/v1/tasks?limit=9" + (taskCursor.map { "&cursor=\($0)" } ?? ""))
                    taskIDs += tasks.items.compactMap { $0["id"]?.stringValue }
                    taskCursor = tasks["next_cursor"]?.stringValue
                    tasksDone = taskCursor == nil
                    insertedWhileListingTasks = inserted
                }
                try await Fixtures.create([Fixtures.task("late\(inserted)", schedule: far, at: now)], in: store, now: now)
                inserted += 1
            } while !(runsDone && tasksDone)
            #expect(Set(runIDs).count == runIDs.count, "no run twice")
            #expect(beforeIDs.isSubset(of: Set(runIDs)), "every run that existed when paging began was listed")
            #expect(Set(taskIDs).count == taskIDs.count, "no task twice")
            // Tasks are listed oldest first: those inserted while paging land after the cursor
            // and are reached too.
            #expect(taskIDs.count == 250 + insertedWhileListingTasks, "tasks inserted ahead of the cursor are reached")
        }
    }
}
