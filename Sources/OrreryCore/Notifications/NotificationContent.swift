/// What a notification says about a run end: the webhook's JSON body and the e-mail's
/// subject and text, made from the delivery, the run as stored and its last log lines.
public struct NotificationContent: Sendable {
    public var delivery: NotificationDelivery
    /// The run as stored when sending (nil when it was deleted meanwhile).
    public var run: TaskRun?
    /// The run's last log lines, oldest first (at most `maxLogLines`).
    public var logLines: [String]
    /// The dashboard's public base URL, when the server knows it.
    public var publicURL: String?

    public static let maxLogLines = 20

    public init(delivery: NotificationDelivery, run: TaskRun?, logLines: [String], publicURL: String? = nil) {
        self.delivery = delivery; self.run = run; self.logLines = Array(logLines.suffix(Self.maxLogLines)); self.publicURL = publicURL
    }

    var status: String { run?.status.rawValue ?? String(delivery.event.rawValue.dropFirst("run.".count)) }

    var durationMs: Int64? {
        guard let started = run?.startedAt, let finished = run?.finishedAt else { return nil }
        return (finished.microseconds - started.microseconds) / 1000
    }

    /// `{"type": "run.failed", "timestamp": …, "data": {run fields…, "task_id", "task_name"}}`;
    /// the same bytes on every retry (the timestamp is when the delivery was made).
    public var webhookBody: JSONValue {
        var data: [String: JSONValue] = [
            "id": .string(delivery.runID), "run_id": .string(delivery.runID), "task_id": .string(delivery.taskID),
            "task_name": .string(delivery.taskName), "project": .string(delivery.project), "status": .string(status),
        ]
        if let run {
            data["module"] = .string(run.module)
            data["trigger"] = .string(run.trigger.rawValue)
            data["attempt"] = .int(run.attempt)
            data["scheduled_at"] = .string(run.scheduledAt.rfc3339)
            data["started_at"] = run.startedAt.map { .string($0.rfc3339) } ?? .null
            data["finished_at"] = run.finishedAt.map { .string($0.rfc3339) } ?? .null
            data["duration_ms"] = durationMs.map(JSONValue.int) ?? .null
            data["error"] = run.error.map { .object(["code": .string($0.code), "message": .string($0.message)]) } ?? .null
            data["result"] = run.result ?? .null
            if let resource = run.resourceID { data["resource_id"] = .string(resource) }
        }
        return .object(["type": .string(delivery.event.rawValue), "timestamp": .string(delivery.createdAt.rfc3339), "data": .object(data)])
    }

    public var mailSubject: String {
        var subject = "[Orrery] \(delivery.taskName) \(status)"
        if let code = run?.error?.code { subject += " (\(code))" }
        return subject + " in \(delivery.project)"
    }

    public var mailBody: String {
        var lines = [
            "Task:      \(delivery.taskName) (\(delivery.taskID))",
            "Project:   \(delivery.project)",
            "Status:    \(status)",
        ]
        if let error = run?.error { lines.append("Error:     \(error.code): \(error.message)") }
        if let reason = run?.result?["skipped"]?.stringValue { lines.append("Skipped:   \(reason)") }
        if let started = run?.startedAt { lines.append("Started:   \(started.rfc3339)") }
        if let finished = run?.finishedAt { lines.append("Finished:  \(finished.rfc3339)") }
        if let ms = durationMs { lines.append("Duration:  \(Self.duration(ms))") }
        if let attempt = run?.attempt, attempt > 1 { lines.append("Attempt:   \(attempt)") }
        lines.append("Run:       \(delivery.runID)")
        if let publicURL {
            lines.append("Dashboard: \(publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL)/runs/\(delivery.runID)")
        }
        if !logLines.isEmpty {
            lines.append("")
            lines.append("Last log lines:")
            lines += logLines.map { "  " + $0 }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func duration(_ ms: Int64) -> String {
        ms < 1000 ? "\(ms) ms" : ms < 60_000 ? "\(Double(ms / 100) / 10) s" : "\(ms / 60_000) min \((ms % 60_000) / 1000) s"
    }
}
