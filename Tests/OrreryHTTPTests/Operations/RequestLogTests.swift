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

/// The real server's logs at the most talkative level: one line per request with its
/// request id, JSON when asked, and no token anywhere — presented in a header, in
/// `?access_token=`, in `X-Auth-Token`, valid or not, or just issued.
@Suite("Request logs of a real server", .timeLimit(.minutes(5)))
struct RequestLogTests {
    @Test("every request is logged as JSON with its request id (echoed in X-Request-ID), and no token ever reaches the log")
    func requestIDsAndNoTokens() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let admin = "orr_admin-secret-\(UUID().uuidString)"
        let server = try await ServerProcess.start(
            dataDir: dir.file("data"), token: admin, log: dir.file("serve.log"),
            extraArguments: ["--log-format", "json", "--log-level", "trace", "--shutdown-grace-sec", "0"])
        defer { if server.process.isRunning { kill(server.process.processIdentifier, SIGKILL) } }
        let api = server.api(admin)
        let anonymous = APIClient(baseURL: api.baseURL, token: nil)

        let ready = try await anonymous.get("/readyz")
        #expect(ready.status == 200 && ready["checks"]?["engine"] == .string("running"), "\(ready.json)")
        let issued = try require(try await api.post("/v1/tokens", #"{"role":"viewer","name":"log-test"}"#)["token"]?.stringValue)
        let wrong = "orr_not-a-real-token-\(UUID().uuidString)"
        #expect(try await APIClient(baseURL: api.baseURL, token: issued).get("/v1/tasks").status == 200)
        #expect(try await APIClient(baseURL: api.baseURL, token: wrong).get("/v1/tasks").status == 401)
        #expect(try await anonymous.get("/_synapse/admin/v1/scheduled_tasks?access_token=\(admin)").status == 200)
        #expect(try await anonymous.get("/_synapse/admin/v1/scheduled_tasks?access_token=\(wrong)").status != 200)
        #expect(try await anonymous.call(.GET, "/v2/default/scheduled-tasks?offset=0&limit=10", headers: [("X-Auth-Token", issued)]).status == 200)
        _ = try await api.post("/v1/tasks", #"{"name":"logged","module":"noop","schedule":{"type":"once"}}"#)

        let echoed = try await anonymous.raw("/healthz", headers: [("X-Request-ID", "trace-42.a:b_c")])
        #expect(echoed.requestID == "trace-42.a:b_c")
        let replaced = try await anonymous.raw("/healthz", headers: [("X-Request-ID", "not allowed {}")])
        #expect(replaced.requestID != nil && replaced.requestID != "not allowed {}")
        #expect(await server.stop())

        let log = try String(contentsOfFile: dir.file("serve.log"), encoding: .utf8)
        for secret in [admin, issued, wrong] {
            #expect(!log.contains(secret), "a token reached the log")
        }
        // Every log line but the listening address is one JSON object.
        let lines = log.split(separator: "\n").filter { !$0.hasPrefix("Orrery listening on ") }
        let records = lines.compactMap { try? JSONValue.parse(Array($0.utf8)) }
        #expect(records.count == lines.count, "non-JSON lines: \(lines.filter { (try? JSONValue.parse(Array($0.utf8))) == nil }.prefix(3))")
        let requests = records.filter { $0["message"] == .string("request") }
        #expect(requests.count >= 10)
        #expect(requests.allSatisfy { $0["hb.request.id"]?.stringValue?.isEmpty == false && $0["status"]?.intValue != nil && $0["route"] != nil })
        #expect(requests.contains { $0["hb.request.id"] == .string("trace-42.a:b_c") && $0["path"] == .string("/healthz") })
        #expect(requests.contains { $0["route"] == .string("/_synapse/admin/v1/scheduled_tasks") && $0["path"] == .string("/_synapse/admin/v1/scheduled_tasks") })
    }

    @Test("the text format (the default) is swift-log's stream line: local time with its offset, level, label, sorted key=value pairs, [source], message; one line per request")
    func textLines() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let admin = "orr_admin-secret-\(UUID().uuidString)"
        var environment = ProcessInfo.processInfo.environment
        environment["TZ"] = "Asia/Kolkata"  // +0530 all year: the stamp is the machine's local time
        let server = try await ServerProcess.start(
            dataDir: dir.file("data"), token: admin, log: dir.file("serve.log"),
            extraArguments: ["--shutdown-grace-sec", "0"], environment: environment)
        defer { if server.process.isRunning { kill(server.process.processIdentifier, SIGKILL) } }
        let anonymous = APIClient(baseURL: server.api(admin).baseURL, token: nil)
        for i in 0..<20 { _ = try await anonymous.raw("/healthz", headers: [("X-Request-ID", "text-\(i)")]) }
        #expect(try await server.api(admin).get("/v1/tasks/missing").status == 404)
        #expect(await server.stop())

        let log = try String(contentsOfFile: dir.file("serve.log"), encoding: .utf8)
        let lines = log.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("Orrery listening on ") }
        let shape = #/^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\+0530 (trace|debug|info|notice|warning|error|critical) orrery:((?: [^ =]+=[^ ]*)*) \[([A-Za-z]+)\] (.+)$/#
        #expect(!lines.isEmpty && lines.allSatisfy { $0.wholeMatch(of: shape) != nil }, "not a stream line: \(lines.filter { $0.wholeMatch(of: shape) == nil }.prefix(3))")
        for i in 0..<20 {
            let line = try #require(lines.first { $0.contains(" hb.request.id=text-\(i) ") }, "request \(i) not logged")
            let match = try #require(line.wholeMatch(of: shape))
            let keys = match.3.split(separator: " ").map { String($0.prefix { $0 != "=" }) }
            #expect(keys == ["duration_ms", "hb.request.id", "method", "path", "route", "status"], "keys in order: \(line)")
            #expect(line.hasSuffix(" method=GET path=/healthz route=/healthz status=200 [OrreryHTTP] request"), "\(line)")
        }
        #expect(lines.contains { $0.contains(" path=/v1/tasks/missing route=/v1/tasks/{id} status=404 [OrreryHTTP] request") })
        #expect(lines.filter { $0.hasSuffix("[OrreryHTTP] request") }.count == 21, "one line per request")
        #expect(!log.contains(admin), "a token reached the log")
        // The stamp is the time the line was written, in that zone.
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "Asia/Kolkata")
        formatter.dateFormat = "yyyy-MM-dd'T'HH:mm:ss"
        let stamp = try #require(lines.last.flatMap { $0.wholeMatch(of: shape) }.flatMap { formatter.date(from: String($0.1)) })
        #expect(abs(stamp.timeIntervalSinceNow) < 60, "\(stamp) is not now")
    }
}

extension APIClient {
    /// A request whose response headers matter more than its body.
    func raw(_ path: String, headers: [(String, String)]) async throws -> (status: Int, requestID: String?) {
        var request = HTTPClientRequest(url: baseURL + path)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        _ = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), response.headers.first(name: "X-Request-ID"))
    }
}
