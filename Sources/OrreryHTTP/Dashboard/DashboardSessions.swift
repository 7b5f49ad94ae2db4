import Crypto
import Foundation
public import OrreryCore

/// The dashboard's sign-in sessions, kept in this process's memory.
///
/// Server-side rather than a signed cookie: signing out, or revoking the token the session
/// was made from, ends the session at once (every request re-checks the token's hash in the
/// store), and there is no signing key to generate, keep secret and share. The price: a
/// restart signs everyone out, and several nodes behind one proxy need sticky sessions.
/// Only SHA-256 digests of session ids are kept, so a memory dump holds no usable id.
public actor DashboardSessions {
    /// One signed-in browser: whose token it speaks for, its CSRF token, and when it ends.
    struct Session: Sendable {
        var tokenHash: String
        var csrf: String
        var expiresAt: Timestamp
        var idleUntil: Timestamp
    }

    /// How long a session lasts at most, and without a request.
    public struct Lifetimes: Sendable {
        public var absolute: Int64
        public var idle: Int64
        public init(absoluteSec: Int64 = 12 * 3600, idleSec: Int64 = 2 * 3600) {
            absolute = absoluteSec
            idle = idleSec
        }
    }

    private var sessions: [String: Session] = [:]
    private let lifetimes: Lifetimes
    private let limit: Int

    public init(lifetimes: Lifetimes = Lifetimes(), limit: Int = 10_000) {
        self.lifetimes = lifetimes
        self.limit = limit
    }

    /// Starts a session for a token that was just checked; returns its id and CSRF token.
    func create(tokenHash: String, now: Timestamp) -> (id: String, csrf: String) {
        dropExpired(now: now)
        if sessions.count >= limit, let oldest = sessions.min(by: { $0.value.expiresAt < $1.value.expiresAt })?.key {
            sessions[oldest] = nil
        }
        let id = Self.randomToken()
        let csrf = Self.randomToken()
        sessions[Self.digest(id)] = Session(
            tokenHash: tokenHash, csrf: csrf,
            expiresAt: now.adding(seconds: lifetimes.absolute), idleUntil: now.adding(seconds: lifetimes.idle))
        return (id, csrf)
    }

    /// The live session with this id (and marks it used), or nil.
    func session(id: String, now: Timestamp) -> Session? {
        let key = Self.digest(id)
        guard var session = sessions[key] else { return nil }
        guard now < session.expiresAt, now < session.idleUntil else {
            sessions[key] = nil
            return nil
        }
        session.idleUntil = min(session.expiresAt, now.adding(seconds: lifetimes.idle))
        sessions[key] = session
        return session
    }

    func end(id: String) {
        sessions[Self.digest(id)] = nil
    }

    var count: Int { sessions.count }

    private func dropExpired(now: Timestamp) {
        sessions = sessions.filter { now < $0.value.expiresAt && now < $0.value.idleUntil }
    }

    /// 256 random bits, URL-safe.
    static func randomToken() -> String {
        var rng = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
        return Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func digest(_ text: String) -> String {
        SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// Compares secrets in time independent of where they first differ.
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for i in x.indices { difference |= x[i] ^ y[i] }
        return difference == 0
    }
}
