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
            // The documented recovery path: whatever happened to this token (revoked, expired,
            // its user disabled, demoted), it is a working admin token again after the start.
            if try await store.tokenRole(hash: hash, now: now)?.role != Role.admin.rawValue {
                let token = StoredToken(
                    id: IDGenerator().make(at: now), hash: hash, name: "admin", role: "admin", project: "default", createdAt: now,
                    prefix: StoredToken.prefix(of: token))
                if let bootstrap = store as? any TokenBootstrapStore {
                    try await bootstrap.reinstateAdminToken(token)
                } else {
                    do {
                        try await store.insertToken(token)
                    } catch let error as OrreryError where error.code == .conflict {
                        // Another node starting at the same time stored the same token first.
                    }
                }
            }
            return .fromEnvironment
        }
        // "Empty" means no usable admin token: viewer or operator tokens made first with
        // `orrery token create` do not stop the first admin token from being made.
        let hasAdmin = try await store.listTokens().contains { $0.role == Role.admin.rawValue && $0.revokedAt == nil }
        guard !hasAdmin else { return .existing }
        let token = TokenHash.generate()
        let stored = StoredToken(
            id: IDGenerator().make(at: now), hash: TokenHash.of(token), name: "admin", role: "admin", project: "default", createdAt: now,
            prefix: StoredToken.prefix(of: token))
        // Several nodes may start together on one shared database: exactly one makes the token.
        if let bootstrap = store as? any TokenBootstrapStore {
            guard try await bootstrap.insertFirstAdminToken(stored) else { return .existing }
        } else {
            try await store.insertToken(stored)
        }
        let file = (dataDir as NSString).appendingPathComponent("admin.token")
        guard FileManager.default.createFile(atPath: file, contents: Data((token + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
            throw OrreryError(.unavailable, "cannot write \(file)")
        }
        return .generated(token: token, file: file)
    }
}
