public import OrreryCore

/// Events (SPEC §3, Appendix A `POST /v1/events`): posting fires the project's trigger tasks.
extension TaskService {
    /// What `POST /v1/events` answers: one answer per event, and whether the body was an array.
    public struct PostedEvents: Sendable {
        public var answers: [EventAnswer]
        public var wasArray: Bool
    }

    /// Accepts one event object or an array of up to 100 into `project` (nil: the caller's;
    /// only admins may name another), all in one transaction. An `Idempotency-Key` names
    /// the events that carry no `id` (`KEY`, or `KEY-i` for the i-th of an array), so a
    /// repeated request replays its first answers.
    public func postEvents(_ body: JSONValue, project: String?, idempotencyKey: String?, by caller: Caller) async throws -> PostedEvents {
        try caller.require(.operator, to: "post events")
        let project = try eventProject(project, for: caller)
        var events: [IncomingEvent]
        let wasArray: Bool
        switch body {
        case .array(let items):
            guard !items.isEmpty else { throw OrreryError(.invalidField, "must hold at least one event", field: "events") }
            guard items.count <= IncomingEvent.maxPerRequest else {
                throw OrreryError(
                    .invalidField, "at most \(IncomingEvent.maxPerRequest) events in one request, not \(items.count)", field: "events")
            }
            events = try items.enumerated().map { try IncomingEvent.parse($1, path: "[\($0)]") }
            wasArray = true
        default:
            events = [try IncomingEvent.parse(body)]
            wasArray = false
        }
        if let idempotencyKey {
            for i in events.indices where events[i].id == nil {
                events[i].id = wasArray ? "\(idempotencyKey)-\(i)" : idempotencyKey
            }
        }
        let now = clock.now()
        let answers = try await store.acceptEvents(
            events, project: project, now: now, replaySince: now.adding(seconds: -EventChain.replayWindowSec))
        if answers.contains(where: { !$0.fired.isEmpty && !$0.replayed }) { engine.wake() }
        return PostedEvents(answers: answers, wasArray: wasArray)
    }

    public func listEvents(_ filter: EventFilter, by caller: Caller) async throws -> Page<StoredEvent> {
        var filter = filter
        if let scope = caller.scope { filter.project = scope }
        return try await store.listEvents(filter)
    }

    private func eventProject(_ name: String?, for caller: Caller) throws -> String {
        guard let name else { return caller.project }
        guard caller.role == .admin || name == caller.project else {
            throw OrreryError(
                .forbidden, "a \(caller.role.rawValue) token of project \"\(caller.project)\" cannot post events to another project",
                field: "project")
        }
        return name
    }

    /// A trigger that names the task it follows (`schedule.task_id`) must name another task
    /// of the same project: following itself would be an endless chain.
    func validateFollowedTask(_ task: ScheduledTask) async throws {
        guard case .trigger(let trigger) = task.schedule.kind, let followed = trigger.taskID else { return }
        try task.schedule.refuseSelfFollow(taskID: task.id)
        do {
            _ = try await store.task(id: followed, project: task.project)
        } catch let error as OrreryError where error.code == .notFound {
            throw OrreryError(.invalidSchedule, "no task \"\(followed)\" in project \"\(task.project)\"", field: "schedule.task_id")
        }
    }
}
