public import OrreryCore
public import ServiceLifecycle
import Synchronization

/// Who presented tokens speak for, remembered so that an authenticated request does not read
/// the store for its token every time (issue 16): a bounded cache in front of
/// `TaskStore.tokenRole(hash:now:)`.
///
/// A grant is forgotten when its token expires, after `timeToLive` at most (a safety net),
/// and at once when tokens change: `forgetAll()` on the node that revoked or disabled, and on
/// every other node through `TokenNotifyingStore` while this service runs (PostgreSQL's
/// `orrery_tokens` channel; an embedded store has one node and needs no listener). Only
/// valid tokens are remembered: a new token works at once, and unknown ones cannot fill it.
public final class TokenGrants: Service, Sendable {
    public struct Configuration: Sendable {
        /// At most this many tokens are remembered; past it the expired go first, then all.
        public var capacity = 10_000
        /// How long a grant is trusted without asking the store again.
        public var timeToLive: Int64 = 30
        public init() {}
    }

    private struct Remembered {
        var grant: TokenGrant
        var until: Timestamp
    }

    private struct State {
        var grants: [String: Remembered] = [:]
        /// Bumped by every `forgetAll()`: a lookup that began before it does not remember its
        /// (possibly revoked) answer.
        var generation: UInt64 = 0
    }

    public let store: any TaskStore
    public let configuration: Configuration
    private let state = Mutex(State())

    public init(store: any TaskStore, configuration: Configuration = Configuration()) {
        self.store = store
        self.configuration = configuration
    }

    /// Who the token with `hash` speaks for at `now`, nil when it is unknown, revoked or expired.
    public func grant(hash: String, now: Timestamp) async throws -> TokenGrant? {
        let (cached, generation) = state.withLock { state -> (TokenGrant?, UInt64) in
            guard let remembered = state.grants[hash] else { return (nil, state.generation) }
            guard now < remembered.until else {
                state.grants[hash] = nil
                return (nil, state.generation)
            }
            return (remembered.grant, state.generation)
        }
        if let cached { return cached }
        guard let grant = try await store.tokenRole(hash: hash, now: now) else { return nil }
        var until = now.adding(seconds: configuration.timeToLive)
        if let expiresAt = grant.expiresAt, expiresAt < until { until = expiresAt }
        state.withLock { state in
            guard state.generation == generation else { return }
            if state.grants.count >= configuration.capacity {
                state.grants = state.grants.filter { now < $0.value.until }
                if state.grants.count >= configuration.capacity { state.grants.removeAll(keepingCapacity: true) }
            }
            state.grants[hash] = Remembered(grant: grant, until: until)
        }
        return grant
    }

    /// Forgets every grant: call after revoking a token or disabling a user on this node.
    public func forgetAll() {
        state.withLock { state in
            state.grants.removeAll(keepingCapacity: true)
            state.generation &+= 1
        }
    }

    /// How many grants are remembered (for tests).
    public var count: Int { state.withLock { $0.grants.count } }

    /// Listens for other nodes' token changes until graceful shutdown (returns at once
    /// into waiting for it when the store has one node).
    public func run() async throws {
        guard let notifying = store as? any TokenNotifyingStore else {
            try? await gracefulShutdown()
            return
        }
        await cancelWhenGracefulShutdown {
            await notifying.listenForTokenChanges { [self] in self.forgetAll() }
        }
    }
}
