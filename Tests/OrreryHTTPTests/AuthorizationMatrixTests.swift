import Foundation
import NIOHTTP1
import OrreryCore
import OrreryHTTP
import OrrerySQLite
import OrreryTesting
import Testing

/// Every endpoint × every kind of credential × own and other project: the status code,
/// that the response conforms to the OpenAPI document, that nothing of the other project
/// leaks into a body, and that a refused write changed nothing.
@Suite("Authorization matrix", .timeLimit(.minutes(5)))
struct AuthorizationMatrixTests {
    enum Credential: String, CaseIterable {
        case none, wrong, revoked, expired, viewer, `operator`, admin
        /// An external worker's token (issue 13): it may only claim and finish runs, so every
        /// endpoint here is 403 to it.
        case worker
    }

    /// What a case acts on: a task and two runs (one still scheduled, one finished) in a project.
    struct Target: Sendable {
        var project: String
        var taskID: String
        var scheduledRunID: String
        var finishedRunID: String
        var secretName: String
    }

    struct Endpoint: Sendable {
        var name: String
        var method: HTTPMethod
        /// The path and body for a target.
        var request: @Sendable (Target) -> (path: String, body: String?)
        /// The least role that may call it (nil: any valid token).
        var role: Role?
        /// Whether it acts on the target's project (other project → 404 below admin).
        var projectScoped: Bool
        /// What success looks like.
        var ok: Int
        var writes: Bool
        /// The answer below admin in another project: 404 (invisible), or 403 for creating there.
        var otherProject = 404
    }

    static let endpoints: [Endpoint] = [
        .init(name: "list tasks", method: .GET, request: { _ in ("/v1/tasks", nil) }, role: nil, projectScoped: false, ok: 200, writes: false),
        .init(name: "create task", method: .POST, request: { t in
            ("/v1/tasks", #"{"project":"\#(t.project)","name":"made","module":"noop","schedule":{"type":"interval","every_sec":3600}}"#)
        }, role: .operator, projectScoped: true, ok: 201, writes: true, otherProject: 403),
        .init(name: "get task", method: .GET, request: { t in ("/v1/tasks/\(t.taskID)", nil) }, role: nil, projectScoped: true, ok: 200, writes: false),
        .init(name: "patch task", method: .PATCH, request: { t in ("/v1/tasks/\(t.taskID)", #"{"description":"changed"}"#) }, role: .operator, projectScoped: true, ok: 200, writes: true),
        .init(name: "delete task", method: .DELETE, request: { t in ("/v1/tasks/\(t.taskID)", nil) }, role: .operator, projectScoped: true, ok: 204, writes: true),
        .init(name: "run task now", method: .POST, request: { t in ("/v1/tasks/\(t.taskID)/run", nil) }, role: .operator, projectScoped: true, ok: 201, writes: true),
        .init(name: "pause task", method: .POST, request: { t in ("/v1/tasks/\(t.taskID)/pause", nil) }, role: .operator, projectScoped: true, ok: 200, writes: true),
        .init(name: "resume task", method: .POST, request: { t in ("/v1/tasks/\(t.taskID)/resume", nil) }, role: .operator, projectScoped: true, ok: 200, writes: true),
        .init(name: "upcoming", method: .GET, request: { t in ("/v1/tasks/\(t.taskID)/upcoming?count=2", nil) }, role: nil, projectScoped: true, ok: 200, writes: false),
        .init(name: "preview", method: .POST, request: { _ in ("/v1/schedules/preview", #"{"schedule":{"type":"cron","expression":"0 9 * * *"}}"#) }, role: nil, projectScoped: false, ok: 200, writes: false),
        .init(name: "list runs", method: .GET, request: { _ in ("/v1/runs?dismissed=false", nil) }, role: nil, projectScoped: false, ok: 200, writes: false),
        .init(name: "get run", method: .GET, request: { t in ("/v1/runs/\(t.scheduledRunID)", nil) }, role: nil, projectScoped: true, ok: 200, writes: false),
        .init(name: "cancel run", method: .POST, request: { t in ("/v1/runs/\(t.scheduledRunID)/cancel", nil) }, role: .operator, projectScoped: true, ok: 200, writes: true),
        .init(name: "dismiss run", method: .POST, request: { t in ("/v1/runs/\(t.finishedRunID)/dismiss", nil) }, role: .operator, projectScoped: true, ok: 200, writes: true),
        .init(name: "run logs", method: .GET, request: { t in ("/v1/runs/\(t.finishedRunID)/logs", nil) }, role: nil, projectScoped: true, ok: 200, writes: false),
        .init(name: "modules", method: .GET, request: { _ in ("/v1/modules", nil) }, role: nil, projectScoped: false, ok: 200, writes: false),
        .init(name: "create token", method: .POST, request: { t in ("/v1/tokens", #"{"role":"viewer","project":"\#(t.project)"}"#) }, role: .admin, projectScoped: false, ok: 201, writes: true),
        .init(name: "list tokens", method: .GET, request: { _ in ("/v1/tokens", nil) }, role: .admin, projectScoped: false, ok: 200, writes: false),
        .init(name: "revoke token", method: .DELETE, request: { t in ("/v1/tokens/\(t.taskID)-token", nil) }, role: .admin, projectScoped: false, ok: 404, writes: true),
        .init(name: "create user", method: .POST, request: { t in ("/v1/users", #"{"name":"u-\#(UUID().uuidString)","role":"viewer","project":"\#(t.project)"}"#) }, role: .admin, projectScoped: false, ok: 201, writes: true),
        .init(name: "list users", method: .GET, request: { _ in ("/v1/users", nil) }, role: .admin, projectScoped: false, ok: 200, writes: false),
        .init(name: "disable user", method: .DELETE, request: { t in ("/v1/users/\(t.taskID)-user", nil) }, role: .admin, projectScoped: false, ok: 404, writes: true),
    ]

    @Test("every endpoint answers each credential and project as its role allows, conforms to the document, and leaks nothing",
          arguments: StoreKind.enabled)
    func matrix(_ kind: StoreKind) async throws {
        try await InProcessServer.with(store: kind) { admin, store in
            let validator = SchemaValidator(document: try await admin.get("/openapi.json").json)
            let now = Timestamp(secondsSinceEpoch: Date().timeIntervalSince1970)
            // Credentials, all acting in project "alpha".
            var clients: [Credential: APIClient] = [:]
            for credential in Credential.allCases {
                var client = admin
                switch credential {
                case .none: client.token = nil
                case .wrong: client.token = "orr_not-a-token"
                case .revoked:
                    let made = try await admin.post("/v1/tokens", #"{"role":"admin","project":"alpha"}"#)
                    client.token = try require(made["token"]?.stringValue)
                    #expect(try await admin.call(.DELETE, "/v1/tokens/\(try require(made["id"]?.stringValue))").status == 204)
                case .expired:
                    client.token = "orr_expired-\(UUID().uuidString)"
                    try await store.insertToken(StoredToken(
                        id: "expired", hash: TokenHash.of(client.token!), name: "late", role: "admin", project: "alpha",
                        createdAt: now.adding(seconds: -7200), expiresAt: now.adding(seconds: -3600)))
                case .viewer, .operator, .admin:
                    let made = try await admin.post("/v1/tokens", #"{"role":"\#(credential.rawValue)","project":"alpha","name":"\#(credential.rawValue)-alpha"}"#)
                    #expect(made.status == 201)
                    client.token = try require(made["token"]?.stringValue)
                case .worker:
                    #expect(try await admin.post("/v1/modules", #"{"name":"matrix-ext","description":{"en-US":"x"}}"#).status == 201)
                    let made = try await admin.post("/v1/tokens", #"{"role":"worker","project":"alpha","modules":["matrix-ext"]}"#)
                    #expect(made.status == 201)
                    client.token = try require(made["token"]?.stringValue)
                }
                clients[credential] = client
            }

            var counter = 0
            func target(in project: String) async throws -> Target {
                counter += 1
                let secret = "secret-\(project)-\(counter)"
                let task = try await admin.post("/v1/tasks", #"{"project":"\#(project)","name":"\#(secret)","module":"noop","schedule":{"type":"interval","every_sec":3600}}"#)
                let taskID = try require(task["id"]?.stringValue, "task id: \(task.json.jsonText)")
                let first = try require(try await admin.get("/v1/runs?task_id=\(taskID)&status=scheduled").items.first?["id"]?.stringValue)
                #expect(try await admin.post("/v1/runs/\(first)/cancel")["status"] == .string("canceled"))
                let next = try require(try await admin.get("/v1/runs?task_id=\(taskID)&status=scheduled").items.first?["id"]?.stringValue)
                return Target(project: project, taskID: taskID, scheduledRunID: next, finishedRunID: first, secretName: secret)
            }
            /// What a refused write must leave as it was.
            func snapshot(_ t: Target) async throws -> String {
                let task = try await admin.get("/v1/tasks/\(t.taskID)").json.jsonText
                let runs = try await admin.get("/v1/runs?task_id=\(t.taskID)&dismissed=false").json.jsonText
                let tokens = try await admin.get("/v1/tokens").items.count
                let users = try await admin.get("/v1/users").items.count
                return "\(task)|\(runs)|\(tokens)|\(users)"
            }

            for endpoint in Self.endpoints {
                for credential in Credential.allCases {
                    for project in ["alpha", "beta"] {
                        let t = try await target(in: project)
                        let other = try await target(in: project == "alpha" ? "beta" : "alpha")
                        let before = try await snapshot(t)
                        let (path, body) = endpoint.request(t)
                        let client = try require(clients[credential])
                        let response = try await client.call(endpoint.method, path, body: body)
                        let label = "\(endpoint.name) as \(credential) on \(project)"

                        let role: Role? = switch credential {
                        case .viewer: .viewer
                        case .operator: .operator
                        case .admin: .admin
                        default: nil
                        }
                        let expected: Int
                        if credential == .worker {
                            expected = 403
                        } else if let role {
                            if let needed = endpoint.role, role < needed {
                                expected = 403
                            } else if endpoint.projectScoped && project == "beta" && role < .admin {
                                expected = endpoint.otherProject
                            } else {
                                expected = endpoint.ok
                            }
                        } else {
                            expected = 401
                        }
                        #expect(response.status == expected, "\(label): \(response.json.jsonText)")
                        let problems = validator.check(
                            method: "\(endpoint.method)", path: path, status: response.status, contentType: response.contentType,
                            body: response.json)
                        #expect(problems.isEmpty, "\(label): \(problems)")
                        // Nothing of a project the caller may not see reaches it.
                        let text = response.json.jsonText
                        if role != .admin {
                            #expect(!text.contains(other.secretName) || other.project == "alpha", "\(label) leaked \(other.secretName)")
                            if project == "beta" { #expect(!text.contains(t.secretName), "\(label) leaked \(t.secretName)") }
                        }
                        if endpoint.writes && !(200..<300).contains(response.status) {
                            #expect(try await snapshot(t) == before, "\(label) changed something")
                        }
                    }
                }
            }
        }
    }
}
