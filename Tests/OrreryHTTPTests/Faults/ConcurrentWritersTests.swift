import Foundation
import NIOHTTP1
import OrreryCore
import OrreryTesting
import Testing

/// 32 API clients writing at once against the embedded SQLite store while the engine fires
/// hundreds of runs a second: SQLite has one writer, and no client may ever see it.
@Suite("Fault: concurrent writers", .timeLimit(.minutes(3)))
struct ConcurrentWritersTests {
    @Test("32 concurrent writers while the engine runs flat out: no 5xx, never \"database is locked\"")
    func writers() async throws {
        try await InProcessServer.with { api, _ in
            for i in 0..<200 {  // the engine's load: 200 runs a second
                #expect(try await api.post("/v1/tasks", #"{"name":"load-\#(i)","module":"noop","schedule":{"type":"interval","every_sec":1}}"#).status == 201)
            }
            let answers = try await withThrowingTaskGroup(of: [(Int, String)].self) { group in
                for writer in 0..<32 {
                    group.addTask {
                        var seen: [(Int, String)] = []
                        func note(_ r: APIResponse) { seen.append((r.status, r.json.jsonText)) }
                        for i in 0..<15 {
                            let created = try await api.post("/v1/tasks", #"{"name":"w\#(writer)-\#(i)","module":"noop","schedule":{"type":"once"}}"#)
                            note(created)
                            guard let id = created["id"]?.stringValue else { continue }
                            note(try await api.call(.PATCH, "/v1/tasks/\(id)", body: #"{"description":"patched by \#(writer)"}"#))
                            note(try await api.post("/v1/tasks/\(id)/run"))
                            note(try await api.get("/v1/runs?task_id=\(id)"))
                        }
                        return seen
                    }
                }
                return try await group.reduce(into: [(Int, String)]()) { $0 += $1 }
            }
            #expect(answers.count == 32 * 15 * 4)
            let failures = answers.filter { $0.0 >= 500 || $0.1.localizedCaseInsensitiveContains("locked") }
            #expect(failures.isEmpty, "\(failures.prefix(3))")
            #expect(answers.allSatisfy { [200, 201].contains($0.0) }, "\(Set(answers.map(\.0)))")
            let complete = try await api.get("/v1/runs?status=complete&limit=1&count=true")["total_count"]?.intValue ?? 0
            #expect(complete > 32 * 15, "the engine kept firing meanwhile (\(complete) complete runs)")
        }
    }
}
