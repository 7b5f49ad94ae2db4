/// A store that several nodes share and that can tell each of them when runs were
/// scheduled (PostgreSQL's `LISTEN/NOTIFY`), so that a task created on one node fires on
/// time even when another node claims it. Optional: an embedded store has one node.
public protocol NotifyingStore: Sendable {
    /// Calls `wake` every time any node scheduled runs that may be due earlier than the
    /// caller thought (and once after every reconnection, when notices may have been
    /// missed). Returns only when the calling task is canceled; reconnects by itself.
    func listenForDueRuns(_ wake: @escaping @Sendable () -> Void) async
    /// Calls `cancel` with the id of every active run whose cancellation any node asked for
    /// (`POST /v1/runs/{id}/cancel`, `overlap: replace`), so the node executing it stops it
    /// at once. Returns only when the calling task is canceled; reconnects by itself (lease
    /// renewal reports requests whose notice was missed).
    func listenForCancelRequests(_ cancel: @escaping @Sendable (String) -> Void) async
}

/// A store that several nodes share and that tells each of them when stored tokens changed
/// (revoked, their user disabled, made admin again), so that a node caching who a token
/// speaks for forgets it at once instead of serving it until its cache entry ages out.
public protocol TokenNotifyingStore: Sendable {
    /// Calls `changed` every time any node changed tokens (and once after every
    /// reconnection, when notices may have been missed). Returns only when the calling task
    /// is canceled; reconnects by itself.
    func listenForTokenChanges(_ changed: @escaping @Sendable () -> Void) async
}

/// A store that elects one leader among nodes with a lease (a leader row with an expiry):
/// the leader does the housekeeping (rescuing runs whose lease lapsed, pruning).
public protocol LeaderStore: Sendable {
    /// Takes or renews leadership `name` for `node` until `until`, when it is free, expired
    /// before `now`, or already `node`'s. True when `node` is the leader now.
    func claimLeadership(_ name: String, node: String, now: Timestamp, until: Timestamp) async throws -> Bool
    /// Gives leadership up at once (a graceful shutdown), so another node takes over
    /// without waiting for the lease to expire.
    func resignLeadership(_ name: String, node: String) async throws
}

/// A store where several processes may start at once against the same data: the first
/// admin token is created by exactly one of them.
public protocol TokenBootstrapStore: Sendable {
    /// Inserts `token` only if no usable admin token exists, atomically; true when inserted.
    func insertFirstAdminToken(_ token: StoredToken) async throws -> Bool
    /// Inserts `token` as an admin token; when its hash is stored already (revoked, expired,
    /// or of a disabled user), makes that token a usable admin token again. The recovery
    /// path for `ORRERY_ADMIN_TOKEN` after every admin token was lost.
    func reinstateAdminToken(_ token: StoredToken) async throws
}

extension OrreryError {
    /// Revoking or disabling would leave no usable admin token: nobody could manage tokens again.
    public static func lastAdmin(_ what: String) -> OrreryError {
        OrreryError(
            .conflict,
            "\(what) holds the last active admin token; create another admin token first (or restart with ORRERY_ADMIN_TOKEN set)")
    }
}
