import Hummingbird
import OrreryCore
import OrreryEngine

/// Seed 002, Huawei Workspace: `GET /v2/{project_id}/scheduled-tasks`, tasks of one project.
///
/// - `offset` (≥ 0) and `limit` (0–50) are required; `limit=0` answers only `total_count`.
/// - `task_type` is the module's name in capitals (`SHELL`, `HTTP`; a module an embedding
///   application registers as `start` is `START`), matched without regard to case; an
///   unknown one is a 400 that lists the known ones.
/// - `scheduled_type` is derived from the schedule: `once` → `FIXED_TIME`, `trigger` →
///   `LIFE_CYCLE`; `cron` and `calendar` → `MONTH` when they restrict days of the month or
///   months, else `WEEK` when they restrict weekdays, else `DAY`; `interval` → `MONTH` from 28
///   days, `WEEK` from 7 days, else `DAY`. As the document says, triggered tasks are listed only
///   when `scheduled_type=LIFE_CYCLE` is asked for (or `life_cycle_type`, which implies it).
///   Filtering on `DAY`, `WEEK` or `MONTH` classifies the project's recurring tasks in memory
///   (the store knows schedule kinds, not periods), then pages the result.
/// - `life_cycle_type` is the trigger's event. Huawei's four words map to Orrery events:
///   `POST_CREATE_DESKTOP_SUCCESS` ↔ `desktop.created`, `POST_REBUILD_DESKTOP_SUCCESS` ↔
///   `desktop.rebuilt`, `POST_REATTACH_DESKTOP_SUCCESS` ↔ `desktop.reattached`,
///   `POST_DESKTOP_DISCONNECTED` ↔ `desktop.disconnected`; any other event is shown and
///   matched by its own name (Orrery's events are open-ended).
/// - `task_name` matches names containing it (Huawei's consoles search names by substring).
/// - `last_status`: `SUCCESS` (complete), `SKIP` (skipped), `FAIL` (failed or canceled); null
///   before the first finished run. `next_execution_time` is `yyyy-MM-dd HH:mm:ss` in the
///   schedule's time zone (`time_zone`: the IANA name; `UTC` for once/interval/trigger).
/// - `priority` and `wait_time` are the trigger's priority and `delay_sec` (seconds) for
///   triggered tasks; for others `priority` is the task's priority and `wait_time` 0.
struct WorkspaceProfile {
    let service: TaskService
    let authenticator: TokenAuthenticator
    let format = HuaweiErrorFormat(service: "WKS")
    var errors: ProfileErrors { ProfileErrors(owns: { $0.hasPrefix("/v2/") && !$0.contains("/instances/") }, format: format) }

    static let lifeCycleEvents: [String: String] = [
        "POST_CREATE_DESKTOP_SUCCESS": "desktop.created", "POST_REBUILD_DESKTOP_SUCCESS": "desktop.rebuilt",
        "POST_REATTACH_DESKTOP_SUCCESS": "desktop.reattached", "POST_DESKTOP_DISCONNECTED": "desktop.disconnected",
    ]
    static let lastStatusWords: [String: [RunStatus]] = ["SUCCESS": [.complete], "SKIP": [.skipped], "FAIL": [.failed, .canceled]]
    static let scheduledTypes = ["FIXED_TIME", "DAY", "WEEK", "MONTH", "LIFE_CYCLE"]

    func add(to router: Router<OrreryRequestContext>) {
        let group = router.group("v2")
        group.get(":project_id/scheduled-tasks") { request, context in
            let project = try context.parameters.require("project_id")
            let caller = try await format.caller(request, project: project, authenticator: authenticator)
            let q = Query(request)
            let offset = try format.int(q, ["offset"], required: true, in: 0...Int(Int32.max), default: 0)
            let limit = try format.int(q, ["limit"], required: true, in: 0...50, default: 0)
            var filter = TaskFilter()
            filter.project = project
            filter.nameContains = q.string("task_name")
            if let type = q.string("task_type") {
                guard let module = service.modules.descriptors.keys.first(where: { $0.uppercased() == type.uppercased() }) else {
                    throw format.invalid("task_type", "unknown task type \"\(type)\" (expected one of \(service.modules.descriptors.keys.map { $0.uppercased() }.sorted().joined(separator: ", ")))")
                }
                filter.module = module
            }
            if let word = q.string("last_status") {
                guard let statuses = Self.lastStatusWords[word] else {
                    throw format.invalid("last_status", "must be SUCCESS, SKIP or FAIL, not \"\(word)\"")
                }
                filter.lastStatus = statuses
            }
            let lifeCycle = q.string("life_cycle_type")
            filter.triggerEvent = lifeCycle.map { Self.lifeCycleEvents[$0] ?? $0 }
            let period = try q.string("scheduled_type").map { (word: String) throws -> String in
                guard Self.scheduledTypes.contains(word) else {
                    throw format.invalid("scheduled_type", "must be one of \(Self.scheduledTypes.joined(separator: ", ")), not \"\(word)\"")
                }
                return word
            } ?? (lifeCycle == nil ? nil : "LIFE_CYCLE")
            filter.scheduleTypes = switch period {
            case "FIXED_TIME": ["once"]
            case "LIFE_CYCLE": ["trigger"]
            case nil: ["once", "interval", "cron", "calendar"]
            default: ["interval", "cron", "calendar"]
            }

            let tasks: [ScheduledTask], total: Int
            if let period, ["DAY", "WEEK", "MONTH"].contains(period) {
                let all = try await service.everyTask(filter, by: caller).filter { Self.scheduledType($0.schedule) == period }
                tasks = Array(all.dropFirst(offset).prefix(limit))
                total = all.count
            } else {
                filter.offset = offset
                filter.limit = max(limit, 1)
                let page = try await service.listTasks(filter, by: caller)
                tasks = limit == 0 ? [] : page.items
                total = page.totalCount ?? 0
            }
            return json(.object(["scheduled_tasks": .array(tasks.map(Self.scheduledTask)), "total_count": .int(Int64(total))]))
        }
    }

    static func scheduledType(_ schedule: Schedule) -> String {
        switch schedule.kind {
        case .once: "FIXED_TIME"
        case .trigger: "LIFE_CYCLE"
        case .interval(let every): every >= 28 * 86_400 ? "MONTH" : every >= 7 * 86_400 ? "WEEK" : "DAY"
        case .cron(_, _, _, let r), .calendar(_, _, _, let r): r.restrictsDaysOfMonth ? "MONTH" : r.restrictsWeekdays ? "WEEK" : "DAY"
        }
    }

    static func scheduledTask(_ task: ScheduledTask) -> JSONValue {
        var timeZone = "UTC", lifeCycle = JSONValue.null, priority = task.priority, wait: Int64 = 0
        switch task.schedule.kind {
        case .cron(_, let zone, _, _), .calendar(_, let zone, _, _):
            timeZone = zone
        case .trigger(let trigger):
            lifeCycle = .string(lifeCycleEvents.first { $0.value == trigger.event }?.key ?? trigger.event)
            priority = trigger.priority
            wait = trigger.delaySec
        case .once, .interval:
            break
        }
        let lastStatus: JSONValue = switch task.lastStatus {
        case .complete: .string("SUCCESS")
        case .skipped: .string("SKIP")
        case .failed, .canceled: .string("FAIL")
        case .scheduled, .active, nil: .null
        }
        return .object([
            "id": .string(task.id), "task_name": .string(task.name), "task_type": .string(task.module.uppercased()),
            "scheduled_type": .string(scheduledType(task.schedule)), "life_cycle_type": lifeCycle,
            "last_status": lastStatus,
            "next_execution_time": task.nextRunAt.map { .string(HuaweiTime.local($0, offsetSeconds: task.schedule.utcOffset(at: $0))) } ?? .null,
            "enable": .bool(task.enabled), "description": .string(task.description ?? ""), "priority": .int(priority),
            "time_zone": .string(timeZone), "wait_time": .int(wait),
        ])
    }
}
