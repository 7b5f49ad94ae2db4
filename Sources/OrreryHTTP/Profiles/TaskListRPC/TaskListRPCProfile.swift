import HTTPTypes
import Hummingbird
import OrreryCore
import OrreryEngine

/// Seed 003, the task-list RPC: `POST /rpc/task/list` with
/// `{"params": {"configuration_id": 1, "show_hidden": false}}`, answering
/// `{"result": {"tasks": […]}, "successful": true}` or `{"error": {"message"}, "successful": false}`.
///
/// A *task* here is a run; its *configuration* is the task label `configuration_id`.
/// - `configuration_id` (optional, a non-negative integer): runs of tasks labelled with it;
///   absent: every run the token may see. `show_hidden`: also dismissed runs (default false).
///   `params` may be omitted; any other field in it is a 400 (a misspelt filter must not
///   silently list everything).
/// - Runs not started yet are not listed: the document has no state word for them.
/// - `state`: active → `In Progress`; complete and skipped → `End`; failed and canceled →
///   `Failed`; a dismissed run → `Dismissed` (whatever it ended as).
/// - `task_id` is the run's integer number; `title` the task's name; `configuration_name` the
///   task's `configuration_name` label (empty when it has none); `configuration_id` 0 when
///   the task has since been deleted, as the document says of a deleted configuration.
/// - `performed_by`: who started the run, else the task's owner; `hidden_by`: who dismissed
///   it, else empty; `finished`: empty while not finished; `started`: when it started (a
///   skipped run never started: when it was due). `messages`: the run's log lines.
/// - Tokens are the native `Authorization: Bearer` ones; a missing or invalid one is a 401
///   in this profile's error shape.
struct TaskListRPCProfile {
    let service: TaskService
    let authenticator: TokenAuthenticator
    let format = RPCErrorFormat()
    var errors: ProfileErrors { ProfileErrors(owns: { $0.hasPrefix("/rpc/task/") }, format: format) }

    func add(to router: Router<OrreryRequestContext>) {
        let group = router.group("rpc/task")
        group.post("list") { request, context in
            let caller = try await format.bearerCaller(request, authenticator)
            var body = try FieldReader(try await request.jsonBody(context: context))
            var filter = RunFilter()
            filter.statuses = [.active, .complete, .failed, .canceled, .skipped]
            var taskFilter = TaskFilter()
            taskFilter.includeDeleted = true
            if var params = try body.object("params") {
                if let id = try params.int("configuration_id", in: 0...Int64.max) {
                    filter.labels = ["configuration_id": String(id)]
                    taskFilter.labels = filter.labels
                }
                filter.includeDismissed = try params.bool("show_hidden") ?? false
                try params.rejectUnknownFields()
            }
            try body.rejectUnknownFields()
            let runs = try await service.everyRun(filter, by: caller)
            let tasks = try await service.everyTask(taskFilter, by: caller)
            let byID = Dictionary(tasks.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            var items: [JSONValue] = []
            for run in runs {
                let messages = try await service.logs(runID: run.id, offset: 0, limit: 1000, by: caller)
                items.append(Self.task(run, task: byID[run.taskID], messages: messages))
            }
            return json(.object(["result": .object(["tasks": .array(items)]), "successful": .bool(true)]))
        }
    }

    static func task(_ run: TaskRun, task: ScheduledTask?, messages: [LogEntry]) -> JSONValue {
        let state: String
        if run.dismissedAt != nil {
            state = "Dismissed"
        } else {
            switch run.status {
            case .scheduled, .active: state = "In Progress"
            case .complete, .skipped: state = "End"
            case .failed, .canceled: state = "Failed"
            }
        }
        let configuration = task?.deletedAt == nil ? task?.labels["configuration_id"].flatMap { Int64($0) } ?? 0 : 0
        let finished = run.finishedAt ?? (run.status.isFinished ? run.updatedAt : nil)
        return .object([
            "configuration_id": .int(configuration),
            "configuration_name": .string(task?.labels["configuration_name"] ?? ""),
            "task_id": .int(run.seq), "title": .string(task?.name ?? run.module),
            "hidden_by": .string(run.dismissedAt == nil ? "" : run.dismissedBy ?? ""),
            "finished": .string(finished?.rfc3339 ?? ""),
            "messages": .array(messages.map { .object(["message": .string($0.message), "time": .string($0.timestamp.rfc3339)]) }),
            "performed_by": .string(run.performedBy ?? task?.owner ?? ""),
            "started": .string((run.startedAt ?? run.scheduledAt).rfc3339),
            "state": .string(state), "updated": .string(run.updatedAt.rfc3339),
        ])
    }
}

/// The RPC's errors: `{"error": {"message": "…"}, "successful": false}`, with the HTTP status
/// the native API gives the same error (the document names 400; 401 and 403 keep the shape).
struct RPCErrorFormat: ProfileErrorFormat {
    func code(for status: HTTPResponse.Status, native: OrreryError.Code) -> String { native.rawValue }

    func body(_ failure: ProfileFailure) -> JSONValue {
        .object(["error": .object(["message": .string(failure.message)]), "successful": .bool(false)])
    }
}
