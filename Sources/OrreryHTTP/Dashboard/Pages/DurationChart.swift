import Foundation
import OrreryCore

/// The task page's duration chart: one bar per finished run (oldest left), its height the
/// run's duration, green for complete and red for a failure — a run that starts taking longer
/// shows before it times out. Inline SVG with the overview's classes; no script.
enum DurationChart {
    static func render(_ runs: [TaskRun], text t: DashboardText) -> String {
        let finished = runs.reversed().compactMap { run -> (run: TaskRun, seconds: Double)? in
            guard let started = run.startedAt, let ended = run.finishedAt else { return nil }
            return (run, Double(ended.microseconds - started.microseconds) / 1_000_000)
        }
        guard !finished.isEmpty else { return "" }
        let width = 600, height = 120, slot = max(width / max(finished.count, 1), 6)
        let peak = max(finished.map(\.seconds).max() ?? 0, 0.001)
        var bars = ""
        for (i, item) in finished.enumerated() {
            let h = max(Int((item.seconds / peak * Double(height - 20)).rounded()), 1)
            let ok = item.run.status == .complete
            let title = "\(item.run.startedAt.map(\.rfc3339) ?? ""): \(String(format: "%.3f", item.seconds)) s, \(item.run.status.rawValue)"
            bars += "<g><title>\(esc(title))</title><rect class=\"\(ok ? "ok" : "fail")\" x=\"\(i * slot + 1)\" y=\"\(height - h)\" width=\"\(max(slot - 2, 1))\" height=\"\(h)\"></rect></g>"
        }
        let label = "\(finished.count) runs, longest \(String(format: "%.3f", peak)) s"
        return """
            <figure class="timeline duration" id="duration-chart"><svg viewBox="0 0 \(width) \(height)" role="img" aria-label="\(esc(label))" preserveAspectRatio="none">\(bars)</svg>
            <figcaption>\(esc(label)) · <span class="key ok"></span> \(esc(t["success"])) · <span class="key fail"></span> \(esc(t["failure"]))</figcaption></figure>
            """
    }
}
