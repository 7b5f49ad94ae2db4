/// What the engine does with a due run when it claims it (SPEC §3: misfire and overlap
/// policies), decided without I/O so every store decides the same way.
public enum ClaimDecision: Sendable, Equatable {
    /// Run it.
    case run
    /// Run it, and ask the task's active run(s) to stop (`overlap: replace`).
    case runReplacing
    /// Record it `skipped` with this reason (`misfire` or `overlap`); run nothing.
    case skip(reason: String)
    /// Keep it scheduled but held until the task's active run ends (`overlap: queue`).
    case hold
    /// A catch-up after an outage: move it to this instant, so that the catch-up runs of
    /// many tasks start spread out instead of all at once.
    case spread(to: Timestamp)
    /// A `run_all` catch-up while the task's previous run is active: keep it scheduled but
    /// held until that run ends (catch-ups run one after another, none is lost to overlap),
    /// and make its successor only when it runs.
    case wait
}

/// The policies that decide a claim, as the store reads them from a task row.
public struct ClaimPolicy: Sendable, Hashable {
    public var taskID: String
    public var overlap: OverlapPolicy
    public var misfire: MisfirePolicy
    /// The schedule's `jitter_sec`: a slot's run is meant for its slot plus the task's jitter.
    public var jitterSec: Int64?
    public init(taskID: String, overlap: OverlapPolicy, misfire: MisfirePolicy, jitterSec: Int64? = nil) {
        self.taskID = taskID
        self.overlap = overlap
        self.misfire = misfire
        self.jitterSec = jitterSec
    }

    /// The instant a schedule run is meant for: its slot plus the task's stable jitter.
    public func intendedTime(of run: TaskRun) -> Timestamp {
        guard let slot = run.slot else { return run.scheduledAt }
        return slot.adding(microseconds: Schedule.jitter(jitterSec: jitterSec, taskID: taskID))
    }

    /// A catch-up: a run an earlier claim (or its predecessor's misfire) moved past its
    /// intended time. It runs whatever the grace — judging it again would move it for ever.
    public func isCatchUp(_ run: TaskRun) -> Bool { run.scheduledAt > intendedTime(of: run) }

    /// How to treat `run`, due now, given whether its task already has an active run (or a
    /// held one). Only schedule-triggered runs are subject to misfire and overlap policies.
    public func decide(for run: TaskRun, now: Timestamp, taskHasActiveRun: Bool, taskHasHeldRun: Bool) -> ClaimDecision {
        guard run.trigger == .schedule else { return .run }
        let catchUp = isCatchUp(run)
        if !catchUp && misfire.isMissed(intendedTime(of: run), now: now) {
            switch misfire.policy {
            case .skip:
                return .skip(reason: "misfire")
            case .runOnce, .runAll:
                let offset = stableOffset(of: taskID, within: ScheduledTask.catchUpSpreadMicroseconds)
                if offset > 0 { return .spread(to: now.adding(microseconds: offset)) }
            }
        }
        guard taskHasActiveRun else { return .run }
        if catchUp && misfire.policy == .runAll && overlap != .allow { return .wait }
        switch overlap {
        case .allow: return .run
        case .skip: return .skip(reason: "overlap")
        case .replace: return .runReplacing
        // At most one run waits per task; later overlapping slots are skipped.
        case .queue: return taskHasHeldRun ? .skip(reason: "overlap") : .hold
        }
    }
}

extension ScheduledTask {
    public var claimPolicy: ClaimPolicy { ClaimPolicy(taskID: id, overlap: overlap, misfire: misfire, jitterSec: schedule.jitterSec) }

    /// Slots later than `grace_sec` are missed; a catch-up run is spread over this window by a
    /// stable per-task offset.
    public static let catchUpSpreadMicroseconds: Int64 = 10_000_000
    /// `skip` records at most this many missed slots as `skipped` runs; `run_all` runs at most
    /// this many missed slots (the most recent ones).
    public static let maxCatchUpSlots = 100

    /// The runs that follow the slot `slot` (just claimed or skipped) under the misfire policy:
    /// the next scheduled run, and for `skip` the missed slots recorded as skipped (at most
    /// `maxCatchUpSlots`). Never walks more than `maxCatchUpSlots` slots, however long the
    /// outage was.
    public func successors(ofSlot slot: Timestamp, now: Timestamp, makeID: () -> String) -> (next: TaskRun?, missed: [TaskRun]) {
        guard enabled, schedule.isRecurring, let following = schedule.nextFire(after: slot, createdAt: createdAt) else {
            return (nil, [])
        }
        let horizon = misfire.missedBefore(now: now)
        guard following < horizon else { return (scheduledRun(slot: following, id: makeID(), now: now), []) }
        let firstOnTime = schedule.nextFire(after: horizon.adding(microseconds: -1), createdAt: createdAt)
        switch misfire.policy {
        case .runOnce:
            // The run just claimed is the one catch-up, standing for every slot up to now
            // (late ones within grace_sec included); then back on schedule.
            let upcoming = schedule.nextFire(after: now.adding(microseconds: -1), createdAt: createdAt)
            return (upcoming.map { scheduledRun(slot: $0, id: makeID(), now: now) }, [])
        case .skip:
            var missed: [TaskRun] = []
            var t = following
            while t < horizon, missed.count < Self.maxCatchUpSlots {
                var run = scheduledRun(slot: t, id: makeID(), now: now)
                run.status = .skipped
                run.finishedAt = now
                run.updatedAt = now
                run.result = .object(["skipped": .string("misfire")])
                missed.append(run)
                guard let n = schedule.nextFire(after: t, createdAt: createdAt) else { break }
                t = n
            }
            return (firstOnTime.map { scheduledRun(slot: $0, id: makeID(), now: now) }, missed)
        case .runAll:
            // Every missed slot, in order — but only the most recent `maxCatchUpSlots`,
            // estimated from the schedule's period here, so an outage costs bounded work.
            // A missed slot's run is due now: a catch-up (see `ClaimPolicy.isCatchUp`), so the
            // backlog drains at the engine's speed instead of one spread delay per slot.
            let period = max(following.microseconds - slot.microseconds, 1)
            let backlog = (horizon.microseconds - following.microseconds) / period
            var next = scheduledRun(slot: following, id: makeID(), now: now)
            if backlog > Int64(Self.maxCatchUpSlots) {
                let from = horizon.adding(microseconds: -period * Int64(Self.maxCatchUpSlots))
                next = scheduledRun(slot: schedule.nextFire(after: from, createdAt: createdAt) ?? following, id: next.id, now: now)
            }
            next.scheduledAt = max(next.scheduledAt, now)
            return (next, [])
        }
    }
}
