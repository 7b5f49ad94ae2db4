public import CoreMetrics
import OrreryCore
public import OrreryEngine
public import Prometheus
import Synchronization

/// One server's metrics (SPEC §9): a Prometheus registry fed through swift-metrics, and what
/// `/metrics` emits from it. Per-run values arrive as they happen (`runMetrics`, given to the
/// engine); values that are cheap to read when asked — queue depth, active runs, the engine's
/// counts, leadership — are read at scrape time, so the hot path pays nothing for them.
///
/// Every metric is listed in the README. Labels never carry a run id.
public final class ServerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    /// The swift-metrics factory that writes into `registry` (with Orrery's histogram buckets).
    public let factory: PrometheusMetricsFactory
    /// What the engine reports per run; put it in `Engine.Configuration.metrics`.
    public var runMetrics: RunMetrics { RunMetrics(factory: factory) }

    public static let httpRequestDuration = "orrery_http_request_duration_seconds"

    private let queueDepth: [(status: String, meter: Meter)]
    private let activeRuns, leader, storeUp: Meter
    private let claims, claimedRuns, groupCommits, rescuedRuns: CoreMetrics.Counter
    /// The engine's counts as last emitted: a scrape adds what happened since.
    private let emitted = Mutex<EngineCounters?>(nil)

    public init(version: String = OrreryBuild.version) {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets = [
            RunMetrics.runDuration: RunMetrics.buckets, RunMetrics.firingLateness: RunMetrics.buckets,
            Self.httpRequestDuration: Array(RunMetrics.buckets.prefix { $0 <= .seconds(60) }),
        ]
        self.factory = factory
        queueDepth = ["scheduled", "due", "active"].map { ($0, Meter(label: "orrery_queue_depth", dimensions: [("status", $0)], factory: factory)) }
        activeRuns = Meter(label: "orrery_active_runs", factory: factory)
        leader = Meter(label: "orrery_leader", factory: factory)
        storeUp = Meter(label: "orrery_store_up", factory: factory)
        claims = Counter(label: "orrery_claims_total", factory: factory)
        claimedRuns = Counter(label: "orrery_runs_claimed_total", factory: factory)
        groupCommits = Counter(label: "orrery_group_commits_total", factory: factory)
        rescuedRuns = Counter(label: "orrery_runs_rescued_total", factory: factory)
        // Registered now so that dashboards see them at 0: notifications are not sent yet (SPEC §1 `notify`).
        for outcome in ["sent", "failed"] {
            _ = Counter(label: "orrery_notifications_total", dimensions: [("outcome", outcome)], factory: factory)
        }
        Meter(label: "orrery_build_info", dimensions: [("version", version)], factory: factory).set(1)
    }

    /// Reads the scrape-time values and renders the registry in Prometheus' text format.
    public func scrape(service: TaskService) async -> [UInt8] {
        let engine = service.engine
        let now = service.clock.now()
        if let store = service.store as? any InspectableStore, let depth = try? await store.queueDepth(now: now) {
            for (status, meter) in queueDepth {
                meter.set(status == "scheduled" ? depth.scheduled : status == "due" ? depth.due : depth.active)
            }
            storeUp.set(1)
        } else {
            storeUp.set(0)
        }
        // A node without an elector (SQLite) does its own housekeeping: it leads.
        leader.set(engine.configuration.leadership.map { $0.isLeader(at: now) ? 1 : 0 } ?? 1)
        emitted.withLock { last in
            let now = engine.stats
            activeRuns.set(now.claimed - now.finished)
            claims.increment(by: now.claimTransactions - (last?.claimTransactions ?? 0))
            claimedRuns.increment(by: now.claimed - (last?.claimed ?? 0))
            groupCommits.increment(by: now.recordTransactions - (last?.recordTransactions ?? 0))
            rescuedRuns.increment(by: now.rescued - (last?.rescued ?? 0))
            last = now
        }
        return registry.emitToBuffer()
    }

    /// Records one API request's latency under its route template (`/v1/tasks/{id}`).
    func requestEnded(method: String, route: String, status: Int, after duration: Duration) {
        let (seconds, attoseconds) = duration.components
        requestTimer(method: method, route: route, status: status)
            .recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    private struct RequestKey: Hashable {
        let method: String, route: String, status: Int
    }

    /// The histogram of one method, route and status. Made once: making a `Timer` looks its
    /// series up in the registry by its labels each time (about 5,000 instructions a request).
    /// Routes are the router's patterns (or "NotFound"), so the keys are few; past 1,000 (odd
    /// methods) a timer is made for each request again.
    private let requestTimers = Mutex<[RequestKey: CoreMetrics.Timer]>([:])

    private func requestTimer(method: String, route: String, status: Int) -> CoreMetrics.Timer {
        let key = RequestKey(method: method, route: route, status: status)
        if let timer = requestTimers.withLock({ $0[key] }) { return timer }
        let timer = Timer(label: Self.httpRequestDuration, dimensions: [("method", method), ("route", route), ("status", String(status))], factory: factory)
        requestTimers.withLock { if $0.count < 1_000 { $0[key] = timer } }
        return timer
    }
}

/// What this build is, for `orrery_build_info` and `orrery --version`.
public enum OrreryBuild {
    public static let version = "0.15.0"
}
