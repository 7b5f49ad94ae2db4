import Hummingbird
import OrreryCore
import OrreryEngine

/// Seed 004, Huawei DMS: `GET /v2/{project_id}/instances/{instance_id}/scheduled-tasks`, the
/// runs (DMS *jobs*) of the tasks whose `resource_id` is the instance, newest first.
///
/// - `start` (≥ 0, the number of jobs to skip: the document's example starts at 0) and `limit`
///   (1–100; 10 when absent). `begin_time` / `end_time` (`YYYYMMDDHHmmss`, UTC) bound
///   `schedule_at`, both ends included. The document's own example request spells them
///   `beginTime` / `endTime` and the path `schedule-tasks`; both spellings are accepted.
/// - `job_count` is the total number of matching jobs, an integer as in the example response
///   (the parameter table says String).
/// - `status`: scheduled → `CREATED`, active → `EXECUTING`, complete and skipped → `SUCCESS`,
///   failed → `FAILED`, canceled → `CANCELLED`; every run of a deleted task → `DELETED`.
/// - `name` is the task's name, `params` its params as JSON text, `user_name` and `user_id`
///   who started the run (else the task's owner: Orrery knows users by name, so both carry
///   it), `created_at` when the task was made, `updated_at` the run's last change,
///   `schedule_at` when it was due. Times are RFC 3339 UTC with milliseconds, as the example.
/// - An instance no task names has no jobs: the answer is an empty list, not a 404 (Orrery
///   does not know which instances exist).
struct DMSProfile {
    let service: TaskService
    let authenticator: TokenAuthenticator
    let format = HuaweiErrorFormat(service: "DMS")
    var errors: ProfileErrors { ProfileErrors(owns: { $0.hasPrefix("/v2/") && $0.contains("/instances/") }, format: format) }

    func add(to router: Router<OrreryRequestContext>) {
        let group = router.group("v2")
        for spelling in ["scheduled-tasks", "schedule-tasks"] {
            group.get(":project_id/instances/:instance_id/\(spelling)") { request, context in
                try await list(request, context)
            }
        }
    }

    private func list(_ request: Request, _ context: OrreryRequestContext) async throws -> Response {
        let project = try context.parameters.require("project_id")
        let instance = try context.parameters.require("instance_id")
        let caller = try await format.caller(request, project: project, authenticator: authenticator)
        let q = Query(request)
        var filter = RunFilter()
        filter.project = project
        filter.resourceID = instance
        filter.includeDismissed = true
        filter.offset = try format.int(q, ["start"], required: false, in: 0...Int(Int32.max), default: 0)
        filter.limit = try format.int(q, ["limit"], required: false, in: 1...100, default: 10)
        filter.scheduledAfter = try time(q, ["begin_time", "beginTime"])
        filter.scheduledBefore = try time(q, ["end_time", "endTime"]).map { $0.adding(microseconds: 1) }
        if let begin = filter.scheduledAfter, let end = filter.scheduledBefore, begin >= end {
            throw format.invalid("end_time", "must not be before begin_time")
        }
        let page = try await service.listRuns(filter, by: caller)
        var taskFilter = TaskFilter()
        taskFilter.project = project
        taskFilter.resourceID = instance
        taskFilter.includeDeleted = true
        let tasks = try await service.everyTask(taskFilter, by: caller)
        let byID = Dictionary(tasks.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        return json(.object([
            "job_count": .int(Int64(page.totalCount ?? 0)),
            "jobs": .array(page.items.map { Self.job($0, task: byID[$0.taskID]) }),
        ]))
    }

    /// A `YYYYMMDDHHmmss` parameter under either of its spellings.
    private func time(_ q: Query, _ names: [String]) throws -> Timestamp? {
        guard case let (name, text)? = HuaweiErrorFormat.first(of: names, in: q) else { return nil }
        guard let t = HuaweiTime.parseCompact(text) else {
            throw format.invalid(name, "must be a time as YYYYMMDDHHmmss, not \"\(text)\"")
        }
        return t
    }

    static func job(_ run: TaskRun, task: ScheduledTask?) -> JSONValue {
        let status: String
        if task?.deletedAt != nil {
            status = "DELETED"
        } else {
            switch run.status {
            case .scheduled: status = "CREATED"
            case .active: status = "EXECUTING"
            case .complete, .skipped: status = "SUCCESS"
            case .failed: status = "FAILED"
            case .canceled: status = "CANCELLED"
            }
        }
        let user = run.performedBy ?? task?.owner ?? ""
        return .object([
            "id": .string(run.id), "name": .string(task?.name ?? run.module), "user_name": .string(user), "user_id": .string(user),
            "params": .string(task?.params.jsonText ?? "{}"), "status": .string(status),
            "created_at": .string((task?.createdAt ?? run.scheduledAt).rfc3339), "updated_at": .string(run.updatedAt.rfc3339),
            "schedule_at": .string(run.scheduledAt.rfc3339),
        ])
    }
}
