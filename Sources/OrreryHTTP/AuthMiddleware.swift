import Crypto
import Foundation
public import Hummingbird
public import OrreryCore
import OrreryEngine

/// Checks `Authorization: Bearer <token>` against the stored token hashes (tokens are
/// never stored in clear). Roles and projects arrive with the API contract issue; for now
/// every valid token acts in its own project.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = OrreryRequestContext
    let store: any TaskStore
    let clock: any EngineClock

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization], header.lowercased().hasPrefix("bearer ") else {
            throw ProblemError(status: .unauthorized, code: "unauthorized", title: "Unauthorized", detail: "missing bearer token (Authorization: Bearer <token>)", field: nil)
        }
        let token = header.dropFirst("bearer ".count).trimmingCharacters(in: .whitespaces)
        guard !token.isEmpty, let grant = try await store.tokenRole(hash: TokenHash.of(token), now: clock.now()) else {
            throw ProblemError(status: .unauthorized, code: "unauthorized", title: "Unauthorized", detail: "the bearer token is not valid", field: nil)
        }
        var context = context
        context.caller = TaskService.Caller(
            name: grant.name, project: grant.project, role: Role(rawValue: grant.role) ?? .viewer, rights: Set(grant.rights))
        return try await next(request, context)
    }
}

/// How tokens are stored: SHA-256, hex. Tokens are 256 random bits, so a fast hash is safe.
public enum TokenHash {
    public static func of(_ token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// A new random token: `orr_` and 43 URL-safe base64 characters (256 bits).
    public static func generate() -> String {
        var rng = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
        return "orr_" + Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}
