import HTTPTypes
import Hummingbird
import OrreryCore
import OrreryEngine

/// Seed 001, the task API: tasks addressed by integer id (the task's `seq`).
///
/// - `GET /api/task/{taskId}` → `{"_user": …, "task": …}`; `GET /api/tasks` → an array of
///   the same envelopes (every task the token may see, unpaged as in the document);
///   `GET /api/task/{taskId}/log?offset=&limit=` → an array of log entries;
///   `POST /api/task/{taskId}/cancel` and `DELETE /api/task/{taskId}` → `{"acknowledged": "ok"}`,
///   403 for a viewer; `GET /api/task/modules` → `{"modules": […]}`.
/// - `_user` is the caller (its token's name). Orrery has no integer user ids; `_id` is a
///   stable number derived from the name (FNV-1a, 31 bits), the same on every call.
/// - The task's run fields describe its *current run*: the active run if there is one, else
///   its newest finished run, else its pending run. `status` is that run's status in 001's
///   words (`scheduled`, `running`, `finished`, `failed`, `canceled`, `skipped`), `new` when
///   the task has no run at all; `status_percent` (an integer) and `status_msg` its progress
///   (`status_msg` falls back to the error message); `run_*_at` its times. The log endpoint
///   reads the same run's log (`[]` for a task with no run).
/// - Cancel cancels the active run, else the pending one; a task with neither is a 409.
/// - `schedules` is the structured (calendar) form: one entry for a calendar schedule or a
///   cron expression that lists can say (with `months` added when it restricts months);
///   `[]` for once, interval and trigger schedules and for cron expressions using `L`, `W`,
///   `#`, seconds, or both day fields. `email.recipients` comes from the task's
///   `notify.email`; `state` and `frontend_prefs` are `{}` (Orrery keeps neither).
/// - The module catalogue is an array (the scraped document shows one element as an object);
///   each parameter is `{group, name, parameters: {name, position, type, default, required},
///   require_system_right, unauthenticated_visible: false}` with the module's required right.
/// - Errors (the document shows none but a bare 403): `{"error": {"code", "message"}}` with
///   the native code and status (400 for a non-integer id or a bad offset/limit, 401, 403, 404).
/// - `POST /api/tasks` creates the tasks of an array body (TaskAPIProfile+Create.swift).
struct TaskAPIProfile {
    let service: TaskService
    let authenticator: TokenAuthenticator
    let format = TaskAPIErrorFormat()
    var errors: ProfileErrors { ProfileErrors(owns: { $0.hasPrefix("/api/task") }, format: format) }

    func add(to router: Router<OrreryRequestContext>) {
        let group = router.group("api")
        // The constant path first: the router tries routes in the order they were added.
        group.get("task/modules") { request, _ in
            _ = try await authenticate(request)
            let modules = service.modules.descriptors.values.sorted { $0.name < $1.name }.map(Self.module)
            return json(.object(["modules": .array(modules)]))
        }
        addCreate(to: group)
        group.get("tasks") { request, _ in
            let caller = try await authenticate(request)
            let tasks = try await service.everyTask(TaskFilter(), by: caller)
            var items: [JSONValue] = []
            for task in tasks { items.append(try await envelope(task, caller: caller)) }
            return json(.array(items))
        }
        group.get("task/:taskId") { request, context in
            let caller = try await authenticate(request)
            return json(try await envelope(try await resolveTask(context, caller), caller: caller))
        }
        group.delete("task/:taskId") { request, context in
            let caller = try await authenticate(request)
            try caller.require(.operator, to: "delete tasks")
            try await service.deleteTask(try await resolveTask(context, caller).id, by: caller)
            return json(.object(["acknowledged": .string("ok")]))
        }
        group.post("task/:taskId/cancel") { request, context in
            let caller = try await authenticate(request)
            try caller.require(.operator, to: "cancel runs")
            let task = try await resolveTask(context, caller)
            var run = try await firstRun(of: task, in: [.active], caller)
            if run == nil { run = try await firstRun(of: task, in: [.scheduled], caller) }
            guard let run else {
                throw OrreryError(.conflict, "task \(task.seq) has no active or pending run to cancel")
            }
            _ = try await service.cancelRun(run.id, by: caller)
            return json(.object(["acknowledged": .string("ok")]))
        }
        group.get("task/:taskId/log") { request, context in
            let caller = try await authenticate(request)
            let q = Query(request)
            let offset = try q.int("offset", default: 0, in: 0...Int(Int32.max))
            let limit = try q.int("limit", default: 100, in: 1...1000)
            guard let run = try await currentRun(of: try await resolveTask(context, caller), caller) else { return json(.array([])) }
            let entries = try await service.logs(runID: run.id, offset: offset, limit: limit, by: caller)
            return json(.array(entries.map { e in
                .object([
                    "idx": .int(e.idx), "level": .string(e.level.rawValue), "msg": .string(e.message),
                    "status_percent": e.progressPercent.map { .int(Int64($0.rounded())) } ?? .null,
                    "timestamp": .string(e.timestamp.rfc3339),
                ])
            }))
        }
    }

    private func authenticate(_ request: Request) async throws -> TaskService.Caller {
        try await format.bearerCaller(request, authenticator)
    }

    /// The task a path's integer id names, among those the caller may see.
    private func resolveTask(_ context: OrreryRequestContext, _ caller: TaskService.Caller) async throws -> ScheduledTask {
        let text = try context.parameters.require("taskId")
        guard let seq = Int64(text), seq > 0 else {
            throw OrreryError(.invalidField, "must be a positive integer, not \"\(text)\"", field: "taskId")
        }
        var filter = TaskFilter()
        filter.seq = seq
        filter.limit = 1
        guard let task = try await service.listTasks(filter, by: caller).items.first else {
            throw OrreryError.notFound("task", text)
        }
        return task
    }

    private func firstRun(of task: ScheduledTask, in statuses: [RunStatus], _ caller: TaskService.Caller) async throws -> TaskRun? {
        var filter = RunFilter()
        filter.taskID = task.id
        filter.statuses = statuses
        filter.includeDismissed = true
        filter.limit = 1
        return try await service.listRuns(filter, by: caller).items.first
    }

    /// The active run, else the newest finished one, else the pending one.
    private func currentRun(of task: ScheduledTask, _ caller: TaskService.Caller) async throws -> TaskRun? {
        if let active = try await firstRun(of: task, in: [.active], caller) { return active }
        if let finished = try await firstRun(of: task, in: RunStatus.allCases.filter(\.isFinished), caller) { return finished }
        return try await firstRun(of: task, in: [.scheduled], caller)
    }

    private func envelope(_ task: ScheduledTask, caller: TaskService.Caller) async throws -> JSONValue {
        .object([
            "_user": .object([
                "_basetype": .string("user"),
                "user": .object(["_generated_displayname": .string(caller.name), "_id": .int(Self.userID(caller.name))]),
            ]),
            "task": Self.task(task, run: try await currentRun(of: task, caller)),
        ])
    }

    static func userID(_ name: String) -> Int64 { stableOffset(of: name, within: 1 << 31) }

    static func task(_ task: ScheduledTask, run: TaskRun?) -> JSONValue {
        let status = switch run?.status {
        case nil: "new"
        case .scheduled: "scheduled"
        case .active: "running"
        case .complete: "finished"
        case .failed: "failed"
        case .canceled: "canceled"
        case .skipped: "skipped"
        }
        let recipients = (task.notify?["email"]?.arrayValue ?? []).compactMap { entry -> JSONValue? in
            guard let address = entry["address"]?.stringValue else { return nil }
            return .object(["email": .string(address), "problems_only": entry["problems_only"] ?? .bool(false)])
        }
        return .object([
            "_id": .int(task.seq), "created_at": .string(task.createdAt.rfc3339), "description": .string(task.description ?? ""),
            "email": .object(["recipients": .array(recipients)]), "frontend_prefs": .object([:]),
            "next_run_at": .time(task.nextRunAt), "run_canceled_at": .time(run?.canceledAt),
            "run_finished_at": .time(run?.finishedAt), "run_started_at": .time(run?.startedAt),
            "schedules": .array(schedules(task.schedule)), "state": .object([:]), "status": .string(status),
            "status_msg": (run?.progress?.message ?? run?.error?.message).map(JSONValue.string) ?? .null,
            "status_percent": run?.progress?.percent.map { .int(Int64($0.rounded())) } ?? .null,
            "task_module": .string(task.module), "task_params": task.params,
            "task_timeout_sec": task.timeoutSec.map(JSONValue.int) ?? .null,
            "updated_at": .string(task.updatedAt.rfc3339), "version": .int(task.version),
        ])
    }

    static func schedules(_ schedule: Schedule) -> [JSONValue] {
        let weekdayNames = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
        switch schedule.kind {
        case .cron(_, let zone, _, let r), .calendar(_, let zone, _, let r):
            guard let f = r.calendarFields else { return [] }
            let ints = { (list: [Int]) in JSONValue.array(list.map { .int(Int64($0)) }) }
            var entry: [String: JSONValue] = [
                "days_of_month": ints(f.daysOfMonth), "hours": ints(f.hours), "minutes": ints(f.minutes),
                "timezone": .string(zone), "weekdays": .array(f.weekdays.map { .string(weekdayNames[$0]) }),
            ]
            if !f.months.isEmpty { entry["months"] = ints(f.months) }
            return [.object(entry)]
        case .once, .interval, .trigger:
            return []
        }
    }

    static func module(_ m: ModuleDescriptor) -> JSONValue {
        .object([
            "name": .string(m.name), "description": .object(m.description.mapValues(JSONValue.string)),
            "params": .array(m.params.sorted { $0.position < $1.position }.map { p in
                .object([
                    "group": .string(p.group ?? ""), "name": .string(p.name),
                    "parameters": .object([
                        "name": .string(p.name), "position": .int(Int64(p.position)), "type": .string(p.type.rawValue),
                        "default": p.defaultValue ?? .null, "required": .bool(p.required),
                    ]),
                    "require_system_right": m.requiredRight.map(JSONValue.string) ?? .null,
                    "unauthenticated_visible": .bool(false),
                ])
            }),
        ])
    }
}

/// The task API's errors: `{"error": {"code": "forbidden", "message": "…"}}`.
struct TaskAPIErrorFormat: ProfileErrorFormat {
    func code(for status: HTTPResponse.Status, native: OrreryError.Code) -> String { native.rawValue }

    func body(_ failure: ProfileFailure) -> JSONValue {
        .object(["error": .object(["code": .string(failure.code), "message": .string(failure.message)])])
    }
}
