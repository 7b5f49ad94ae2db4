/// What a store does with a batch of due runs it has locked, decided without I/O so that
/// every store applies the same misfire and overlap policies in the same way. A store
/// fetches the due runs, their tasks' policies and which tasks have an active or a held
/// run, asks for the plan, and writes it in the same transaction.
public struct ClaimPlan: Sendable {
    /// Runs to move to `active`, in claim order.
    public var toRun: [TaskRun] = []
    /// Runs among `toRun` whose task's active runs are asked to stop (`overlap: replace`).
    public var replacing: [TaskRun] = []
    /// Runs to record `skipped`, with the reason (`misfire`, `overlap`).
    public var skipped: [(run: TaskRun, reason: String)] = []
    /// Runs to keep scheduled but held behind their task's active run (`overlap: queue`, and
    /// `run_all` catch-ups waiting for the one before).
    public var held: [TaskRun] = []
    /// Ids among `held` that wait without using their slot yet (`run_all` catch-ups): their
    /// successor is made when they run, so a backlog never runs ahead of itself.
    public var waiting: Set<String> = []
    /// Catch-up runs moved to a later instant, so many tasks' catch-ups start spread out.
    public var spread: [(run: TaskRun, to: Timestamp)] = []
    /// Runs whose task row is gone: they can never run and are recorded skipped (`task_missing`).
    public var orphaned: [TaskRun] = []

    /// Runs whose slot is used (claimed, skipped or held): the next slot of a recurring
    /// task follows each of them.
    public var slotsUsed: [TaskRun] {
        var runs: [TaskRun] = []
        forEachSlotUsed { runs.append($0) }
        return runs
    }

    /// Calls `body` with each of `slotsUsed`, in its order, without copying the runs into a
    /// list first (the claim's follow-up, once per claimed run).
    public func forEachSlotUsed(_ body: (TaskRun) throws -> Void) rethrows {
        for skipped in skipped { try body(skipped.run) }
        for run in held where !waiting.contains(run.id) { try body(run) }
        for run in toRun { try body(run) }
    }

    public init() {}

    /// Decides each due run in order. `policies` holds the claim policy of every task that
    /// still exists; `busy` and `holding` are the tasks with an active and a held run.
    public init(due: [TaskRun], policies: [String: ClaimPolicy], busy: Set<String>, holding: Set<String>, now: Timestamp) {
        var busy = busy, holding = holding
        busy.reserveCapacity(busy.count + due.count)  // one copy, grown once, not at every few inserts
        toRun.reserveCapacity(due.count)
        for run in due {
            guard let policy = policies[run.taskID] else {
                orphaned.append(run)
                continue
            }
            switch policy.decide(for: run, now: now, taskHasActiveRun: busy.contains(run.taskID), taskHasHeldRun: holding.contains(run.taskID)) {
            case .run:
                toRun.append(run)
                busy.insert(run.taskID)
            case .runReplacing:
                replacing.append(run)
                toRun.append(run)
            case .skip(let reason):
                skipped.append((run, reason))
            case .hold:
                held.append(run)
                holding.insert(run.taskID)
            case .spread(let to):
                spread.append((run, to))
            case .wait:
                held.append(run)
                waiting.insert(run.id)
            }
        }
    }

    /// The JSON a skipped run's `result` holds: why it was skipped.
    public static func skippedResult(_ reason: String) -> JSONValue { .object(["skipped": .string(reason)]) }

    /// A claimed run as its module sees it.
    /// When a run claimed at `now` starts: at once, or at its time when claimed ahead of it
    /// (the dispatcher's `claimAhead`; the executor waits until then).
    public static func startedAt(of run: TaskRun, now: Timestamp) -> Timestamp { max(now, run.scheduledAt) }

    public static func activated(_ run: TaskRun, node: String, now: Timestamp, leaseUntil: Timestamp) -> TaskRun {
        var run = run
        run.status = .active
        run.startedAt = startedAt(of: run, now: now)
        run.updatedAt = now
        run.node = node
        run.leaseExpiresAt = leaseUntil
        return run
    }
}

extension RunOutcome.End {
    /// The status this end moves an active run to (`scheduled` for a hand-back), checked
    /// against the status machine, with the result and error to record.
    public func resolved() throws -> (status: RunStatus, result: JSONValue?, error: RunError?) {
        let resolved: (RunStatus, JSONValue?, RunError?) = switch self {
        case .complete(let value): (.complete, value, nil)
        case .failed(let e): (.failed, nil, e)
        case .canceled: (.canceled, nil, nil)
        case .handedBack: (.scheduled, nil, nil)
        }
        _ = try RunStatus.active.transition(to: resolved.0)
        return resolved
    }

    /// How the rescuer ends a run whose lease lapsed: canceled if a cancel was asked, else
    /// failed with `lease_expired` (retried per policy).
    public static func leaseLapsed(cancelRequested: Bool) -> RunOutcome.End {
        cancelRequested
            ? .canceled
            : .failed(RunError(code: RunError.leaseExpiredCode, message: "the node running this run stopped renewing its lease"))
    }
}
