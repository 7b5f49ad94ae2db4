/// The decisions every store makes the same way when a run ends or a task changes,
/// kept pure so each store only persists them.
extension RetryPolicy {
    /// The run for the next attempt after `run` failed, or nil when attempts are used up.
    public func retryRun(after run: TaskRun, now: Timestamp, id: String, jitterUnit: Double) -> TaskRun? {
        guard run.attempt < maxAttempts else { return nil }
        let at = now.adding(backoff(afterAttempt: run.attempt, jitterUnit: jitterUnit))
        return TaskRun(
            id: id, taskID: run.taskID, project: run.project, module: run.module, resourceID: run.resourceID,
            attempt: run.attempt + 1, status: .scheduled, trigger: .retry, performedBy: run.performedBy,
            scheduledAt: at, priority: run.priority, queue: run.queue, updatedAt: now)
    }
}

extension ScheduledTask {
    /// The run a task should have after it was resumed or its schedule changed: for a
    /// recurring schedule the first slot from now on; for `once`, its slot (which the
    /// store's unique key drops if it already fired).
    public func rescheduledRun(now: Timestamp, id: String) -> TaskRun? {
        firstRun(now: now, id: id)
    }
}
