import OrreryCore
import OrreryEngine

/// `/`: the last 24 hours as a timeline (success and failure per hour), what runs now, what
/// fires next, and today's failures.
struct OverviewPage {
    let service: TaskService
    let ctx: PageContext
    let timeline: TimelineCache

    static let bucketCount = 24
    static let bucketSeconds: Int64 = 3600

    func render() async throws -> String {
        let t = ctx.text
        let caller = ctx.caller
        // Hour buckets aligned to the hour, the last one holding the current hour.
        let nowSec = ctx.now.microseconds / 1_000_000
        let end = Timestamp(seconds: (nowSec / Self.bucketSeconds + 1) * Self.bucketSeconds)
        let start = end.adding(seconds: -Self.bucketSeconds * Int64(Self.bucketCount))
        var buckets: [(start: Timestamp, complete: Int, failed: Int)] = []
        for i in 0..<Self.bucketCount {
            let from = start.adding(seconds: Self.bucketSeconds * Int64(i))
            let to = from.adding(seconds: Self.bucketSeconds)
            // A closed hour's counts are kept (TimelineCache); only the current hour is counted anew.
            let key = TimelineCache.Key(scope: ctx.caller.scope ?? "*", hour: from.microseconds)
            if to <= ctx.now, let known = await timeline.counts(key) {
                buckets.append((from, known.complete, known.failed))
                continue
            }
            let counts = (complete: try await count(.complete, from, to), failed: try await count(.failed, from, to))
            if to <= ctx.now { await timeline.keep(key, counts, now: ctx.now) }
            buckets.append((from, counts.complete, counts.failed))
        }
        var active = RunFilter()
        active.statuses = [.active]
        active.limit = 20
        active.countTotal = false
        let running = try await service.listRuns(active, by: caller).items
        var upcoming = RunFilter()
        upcoming.statuses = [.scheduled]
        upcoming.scheduledBefore = ctx.now.adding(seconds: 86_400)
        upcoming.limit = 200
        upcoming.countTotal = false
        let next = Array(try await service.listRuns(upcoming, by: caller).items.sorted { $0.scheduledAt < $1.scheduledAt }.prefix(10))
        var failures = RunFilter()
        failures.statuses = [.failed]
        failures.finishedAfter = Timestamp(seconds: nowSec / 86_400 * 86_400)
        failures.includeDismissed = true
        failures.limit = 10
        let failed = try await service.listRuns(failures, by: caller)
        let names = await TaskNames.load(running + next + failed.items, service: service, caller: caller)
        let failedCount = failed.totalCount ?? failed.items.count
        let body = """
            <h1>\(esc(t["Overview"]))</h1>
            <section aria-labelledby="timeline-h" class="card">
            <h2 id="timeline-h">\(esc(t["Runs, last 24 hours"]))</h2>
            \(Self.timeline(buckets, t))
            </section>
            <div class="grid">
            <section aria-labelledby="running-h" class="card" id="running-now">
            <h2 id="running-h">\(esc(t["Running now"])) <span class="count">\(running.count)</span></h2>
            \(RunTable.render(running, names: names, ctx: ctx, caption: t["Running now"]))
            </section>
            <section aria-labelledby="next-h" class="card">
            <h2 id="next-h">\(esc(t["Next fires"]))</h2>
            \(RunTable.render(next, names: names, ctx: ctx, caption: t["Next fires"]))
            </section>
            </div>
            <section aria-labelledby="failures-h" class="card">
            <h2 id="failures-h">\(esc(t["Failures today"])) <span class="count" id="failures-today">\(failedCount)</span></h2>
            \(RunTable.render(failed.items, names: names, ctx: ctx, caption: t["Failures today"]))
            <p><a href="\(esc(ctx.link("/runs", [("status", "failed"), ("finished_after", failures.finishedAfter!.rfc3339), ("dismissed", "any")])))">\(esc(t["Runs"])) →</a></p>
            </section>
            """
        return Layout.page(ctx, title: t["Overview"], active: "overview", body: body)
    }

    private func count(_ status: RunStatus, _ from: Timestamp, _ to: Timestamp) async throws -> Int {
        var filter = RunFilter()
        filter.statuses = [status]
        filter.finishedAfter = from
        filter.finishedBefore = to
        filter.includeDismissed = true
        filter.limit = 1
        return try await service.listRuns(filter, by: ctx.caller).totalCount ?? 0
    }

    /// Stacked bars per hour as inline SVG: successes below, failures above, each bar with a
    /// title for pointer users; the figure's label gives the totals for screen readers.
    static func timeline(_ buckets: [(start: Timestamp, complete: Int, failed: Int)], _ t: DashboardText) -> String {
        let width = 720, height = 160, axis = 20
        let slot = width / max(1, buckets.count)
        let peak = max(1, buckets.map { $0.complete + $0.failed }.max() ?? 1)
        let scale = Double(height - axis - 4) / Double(peak)
        var bars = ""
        for (i, b) in buckets.enumerated() {
            let x = i * slot + 2
            let hOK = Int((Double(b.complete) * scale).rounded())
            let hFail = Int((Double(b.failed) * scale).rounded())
            let base = height - axis
            let hour = String(b.start.rfc3339.dropFirst(11).prefix(5))
            let title = "\(hour) UTC: \(b.complete) \(t["complete"]), \(b.failed) \(t["failed"])"
            bars += "<g><title>\(esc(title))</title>"
            bars += "<rect class=\"ok\" x=\"\(x)\" y=\"\(base - hOK)\" width=\"\(slot - 4)\" height=\"\(hOK)\"></rect>"
            bars += "<rect class=\"fail\" x=\"\(x)\" y=\"\(base - hOK - hFail)\" width=\"\(slot - 4)\" height=\"\(hFail)\"></rect></g>"
            if i % 4 == 0 { bars += "<text x=\"\(x)\" y=\"\(height - 6)\" class=\"axis\">\(hour)</text>" }
        }
        let total = buckets.reduce((0, 0)) { ($0.0 + $1.complete, $0.1 + $1.failed) }
        let label = "\(total.0) \(t["complete"]), \(total.1) \(t["failed"])"
        return """
            <figure class="timeline"><svg viewBox="0 0 \(width) \(height)" role="img" aria-label="\(esc(label))" preserveAspectRatio="none">\(bars)<line x1="0" x2="\(width)" y1="\(height - axis)" y2="\(height - axis)" class="axis-line"></line></svg>
            <figcaption><span class="key ok"></span> \(esc(t["success"])) \(total.0) · <span class="key fail"></span> \(esc(t["failure"])) \(total.1)</figcaption></figure>
            """
    }
}

/// The overview timeline's counts of closed hours, per project scope: an hour that has ended
/// gains no finished runs, so it is counted once instead of on every page view (with a
/// million runs, 46 counts cost ~0.2 s). Dismissal does not change them (dismissed runs are
/// counted); retention pruning may lower a past hour's true count, which the cache keeps for
/// at most a day.
actor TimelineCache {
    struct Key: Hashable, Sendable {
        var scope: String
        var hour: Int64
    }

    private var entries: [Key: (complete: Int, failed: Int)] = [:]

    func counts(_ key: Key) -> (complete: Int, failed: Int)? { entries[key] }

    func keep(_ key: Key, _ counts: (complete: Int, failed: Int), now: Timestamp) {
        let dayAgo = now.adding(seconds: -86_400 - 3_600).microseconds
        if entries.count > 10_000 || entries.keys.contains(where: { $0.hour < dayAgo }) {
            entries = entries.filter { $0.key.hour >= dayAgo }
        }
        entries[key] = counts
    }
}
