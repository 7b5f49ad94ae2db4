import Foundation
import OrreryCore
import OrreryHTTP
import OrreryPostgres
import OrreryTesting
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The README's administrative commands with the real executable: `schedule explain`,
/// `migrate`, and `token create|list|revoke` (with `--project`, beside a running server, and
/// on PostgreSQL).
@Suite("orrery schedule, migrate and token commands", .timeLimit(.minutes(5)))
struct AdminCommandTests {
    static func orrery(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        try ServeOptionsTests.orrery(arguments, environment: environment)
    }

    @Test("schedule explain prints the expression's meaning and its next fire times in the zone, or names what is wrong",
          .timeLimit(.minutes(1)))
    func explain() throws {
        // 2026-03-02 is a Monday; 09:00 in Shanghai is 01:00 UTC.
        let text = try Self.orrery(["schedule", "explain", "0 9 * * MON-FRI", "--tz", "Asia/Shanghai", "--from", "2026-03-01T00:00:00Z", "--count", "3"])
        #expect(text.status == 0, "\(text.output)")
        let lines = text.output.split(separator: "\n").map(String.init)
        #expect(lines.count == 4, "a summary and three times: \(text.output)")
        for (line, day) in zip(lines.dropFirst(), ["02", "03", "04"]) {
            #expect(line.contains("2026-03-\(day)T09:00:00") && line.contains("+08:00") && line.contains("2026-03-\(day)T01:00:00"), "\(line)")
        }
        let json = try Self.orrery(["schedule", "explain", "@daily", "--tz", "America/New_York", "--from", "2026-03-07T12:00:00Z", "--count", "2", "--json"])
        let parsed = try JSONValue.parse(Data(json.output.utf8))
        // Across the spring-forward night: midnight is -05:00, then -04:00 after 8 March.
        #expect(parsed["items"]?.arrayValue?.compactMap { $0["at"]?.stringValue } == ["2026-03-08T05:00:00.000Z", "2026-03-09T04:00:00.000Z"], "\(json.output)")
        #expect(parsed["description"]?.stringValue?.isEmpty == false)
        let bad = try Self.orrery(["schedule", "explain", "61 * * * *"])
        #expect(bad.status != 0 && bad.output.lowercased().contains("minute"), "\(bad.output)")
    }

    @Test("token create --project, beside a running server on the same data directory, makes a token confined to that project",
          .timeLimit(.minutes(2)))
    func tokenForProject() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let data = dir.file("data")
        let server = try await ServerProcess.start(dataDir: data, token: "project-admin", log: dir.file("serve.log"), timeout: .seconds(30))
        defer { if server.process.isRunning { kill(server.process.processIdentifier, SIGKILL) } }
        let admin = server.api("project-admin")
        for project in ["alpha", "beta"] {
            #expect(try await admin.post("/v1/tasks", #"{"project":"\#(project)","name":"\#(project)-task","module":"noop","schedule":{"type":"interval","every_sec":3600}}"#).status == 201)
        }
        let created = try Self.orrery(["token", "create", "--role", "viewer", "--project", "alpha", "--name", "alpha-viewer", "--data-dir", data])
        #expect(created.status == 0, "\(created.output)")
        let secret = created.output.trimmingCharacters(in: .whitespacesAndNewlines)
        let viewer = server.api(secret)
        #expect(try await viewer.get("/v1/tasks").items.compactMap { $0["name"]?.stringValue } == ["alpha-task"], "confined to alpha")
        let listed = try JSONValue.parse(Data(try Self.orrery(["token", "list", "--json", "--data-dir", data]).output.utf8))
        let item = try require(listed["items"]?.arrayValue?.first { $0["name"] == .string("alpha-viewer") })
        #expect(item["project"] == .string("alpha") && item["role"] == .string("viewer"))
        #expect(await server.stop())
    }

    @Test("migrate and token create|list|revoke work on PostgreSQL (--database and ORRERY_DATABASE)",
          .enabled(if: Prerequisite.postgresRuns, "needs ORRERY_TEST_POSTGRES_URL (./scripts/test sets it; CI=true fails without it)"),
          .timeLimit(.minutes(2)))
    func postgres() async throws {
        try await StoreKind.withFreshDatabase { url in
            let migrated = try Self.orrery(["migrate", "--database", url])
            #expect(migrated.status == 0, "\(migrated.output)")
            // Standard output lists the applied migrations (standard error logs each one applied).
            func names(_ output: String) -> [String] { output.split(separator: "\n").map(String.init).filter { !$0.contains(" orrery: ") } }
            #expect(names(migrated.output) == PostgresStore.migrationNames, "\(migrated.output)")
            let again = try Self.orrery(["migrate"], environment: ["ORRERY_DATABASE": url])
            #expect(again.status == 0 && names(again.output) == PostgresStore.migrationNames && !again.output.contains("applied migration"),
                    "idempotent, and from the variable: \(again.output)")

            let created = try Self.orrery(["token", "create", "--role", "operator", "--project", "ops", "--database", url])
            #expect(created.status == 0, "\(created.output)")
            let secret = created.output.trimmingCharacters(in: .whitespacesAndNewlines)
            let store = try await PostgresStore.connect(url: url)
            defer { store.close() }
            let now = Timestamp(secondsSinceEpoch: Date().timeIntervalSince1970)
            let grant = try #require(try await store.tokenRole(hash: TokenHash.of(secret), now: now), "the token is in the database")
            #expect(grant.role == "operator" && grant.project == "ops")

            let listed = try JSONValue.parse(Data(try Self.orrery(["token", "list", "--json"], environment: ["ORRERY_DATABASE": url]).output.utf8))
            let id = try require(listed["items"]?.arrayValue?.first?["id"]?.stringValue)
            #expect(!listed.jsonText.contains(secret))
            #expect(try Self.orrery(["token", "revoke", id, "--database", url]).status == 0)
            #expect(try await store.tokenRole(hash: TokenHash.of(secret), now: now) == nil, "revoked in the database")
        }
    }
}
