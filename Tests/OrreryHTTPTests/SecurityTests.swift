import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OrreryCore
import OrreryTesting
import Testing

/// Guessing tokens, seen from a client's side (issue 17's security list).
@Suite("Security", .timeLimit(.minutes(2)))
struct SecurityTests {
    @Test("after N failed authentications an address gets 429 with Retry-After on every surface, until the window ends")
    func failedAuthLimit() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let token = "security-test-token"
        let server = try await ServerProcess.start(
            dataDir: dir.file("data"), token: token, log: dir.file("server.log"), extraArguments: ["--auth-failures-per-minute", "5"])
        defer { server.process.terminate(); server.process.waitUntilExit() }
        #expect(try await server.api(token).get("/v1/tasks").status == 200)
        let guess = server.api("orr_guess")
        for _ in 0..<3 { #expect(try await guess.get("/v1/tasks").status == 401) }
        // Profiles count too: a wrong X-Auth-Token on the Workspace profile.
        for _ in 0..<2 {
            #expect(try await guess.call(.GET, "/v2/default/scheduled-tasks?offset=0&limit=10", headers: [("X-Auth-Token", "nope")]).status == 401)
        }
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(server.port)/v1/tasks")
        request.headers.add(name: "Authorization", value: "Bearer orr_another_guess")
        let blocked = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        #expect(blocked.status.code == 429)
        let wait = Int(blocked.headers.first(name: "Retry-After") ?? "") ?? 0
        #expect((1...60).contains(wait), "Retry-After: \(wait)")
        let answer = try await guess.get("/v1/tasks")
        #expect(answer.status == 429 && answer["code"] == .string("too_many_failed_authentications"))
        #expect(try await server.api(token).get("/healthz").status == 429, "the address is blocked whatever it presents")
    }
}
