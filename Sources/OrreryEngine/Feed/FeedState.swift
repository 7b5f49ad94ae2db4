import OrreryCore

/// An open stream as the feed keeps it.
struct FeedSubscriber {
    var filter: RunFeedFilter
    let continuation: AsyncStream<RunFeedEvent>.Continuation
    let openedAt: Timestamp
    /// While its snapshot is read, live events wait in `pending`: the snapshot goes first.
    var priming = true
    var pending: [RunFeedEvent] = []
    /// The newest `updated_at` sent per run and the next log index per run: what overlaps
    /// between the snapshot and live reads is sent once.
    var lastSent: [String: Timestamp] = [:]
    var nextLog: [String: Int64] = [:]
    var overflowed = false
}

/// A run whose log lines the feed reads: some stream wants them.
struct FollowedRun {
    var run: TaskRun
    /// The index of the next line to read.
    var next: Int64
}

/// What one read of changed runs found.
struct FeedPlan {
    /// Runs changed since they were last seen, oldest change first.
    var fresh: [TaskRun] = []
    /// Runs to follow that were already running before the feed started watching: their log
    /// is followed from where it stands.
    var needEnds: [TaskRun] = []
}

/// The feed's state, behind its mutex. Every method is quick and does no I/O; those that end
/// streams return their continuations, to be finished outside the lock (finishing calls the
/// stream's termination handler, which takes the lock).
struct FeedState {
    typealias Continuation = AsyncStream<RunFeedEvent>.Continuation

    var subscribers: [UInt64: FeedSubscriber] = [:]
    var nextID: UInt64 = 0
    var stopped = false
    /// When the latest read began (what events carry as their position); nil while idle.
    var watermark: Timestamp?
    /// When the feed began watching (since the last idle spell).
    var watchingSince = Timestamp.epoch
    /// Where the next read starts when the last one was full.
    var continueFrom: ChangePosition?
    /// The newest `updated_at` seen per run, within the lookback window.
    var seen: [String: Timestamp] = [:]
    var followed: [String: FollowedRun] = [:]
    var lookback: Duration = .seconds(1)

    mutating func forgetReads() {
        watermark = nil
        continueFrom = nil
        seen = [:]
        followed = [:]
    }

    /// Where the next read starts: past the last row of a full read, else `lookback` before
    /// the previous read began (a transaction may commit after the `updated_at` it wrote).
    mutating func readPosition(now: Timestamp, lookback: Duration) -> ChangePosition {
        self.lookback = lookback
        if let continueFrom { return continueFrom }
        let previous = watermark ?? now
        if watermark == nil { watchingSince = now }
        watermark = now
        return ChangePosition(updatedAt: previous.adding(.zero - lookback))
    }

    /// Keeps the runs not seen at this change yet, and decides whose log to follow.
    mutating func take(_ rows: [TaskRun], more: Bool) -> FeedPlan {
        continueFrom = more ? rows.last.map(ChangePosition.init(after:)) : nil
        var plan = FeedPlan()
        for run in rows {
            if let seenAt = seen[run.id], seenAt >= run.updatedAt { continue }
            seen[run.id] = run.updatedAt
            plan.fresh.append(run)
            if followed[run.id] != nil {
                followed[run.id]?.run = run
                continue
            }
            guard let started = run.startedAt, wantsLogs(run) else { continue }
            if started >= watchingSince.adding(.zero - lookback) {
                followed[run.id] = FollowedRun(run: run, next: 0)  // it started while watched
            } else if !run.status.isFinished {
                plan.needEnds.append(run)
            }
        }
        if !more, let watermark {
            let horizon = watermark.adding(.zero - lookback - lookback)
            seen = seen.filter { $0.value >= horizon }
        }
        return plan
    }

    func wantsLogs(_ run: TaskRun) -> Bool {
        subscribers.values.contains { $0.filter.logs && $0.filter.follows(run) }
    }

    /// Sends a read's changes to every stream they match: runs still going, then log lines,
    /// then runs that ended (a run's last lines come before the event that says it ended);
    /// stops following finished runs.
    mutating func deliver(fresh: [TaskRun], logs: [LogEntry], logsDrained: Bool) -> [Continuation] {
        for entry in logs { followed[entry.runID]?.next = entry.idx + 1 }
        let position = StreamPosition(changedAt: watermark ?? .epoch)
        for id in Array(subscribers.keys) {
            guard var sub = subscribers[id] else { continue }
            for run in fresh where !run.status.isFinished && sub.filter.matches(run) { Self.send(.run(run, position: position), to: &sub) }
            if sub.filter.logs {
                for entry in logs where followed[entry.runID].map({ sub.filter.follows($0.run) }) ?? false {
                    Self.send(.log(entry, position: position), to: &sub)
                }
            }
            for run in fresh where run.status.isFinished && sub.filter.matches(run) { Self.send(.run(run, position: position), to: &sub) }
            subscribers[id] = sub
        }
        for (id, run) in followed where (run.run.status.isFinished && logsDrained) || !wantsLogs(run.run) {
            followed[id] = nil
        }
        return removeOverflowed()
    }

    /// Sends a new stream its snapshot, then what arrived while it was read.
    mutating func prime(_ id: UInt64, with snapshot: [RunFeedEvent]) -> [Continuation] {
        guard var sub = subscribers[id] else { return [] }
        sub.priming = false
        let pending = sub.pending
        sub.pending = []
        for event in snapshot + pending { Self.send(event, to: &sub) }
        subscribers[id] = sub
        return removeOverflowed()
    }

    /// A comment to every stream; ends streams past their lifetime; forgets old dedup state.
    mutating func heartbeat(now: Timestamp, maxLifetime: Duration) -> [Continuation] {
        var ended: [Continuation] = []
        let horizon = (watermark ?? now).adding(.seconds(-60))
        for id in Array(subscribers.keys) {
            guard var sub = subscribers[id] else { continue }
            if now.duration(since: sub.openedAt) >= maxLifetime {
                subscribers[id] = nil
                ended.append(sub.continuation)
                continue
            }
            if !sub.priming { Self.send(.heartbeat, to: &sub) }
            sub.lastSent = sub.lastSent.filter { $0.value >= horizon }
            sub.nextLog = sub.nextLog.filter { followed[$0.key] != nil || sub.filter.runIDs.contains($0.key) }
            subscribers[id] = sub
        }
        return ended + removeOverflowed()
    }

    /// Ends every stream (the server is stopping).
    mutating func stop() -> [Continuation] {
        stopped = true
        defer { subscribers = [:] }
        return subscribers.values.map(\.continuation)
    }

    private mutating func removeOverflowed() -> [Continuation] {
        let overflowed = subscribers.filter { $0.value.overflowed }
        for id in overflowed.keys { subscribers[id] = nil }
        return overflowed.values.map(\.continuation)
    }

    /// Sends one event to one stream, once: a run state not newer than the last one sent, or
    /// a log line before the next expected one, is a repeat and is dropped.
    private static func send(_ event: RunFeedEvent, to sub: inout FeedSubscriber) {
        guard !sub.overflowed else { return }
        if sub.priming {
            sub.pending.append(event)
            return
        }
        var event = event
        switch event {
        case .run(let run, var position):
            if let last = sub.lastSent[run.id], run.updatedAt <= last { return }
            sub.lastSent[run.id] = run.updatedAt
            if let single = sub.filter.singleRun { position.nextLogIndex = sub.nextLog[single] ?? 0 }
            event = .run(run, position: position)
        case .log(let entry, var position):
            if let next = sub.nextLog[entry.runID], entry.idx < next { return }
            sub.nextLog[entry.runID] = entry.idx + 1
            if let single = sub.filter.singleRun { position.nextLogIndex = sub.nextLog[single] ?? 0 }
            event = .log(entry, position: position)
        case .heartbeat, .reset:
            break
        }
        if case .dropped = sub.continuation.yield(event) { sub.overflowed = true }
    }
}
