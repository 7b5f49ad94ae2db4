/// Turns a request body into a task: every field read, typed and validated, every
/// error naming its field. Creation and partial update (PATCH) share one reader.
public enum TaskInput {
    public static let maxNameLength = 200

    /// A new task from a `POST /v1/tasks` body. The caller supplies identity and time.
    public static func create(
        _ body: JSONValue, id: String, now: Timestamp, project: String, owner: String?,
        modules: [String: ModuleDescriptor]
    ) throws -> ScheduledTask {
        var r = try FieldReader(body)
        guard r.has("name") else { throw OrreryError(.missingField, "is required", field: "name") }
        guard r.has("module") else { throw OrreryError(.missingField, "is required", field: "module") }
        guard r.has("schedule") else { throw OrreryError(.missingField, "is required", field: "schedule") }
        var task = ScheduledTask(
            id: id, project: project, name: "", module: "", schedule: Schedule(.once(at: now)),
            owner: owner, createdAt: now)
        _ = r.value("project")  // chosen and checked by the caller (TaskService), who knows the token
        try apply(&r, to: &task, now: now, modules: modules)
        try r.rejectUnknownFields()
        return task
    }

    /// `task` changed by a `PATCH` body (only the fields present change).
    public static func update(
        _ task: ScheduledTask, with body: JSONValue, now: Timestamp, modules: [String: ModuleDescriptor]
    ) throws -> ScheduledTask {
        var r = try FieldReader(body)
        var updated = task
        if r.has("project") {
            guard r.value("project") == .string(task.project) else {
                throw OrreryError(.invalidField, "cannot be changed; create the task in the other project instead", field: "project")
            }
        }
        try apply(&r, to: &updated, now: now, modules: modules)
        try r.rejectUnknownFields()
        if updated != task {
            updated.updatedAt = now
            updated.version = task.version + 1
        }
        return updated
    }

    private static func apply(
        _ r: inout FieldReader, to task: inout ScheduledTask, now: Timestamp, modules: [String: ModuleDescriptor]
    ) throws {
        if r.has("name") {
            let name = try r.requiredString("name", maxLength: maxNameLength)
            guard !name.allSatisfy(\.isWhitespace) else { throw OrreryError(.invalidField, "must not be empty", field: "name") }
            task.name = name
        }
        if r.has("description") { task.description = try r.string("description", maxLength: 10_000) }
        if r.has("module") {
            let module = try r.requiredString("module", maxLength: 100)
            guard modules[module] != nil else {
                throw OrreryError(.unknownModule, "unknown module \"\(module)\" (known: \(modules.keys.sorted().joined(separator: ", ")))", field: "module")
            }
            task.module = module
        }
        if r.has("params") { task.params = r.value("params") ?? .object([:]) }
        if r.has("resource_id") { task.resourceID = try r.string("resource_id", maxLength: 500) }
        if r.has("labels") { task.labels = try r.stringMap("labels") ?? [:] }
        if r.has("schedule") { task.schedule = try Schedule.parse(try r.required("schedule"), now: now) }
        if r.has("enabled") { task.enabled = try r.bool("enabled") ?? true }
        if r.has("queue") {
            let queue = try r.string("queue", maxLength: 100) ?? "default"
            guard !queue.isEmpty else { throw OrreryError(.invalidField, "must not be empty", field: "queue") }
            task.queue = queue
        }
        if r.has("priority") { task.priority = try r.int("priority", in: -1_000_000...1_000_000) ?? 0 }
        if r.has("timeout_sec") { task.timeoutSec = try r.int("timeout_sec", in: 1...31_536_000) }
        if r.has("retry") { task.retry = try r.value("retry").map { try RetryPolicy.parse($0, path: "retry") } ?? .none }
        if r.has("overlap") {
            let word = try r.string("overlap", maxLength: 20) ?? "skip"
            guard let policy = OverlapPolicy(rawValue: word) else {
                throw OrreryError(.invalidField, "must be one of skip, allow, queue, replace, not \"\(word)\"", field: "overlap")
            }
            task.overlap = policy
        }
        if r.has("misfire") { task.misfire = try r.value("misfire").map { try MisfirePolicy.parse($0, path: "misfire") } ?? MisfirePolicy() }
        if r.has("notify") {
            // Checked as a `NotifyPolicy` (a 400 naming the field) and stored in its normal form.
            task.notify = try r.value("notify").map { try NotifyPolicy.parse($0, path: "notify").json }
        }
        // Params are checked against the module the task ends up with.
        if let descriptor = modules[task.module] {
            try descriptor.validate(params: task.params)
        }
    }
}

