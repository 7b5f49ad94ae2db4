import Foundation
public import Hummingbird
public import OrreryCore
public import OrreryEngine

/// Who a token speaks for: the one token check that the native API and every compatibility
/// profile use, so a token means the same caller whichever surface it is shown to.
/// Surfaces differ only in where they read the token from and how they word a refusal.
public struct TokenAuthenticator: Sendable {
    let grants: TokenGrants
    let clock: any EngineClock

    /// Checks tokens through `grants` (a server passes its `TaskService.tokenGrants`, which
    /// its token and user routes clear on a revoke).
    public init(grants: TokenGrants, clock: any EngineClock) {
        self.grants = grants
        self.clock = clock
    }

    public init(store: any TaskStore, clock: any EngineClock) {
        self.init(grants: TokenGrants(store: store), clock: clock)
    }

    public enum Outcome: Sendable {
        /// No token was presented.
        case missing
        /// A token was presented but is unknown, revoked or expired.
        case invalid
        case valid(TaskService.Caller)
    }

    /// Checks a presented token (nil or blank: none was presented). A worker token (issue 13)
    /// is valid only where `allowWorkers` says so (the native API, which lets it reach the
    /// worker verbs alone); every other surface treats it as invalid.
    public func check(_ token: String?, allowWorkers: Bool = false) async throws -> Outcome {
        guard let token = token?.trimmingWhitespace, !token.isEmpty else { return .missing }
        guard let grant = try await grants.grant(hash: TokenHash.of(token), now: clock.now()) else { return .invalid }
        if grant.role == Role.worker.rawValue && !allowWorkers { return .invalid }
        return .valid(TaskService.Caller(
            name: grant.name, project: grant.project, role: Role(rawValue: grant.role) ?? .viewer, rights: Set(grant.rights)))
    }

    /// The token of an `Authorization: Bearer <token>` header, if the request has one.
    public static func bearerToken(_ request: Request) -> String? {
        // The scheme's name is case-insensitive; only it is compared, not the whole header lowercased.
        guard let header = request.headers[.authorization],
              header.utf8.count >= 7, header.utf8.prefix(7).elementsEqual("bearer ".utf8, by: { ((0x41...0x5A).contains($0) ? $0 | 0x20 : $0) == $1 })
        else { return nil }
        return String(header.dropFirst("bearer ".count))
    }
}
