public import OrreryCore

/// The API's JSON shapes (Appendix A). One place, so the API, the CLI's `--json` and
/// later the compatibility profiles start from the same fields.
extension ScheduledTask {
    public var json: JSONValue {
        .object([
            "id": .string(id), "seq": .int(seq), "project": .string(project), "name": .string(name),
            "description": description.map(JSONValue.string) ?? .null, "module": .string(module), "params": params,
            "resource_id": resourceID.map(JSONValue.string) ?? .null,
            "labels": .object(labels.mapValues(JSONValue.string)), "schedule": schedule.json, "enabled": .bool(enabled),
            "queue": .string(queue), "priority": .int(priority), "timeout_sec": timeoutSec.map(JSONValue.int) ?? .null,
            "retry": retry.json, "overlap": .string(overlap.rawValue), "misfire": misfire.json, "notify": notify.map(NotifyPolicy.redacted) ?? .null,
            "owner": owner.map(JSONValue.string) ?? .null, "created_at": .time(createdAt), "updated_at": .time(updatedAt),
            "version": .int(version), "next_run_at": .time(nextRunAt), "last_run_at": .time(lastRunAt),
            "last_status": lastStatus.map { .string($0.rawValue) } ?? .null,
        ])
    }
}

extension TaskRun {
    public var json: JSONValue {
        .object([
            "id": .string(id), "task_id": .string(taskID), "project": .string(project), "module": .string(module),
            "resource_id": resourceID.map(JSONValue.string) ?? .null, "attempt": .int(attempt),
            "status": .string(status.rawValue), "trigger": .string(trigger.rawValue), "queue": .string(queue),
            "performed_by": performedBy.map(JSONValue.string) ?? .null, "scheduled_at": .time(scheduledAt),
            "started_at": .time(startedAt), "finished_at": .time(finishedAt), "canceled_at": .time(canceledAt),
            "updated_at": .time(updatedAt),
            "progress": .object([
                "percent": progress?.percent.map(JSONValue.double) ?? .null,
                "message": progress?.message.map(JSONValue.string) ?? .null,
            ]),
            "result": result ?? .null,
            "error": error.map { .object(["code": .string($0.code), "message": .string($0.message)]) } ?? .null,
            "node": node.map(JSONValue.string) ?? .null, "dismissed_by": dismissedBy.map(JSONValue.string) ?? .null,
            "dismissed_at": .time(dismissedAt), "event_id": eventID.map(JSONValue.string) ?? .null,
        ])
    }
}

extension LogEntry {
    public var json: JSONValue {
        .object([
            "idx": .int(idx), "level": .string(level.rawValue), "msg": .string(message),
            "progress_percent": progressPercent.map(JSONValue.double) ?? .null, "timestamp": .time(timestamp),
        ])
    }
}

extension ModuleDescriptor {
    /// The catalogue's shape, the same for built-in and external modules.
    public var json: JSONValue { catalogueJSON }
}

extension Page {
    func json(_ item: (Item) -> JSONValue) -> JSONValue {
        .object([
            "items": .array(items.map(item)), "next_cursor": nextCursor.map(JSONValue.string) ?? .null,
            "total_count": totalCount.map { .int(Int64($0)) } ?? .null,
        ])
    }
}

extension JSONValue {
    static func time(_ t: Timestamp?) -> JSONValue { t.map { .string($0.rfc3339) } ?? .null }
}
