import Foundation
import NIOHTTP1
import OrreryCore
import OrreryEngine
import OrreryHTTP
import OrreryTesting
import Testing

/// Authenticated requests read who a token speaks for from a cache (issue 16): a revoke, a
/// disabled user or an expiry still ends a token on the very next request, on this node and
/// (PostgreSQL, two servers on one database) on every other node within a short bound.
@Suite(.timeLimit(.minutes(5)))
struct TokenGrantTests {
    @Test("a revoked token is refused on the next request, even right after being cached", arguments: StoreKind.enabled)
    func revokedOnThisNode(kind: StoreKind) async throws {
        try await InProcessServer.with(store: kind) { admin, _ in
            let made = try await admin.post("/v1/tokens", #"{"role":"viewer","name":"short-lived"}"#)
            #expect(made.status == 201)
            var viewer = admin
            viewer.token = try require(made["token"]?.stringValue)
            for _ in 0..<3 { #expect(try await viewer.get("/v1/tasks").status == 200) }
            #expect(try await admin.call(.DELETE, "/v1/tokens/\(try require(made["id"]?.stringValue))").status == 204)
            #expect(try await viewer.get("/v1/tasks").status == 401)
            #expect(try await admin.get("/v1/tasks").status == 200, "other tokens keep working")
        }
    }

    @Test("a disabled user's token is refused on the next request", arguments: StoreKind.enabled)
    func disabledUserOnThisNode(kind: StoreKind) async throws {
        try await InProcessServer.with(store: kind) { admin, _ in
            let user = try await admin.post("/v1/users", #"{"name":"ada","role":"operator"}"#)
            #expect(user.status == 201)
            let made = try await admin.post("/v1/tokens", #"{"user":"ada"}"#)
            #expect(made.status == 201, "\(made.json.jsonText)")
            var ada = admin
            ada.token = try require(made["token"]?.stringValue)
            #expect(try await ada.get("/v1/runs").status == 200)
            #expect(try await admin.call(.DELETE, "/v1/users/\(try require(user["id"]?.stringValue))").status == 204)
            #expect(try await ada.get("/v1/runs").status == 401)
        }
    }

    @Test("on two servers sharing PostgreSQL, a token revoked on one is refused by the other within seconds", arguments: StoreKind.shared)
    func revokedOnAnotherNode(kind: StoreKind) async throws {
        try await kind.withLocation { location in
            try await InProcessServer.serve(location: location, token: InProcessServer.adminToken) { urlA, _, _ in
                try await InProcessServer.serve(location: location, token: InProcessServer.adminToken) { urlB, _, _ in
                    let adminA = APIClient(baseURL: urlA, token: InProcessServer.adminToken)
                    let made = try await adminA.post("/v1/tokens", #"{"role":"viewer","name":"roaming"}"#)
                    #expect(made.status == 201)
                    let token = try require(made["token"]?.stringValue)
                    let viewerB = APIClient(baseURL: urlB, token: token)
                    #expect(try await viewerB.get("/v1/tasks").status == 200, "B now holds the grant in its cache")
                    #expect(try await adminA.call(.DELETE, "/v1/tokens/\(try require(made["id"]?.stringValue))").status == 204)
                    // Well under the cache's 30 s safety net: only the notice can make B refuse in time.
                    let start = ContinuousClock.now
                    try await eventually(timeout: .seconds(10), "B refuses the token revoked on A") {
                        try await viewerB.get("/v1/tasks").status == 401
                    }
                    print("TokenGrantTests: B refused the token \(ContinuousClock.now - start) after A revoked it")
                }
            }
        }
    }

    @Test("a cached grant ends at its token's expiry, and after the time to live when nobody says it changed", arguments: StoreKind.enabled)
    func expiryAndTimeToLive(kind: StoreKind) async throws {
        try await kind.withLocation { location in
            let store = try await location.open()
            defer { location.close(store) }
            let now = Timestamp(secondsSinceEpoch: 1_900_000_000)
            try await store.insertToken(StoredToken(
                id: "soon", hash: "hash-soon", name: "soon", role: "viewer", project: "default", createdAt: now, expiresAt: now.adding(seconds: 10)))
            try await store.insertToken(StoredToken(
                id: "admin", hash: "hash-admin", name: "admin", role: "admin", project: "default", createdAt: now))
            try await store.insertToken(StoredToken(
                id: "kept", hash: "hash-kept", name: "kept", role: "viewer", project: "default", createdAt: now))
            let grants = TokenGrants(store: store)
            #expect(try await grants.grant(hash: "hash-soon", now: now)?.tokenID == "soon")
            #expect(try await grants.grant(hash: "hash-soon", now: now.adding(seconds: 9))?.tokenID == "soon")
            #expect(try await grants.grant(hash: "hash-soon", now: now.adding(seconds: 10)) == nil, "expired: the cache does not outlive the token")
            #expect(try await grants.grant(hash: "unknown", now: now) == nil)
            #expect(grants.count == 0, "neither the expired nor the unknown token is remembered")

            // Revoked in the store behind the cache's back (no forgetAll): served from the
            // cache until the time to live, then refused.
            #expect(try await grants.grant(hash: "hash-kept", now: now)?.tokenID == "kept")
            try await store.revokeToken(id: "kept", now: now)
            #expect(try await grants.grant(hash: "hash-kept", now: now.adding(seconds: 29))?.tokenID == "kept", "cached, no store read")
            #expect(try await grants.grant(hash: "hash-kept", now: now.adding(seconds: 30)) == nil, "the time to live is a safety net")
        }
    }

    @Test("forgetAll empties the cache, and the cache never grows past its capacity", arguments: [StoreKind.sqlite])
    func boundedAndForgetful(kind: StoreKind) async throws {
        try await kind.withLocation { location in
            let store = try await location.open()
            defer { location.close(store) }
            let now = Timestamp(secondsSinceEpoch: 1_900_000_000)
            for i in 0..<12 {
                try await store.insertToken(StoredToken(
                    id: "t\(i)", hash: "h\(i)", name: "t\(i)", role: "viewer", project: "default", createdAt: now))
            }
            var configuration = TokenGrants.Configuration()
            configuration.capacity = 5
            let grants = TokenGrants(store: store, configuration: configuration)
            for i in 0..<12 {
                #expect(try await grants.grant(hash: "h\(i)", now: now)?.tokenID == "t\(i)")
                #expect(grants.count <= 5)
            }
            grants.forgetAll()
            #expect(grants.count == 0)
        }
    }
}
