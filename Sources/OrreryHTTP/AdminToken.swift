import Foundation
public import OrreryCore

/// The start-up rule for the admin token (Appendix A): `ORRERY_ADMIN_TOKEN` when set;
/// otherwise the first start of an empty store makes one, prints it once, and writes it to
/// `<data-dir>/admin.token` (mode 0600). Only its hash is stored.
public enum AdminToken {
    public enum Outcome: Equatable, Sendable {
        case fromEnvironment
        case generated(token: String, file: String)
        case existing
    }

    public static func ensure(store: any TaskStore, environmentToken: String?, dataDir: String, now: Timestamp) async throws -> Outcome {
        if let token = environmentToken, !token.isEmpty {
            let hash = TokenHash.of(token)
            if try await store.tokenRole(hash: hash, now: now) == nil {
                try await store.insertToken(StoredToken(
                    id: IDGenerator().make(at: now), hash: hash, name: "admin", role: "admin", project: "default", createdAt: now))
            }
            return .fromEnvironment
        }
        // "Empty" means no usable admin token: viewer or operator tokens made first with
        // `orrery token create` do not stop the first admin token from being made.
        let hasAdmin = try await store.listTokens().contains { $0.role == Role.admin.rawValue && $0.revokedAt == nil }
        guard !hasAdmin else { return .existing }
        let token = TokenHash.generate()
        let file = (dataDir as NSString).appendingPathComponent("admin.token")
        guard FileManager.default.createFile(atPath: file, contents: Data((token + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
            throw OrreryError(.unavailable, "cannot write \(file)")
        }
        try await store.insertToken(StoredToken(
            id: IDGenerator().make(at: now), hash: TokenHash.of(token), name: "admin", role: "admin", project: "default", createdAt: now))
        return .generated(token: token, file: file)
    }
}
