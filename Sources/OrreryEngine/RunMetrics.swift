public import CoreMetrics
public import OrreryCore

/// What the engine reports per run through swift-metrics (SPEC §9): ends by task, module and
/// status; durations by module; firing lateness by trigger. The factory is injected (not
/// `MetricsSystem`'s global) so that each server, and each test, has its own registry.
///
/// Labels are bounded sets — task ids, module names, statuses, triggers — never a run id.
/// Each call asks the factory for its handler: with swift-prometheus that is one lookup
/// under the registry's lock per metric, and no lock or store call of Orrery's own.
public struct RunMetrics: Sendable {
    /// Counter: runs this node executed, by how they ended (`task`, `module`, `status`:
    /// complete, failed, canceled, handed_back).
    public static let runsEnded = "orrery_runs_ended_total"
    /// Histogram (seconds): from claim to end, by `module`.
    public static let runDuration = "orrery_run_duration_seconds"
    /// Histogram (seconds): from `scheduled_at` to the claim that started the run, by `trigger`.
    public static let firingLateness = "orrery_firing_lateness_seconds"

    /// Buckets from 100 µs to 6 h: sub-millisecond lateness is the normal case, and a run
    /// may take hours.
    public static let buckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5), .milliseconds(5),
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(300), .seconds(900),
        .seconds(1_800), .seconds(3_600), .seconds(7_200), .seconds(21_600),
    ]

    let factory: any MetricsFactory

    public init(factory: any MetricsFactory) { self.factory = factory }

    /// A run's work started `at` (the engine's clock): its lateness is that minus `scheduled_at`.
    func started(_ run: TaskRun, at started: Timestamp) {
        Timer(label: Self.firingLateness, dimensions: [("trigger", run.trigger.rawValue)], factory: factory)
            .recordNanoseconds(max(0, started.microseconds - run.scheduledAt.microseconds) * 1_000)
    }

    /// A run's end was handed to the recorder (written in the next group commit).
    func ended(_ run: TaskRun, _ end: RunOutcome.End, at: Timestamp) {
        let status = switch end {
        case .complete: "complete"
        case .failed: "failed"
        case .canceled: "canceled"
        case .handedBack: "handed_back"
        }
        Counter(label: Self.runsEnded, dimensions: [("task", run.taskID), ("module", run.module), ("status", status)], factory: factory)
            .increment()
        guard let started = run.startedAt else { return }
        Timer(label: Self.runDuration, dimensions: [("module", run.module)], factory: factory)
            .recordNanoseconds(max(0, at.microseconds - started.microseconds) * 1_000)
    }
}
