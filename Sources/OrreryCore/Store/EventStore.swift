/// Events (issue 12): accepting posted events with the runs they fire, listing and pruning
/// them. Run-end events are written by the stores' `RunQueue` verbs themselves, in the
/// transaction that ends the run.
public protocol EventStore: Sendable {
    /// Stores `events` in `project` and inserts the run each matching trigger task gets, all
    /// in one transaction (nothing is written when anything fails). An event whose id was
    /// accepted after `replaySince` is not stored again: its first answer comes back
    /// (`replayed`). Ids the client left out are generated.
    func acceptEvents(_ events: [IncomingEvent], project: String, now: Timestamp, replaySince: Timestamp) async throws -> [EventAnswer]
    /// Stored events, newest first.
    func listEvents(_ filter: EventFilter) async throws -> Page<StoredEvent>
    /// Deletes up to `limit` events received before `receivedBefore`; returns how many.
    func pruneEvents(before receivedBefore: Timestamp, limit: Int) async throws -> Int
}
