/// What a claim writes after applying its `ClaimPlan`, decided for the whole batch at once:
/// the runs that follow each used slot of a recurring task (made ahead, so the next fire is a
/// claim of a ready row). A store writes them with one multi-row insert (a slot that already
/// has a run keeps it).
public struct ClaimFollowUp: Sendable {
    /// The next scheduled run after each used slot, and for `misfire: skip` the missed slots
    /// recorded as skipped runs.
    public var successors: [TaskRun] = []

    public init() {}

    /// The follow-up of `plan`. `tasks` holds the tasks of the due runs; a run of a task not
    /// among them, or of a deleted one, gets no successor.
    public init(plan: ClaimPlan, tasks: [String: ScheduledTask], now: Timestamp, makeID: () -> String) {
        var successors: [TaskRun] = []
        plan.forEachSlotUsed { run in
            guard run.trigger == .schedule, let slot = run.slot, let task = tasks[run.taskID], task.deletedAt == nil else { return }
            let (next, missed) = task.successors(ofSlot: slot, now: now, makeID: makeID)
            successors += missed
            if let next { successors.append(next) }
        }
        self.successors = successors
    }
}

/// Parses the stored JSON a claim reads of its tasks (schedule, misfire policy) once per
/// distinct text: the tasks of a burst share a few schedules, and parsing each row's JSON
/// again was most of a claim's time.
public struct ClaimTaskParser {
    private var schedules: [String: Schedule] = [:]
    private var misfires: [String: MisfirePolicy] = [:]

    public init() {}

    public mutating func schedule(_ stored: String) throws -> Schedule {
        if let known = schedules[stored] { return known }
        let schedule = try Schedule.parse(try JSONValue.fromStored(stored), now: .epoch)
        schedules[stored] = schedule
        return schedule
    }

    public mutating func misfire(_ stored: String) throws -> MisfirePolicy {
        if let known = misfires[stored] { return known }
        let misfire = try MisfirePolicy.parse(try JSONValue.fromStored(stored), path: "misfire")
        misfires[stored] = misfire
        return misfire
    }
}

extension ClaimPlan {
    /// What a store writes to one decided run.
    public enum RunChange: String, Sendable {
        /// To `active` under the claiming node, started at `at`.
        case run
        /// To `skipped`, with the reason as its result.
        case skip
        /// Held behind its task's active run.
        case hold
        /// Due later (`at`).
        case spread
    }

    /// Every run this plan decides (by its `seq`), with its change, in one list a store
    /// writes with one statement. Checks the status machine for the moves it makes. Runs
    /// by seq, not whole: a store writes nothing else of them, and a copy of a run is a dozen
    /// references to retain (issue 16).
    public func runChanges(now: Timestamp) throws -> [(seq: Int64, change: RunChange, result: JSONValue?, at: Timestamp?)] {
        var changes: [(seq: Int64, change: RunChange, result: JSONValue?, at: Timestamp?)] = []
        changes.reserveCapacity(orphaned.count + skipped.count + held.count + spread.count + toRun.count)
        // A due run whose task row is gone can never run; leaving it scheduled would keep it
        // due for ever (and the dispatcher busy). It is recorded skipped, with why.
        for run in orphaned { changes.append((run.seq, .skip, Self.skippedResult("task_missing"), nil)) }
        if !skipped.isEmpty { _ = try RunStatus.scheduled.transition(to: .skipped) }
        for (run, reason) in skipped { changes.append((run.seq, .skip, Self.skippedResult(reason), nil)) }
        for run in held { changes.append((run.seq, .hold, nil, nil)) }
        for (run, to) in spread { changes.append((run.seq, .spread, nil, to)) }
        if !toRun.isEmpty { _ = try RunStatus.scheduled.transition(to: .active) }
        for run in toRun { changes.append((run.seq, .run, nil, Self.startedAt(of: run, now: now))) }
        return changes
    }
}
