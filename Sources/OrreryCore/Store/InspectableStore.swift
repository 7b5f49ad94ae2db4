/// What operators' probes ask a store (SPEC §9): how deep the run queue is, for `/metrics`
/// at scrape time, and whether the schema is current, for `/readyz`. Both are cheap: they
/// read the partial indexes the dispatcher uses, so their cost follows the backlog, never
/// the history, and nothing on the engine's hot path calls them.
public protocol InspectableStore: Sendable {
    /// Runs waiting or executing now, counted in one read.
    func queueDepth(now: Timestamp) async throws -> QueueDepth
    /// The migrations this build knows that the database has not applied, oldest first
    /// (empty: the schema is current). Throws when the database cannot be reached.
    func pendingMigrations() async throws -> [String]
}

/// The run queue at one instant.
public struct QueueDepth: Sendable, Equatable {
    /// Runs in `scheduled`, due or not, held back by an overlap policy or not.
    public var scheduled: Int
    /// The scheduled runs that are due (`scheduled_at` ≤ now) and claimable: a backlog that
    /// stays above zero means the nodes cannot keep up.
    public var due: Int
    /// Runs in `active` on any node.
    public var active: Int

    public init(scheduled: Int = 0, due: Int = 0, active: Int = 0) {
        self.scheduled = scheduled
        self.due = due
        self.active = active
    }
}
