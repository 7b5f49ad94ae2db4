/// A value a filter compares a column with.
public enum FilterValue: Sendable, Equatable {
    case text(String)
    case integer(Int64)
    case boolean(Bool)
}

/// A WHERE clause under construction in one SQL dialect. Which filter field becomes which
/// condition is decided once, here (`add(_: TaskFilter)`, `add(_: RunFilter)`); each store
/// says how a condition is spelled and binds every value as a parameter, never as text.
/// Column names are these constants, never request input.
public protocol FilterClauses {
    /// Adds a condition with no values.
    mutating func add(_ clause: String)
    /// `column = value`.
    mutating func equal(_ column: String, _ value: FilterValue)
    /// `column` is one of `values` (not empty).
    mutating func among(_ column: String, _ values: [String])
    /// `column < time`.
    mutating func before(_ column: String, _ time: Timestamp)
    /// `column >= time`.
    mutating func after(_ column: String, _ time: Timestamp)
    /// `column` holds `part`, ignoring case.
    mutating func contains(_ column: String, _ part: String)
    /// Every `key: value` pair is in the JSON object stored (as text) in `column`.
    mutating func labels(_ labels: [String: String], column: String)
    /// `task_id` of a task matching the conditions `build` adds (none added: no condition).
    mutating func taskMatching(_ build: (inout Self) -> Void)
    /// The text under `key` of the JSON object stored in `column`, as an expression.
    static func jsonText(_ column: String, key: String) -> String
    /// The task's last status is one of `values` (not empty). Default: its column.
    mutating func lastStatusAmong(_ values: [String])
}

extension FilterClauses {
    public mutating func lastStatusAmong(_ values: [String]) { among("last_status", values) }

    private mutating func equal(_ column: String, _ value: String?) { if let value { equal(column, .text(value)) } }
    private mutating func equal(_ column: String, _ value: Int64?) { if let value { equal(column, .integer(value)) } }
    private mutating func equal(_ column: String, _ value: Bool?) { if let value { equal(column, .boolean(value)) } }
    private mutating func among(_ column: String, _ values: [some RawRepresentable<String>]) {
        if !values.isEmpty { among(column, values.map(\.rawValue)) }
    }
    private mutating func before(_ column: String, _ time: Timestamp?) { if let time { before(column, time) } }
    private mutating func after(_ column: String, _ time: Timestamp?) { if let time { after(column, time) } }

    /// The conditions of a task listing (`tasks` table).
    public mutating func add(_ filter: TaskFilter) {
        if !filter.includeDeleted { add("deleted_at IS NULL") }
        equal("project", filter.project)
        equal("seq", filter.seq)
        equal("module", filter.module)
        equal("resource_id", filter.resourceID)
        equal("enabled", filter.enabled)
        equal("name", filter.name)
        equal("owner", filter.owner)
        equal(Self.jsonText("schedule", key: "event"), filter.triggerEvent)
        if let part = filter.nameContains { contains("name", part) }
        if !filter.lastStatus.isEmpty { lastStatusAmong(filter.lastStatus.map(\.rawValue)) }
        if !filter.scheduleTypes.isEmpty { among("schedule_type", filter.scheduleTypes) }
        if !filter.labels.isEmpty { labels(filter.labels, column: "tasks.labels") }
    }

    /// The conditions of a run listing (`runs` table).
    public mutating func add(_ filter: RunFilter) {
        equal("project", filter.project)
        equal("task_id", filter.taskID)
        equal("module", filter.module)
        equal("resource_id", filter.resourceID)
        equal("performed_by", filter.performedBy)
        among("status", filter.statuses)
        // Implied by a finished status (every end sets finished_at), and spelled out so the
        // planner may use the finished runs' partial indexes: the scheduled runs, newest of
        // all, are then never stepped over.
        if !filter.statuses.isEmpty, filter.statuses.allSatisfy(\.isFinished) { add("finished_at IS NOT NULL") }
        among("trigger", filter.triggers)
        before("scheduled_at", filter.scheduledBefore)
        after("scheduled_at", filter.scheduledAfter)
        before("started_at", filter.startedBefore)
        after("started_at", filter.startedAfter)
        before("finished_at", filter.finishedBefore)
        after("finished_at", filter.finishedAfter)
        // A run's time: when it is due while scheduled, else its last change.
        before("(CASE WHEN status = 'scheduled' THEN scheduled_at ELSE updated_at END)", filter.timestampBefore)
        if !filter.labels.isEmpty { taskMatching { $0.labels(filter.labels, column: "tasks.labels") } }
        switch (filter.includeDismissed, filter.dismissed) {
        case (true, _): break
        case (false, true?): add("dismissed_at IS NOT NULL")
        case (false, false?), (false, nil): add("dismissed_at IS NULL")
        }
    }
}
