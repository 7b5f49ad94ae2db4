import Crypto
import Foundation
import Hummingbird
import OrreryCore
import OrreryEngine

/// Checks `Authorization: Bearer <token>` for the native API (through `TokenAuthenticator`,
/// shared with the compatibility profiles) and answers 401 as a problem.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = OrreryRequestContext
    let authenticator: TokenAuthenticator

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        switch try await authenticator.check(TokenAuthenticator.bearerToken(request), allowWorkers: true) {
        case .missing:
            throw ProblemError(status: .unauthorized, code: "unauthorized", title: "Unauthorized", detail: "missing bearer token (Authorization: Bearer <token>)", field: nil)
        case .invalid:
            throw ProblemError(status: .unauthorized, code: "unauthorized", title: "Unauthorized", detail: "the bearer token is not valid", field: nil)
        case .valid(let caller):
            if caller.role == .worker && !WorkerRoutes.isWorkerVerb(request) {
                throw ProblemError(status: .forbidden, code: "forbidden", title: "Forbidden", detail: "a worker token can only claim and finish runs (/v1/workers/claim, /v1/runs/{id}/heartbeat|logs|complete|fail)", field: nil)
            }
            var context = context
            context.caller = caller
            return try await next(request, context)
        }
    }
}

/// How tokens are stored: SHA-256, hex. Tokens are 256 random bits, so a fast hash is safe.
public enum TokenHash {
    public static func of(_ token: String) -> String {
        // Lower-case hex by hand: String(format:) per byte cost more than the hash itself on
        // every authenticated request.
        let digits = Array("0123456789abcdef".utf8)
        var hex = [UInt8]()
        hex.reserveCapacity(64)
        for byte in SHA256.hash(data: Data(token.utf8)) {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: hex, as: UTF8.self)
    }

    /// A new random token: `orr_` and 43 URL-safe base64 characters (256 bits).
    public static func generate() -> String {
        var rng = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
        return "orr_" + Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}
