import Foundation

/// What a new task is made of, as Swift values: what `TaskService.createTask` takes from an
/// embedding application, and what the HTTP layer decodes a `POST /v1/tasks` body into
/// (`init(json:now:modules:)`). The service adds identity, owner and time (`task(id:…)`),
/// which checks every field again, each error naming its field as the API does.
///
///     var input = TaskInput(name: "nightly report", module: "report", schedule: try .cron("0 3 * * *", timezone: "Europe/Berlin"))
///     input.params = try JSONValue(encoding: ReportParams(format: "pdf"))
///     input.retry = RetryPolicy(maxAttempts: 3)
///     let task = try await service.createTask(input, by: caller)
public struct TaskInput: Sendable, Hashable {
    public static let maxNameLength = 200

    public var name: String
    public var module: String
    public var schedule: Schedule
    /// The project to create it in; nil: the caller's own (only admins may name another).
    public var project: String?
    public var description: String?
    /// The module's params, checked against its descriptor.
    public var params: JSONValue
    public var resourceID: String?
    public var labels: [String: String]
    public var enabled: Bool
    public var queue: String
    public var priority: Int64
    public var timeoutSec: Int64?
    public var retry: RetryPolicy
    public var overlap: OverlapPolicy
    public var misfire: MisfirePolicy
    public var notify: NotifyPolicy?

    public init(
        name: String, module: String, schedule: Schedule, project: String? = nil, description: String? = nil,
        params: JSONValue = .object([:]), resourceID: String? = nil, labels: [String: String] = [:], enabled: Bool = true,
        queue: String = "default", priority: Int64 = 0, timeoutSec: Int64? = nil, retry: RetryPolicy = .none,
        overlap: OverlapPolicy = .skip, misfire: MisfirePolicy = MisfirePolicy(), notify: NotifyPolicy? = nil
    ) {
        self.name = name; self.module = module; self.schedule = schedule; self.project = project
        self.description = description; self.params = params; self.resourceID = resourceID; self.labels = labels
        self.enabled = enabled; self.queue = queue; self.priority = priority; self.timeoutSec = timeoutSec
        self.retry = retry; self.overlap = overlap; self.misfire = misfire; self.notify = notify
    }

    /// A `POST /v1/tasks` body: every field read, typed and validated (modules: the known
    /// ones, whose params are checked), every error naming its field.
    public init(json body: JSONValue, now: Timestamp, modules: [String: ModuleDescriptor]) throws {
        var r = try FieldReader(body)
        var project: String?
        if let value = r.value("project"), value != .null {
            guard case .string(let name) = value else {
                throw OrreryError(.invalidField, "must be a project name (1-100 letters, digits, '-', '_' or '.')", field: "project")
            }
            project = name
        }
        guard r.has("name") else { throw OrreryError(.missingField, "is required", field: "name") }
        guard r.has("module") else { throw OrreryError(.missingField, "is required", field: "module") }
        guard r.has("schedule") else { throw OrreryError(.missingField, "is required", field: "schedule") }
        var task = ScheduledTask(id: "", project: "", name: "", module: "", schedule: Schedule(.once(at: now)), createdAt: now)
        try Self.apply(&r, to: &task, now: now, modules: modules)
        try r.rejectUnknownFields()
        self.init(
            name: task.name, module: task.module, schedule: task.schedule, project: project, description: task.description,
            params: task.params, resourceID: task.resourceID, labels: task.labels, enabled: task.enabled, queue: task.queue,
            priority: task.priority, timeoutSec: task.timeoutSec, retry: task.retry, overlap: task.overlap, misfire: task.misfire,
            notify: try task.notify.map { try NotifyPolicy.parse($0) })
    }

    /// The task this input describes, with the identity, project, owner and time the caller
    /// supplies; every field checked as the API checks it (errors name their fields).
    public func task(id: String, now: Timestamp, project: String, owner: String?, modules: [String: ModuleDescriptor]) throws -> ScheduledTask {
        guard !name.isEmpty, !name.allSatisfy(\.isWhitespace) else { throw OrreryError(.invalidField, "must not be empty", field: "name") }
        guard name.count <= Self.maxNameLength else {
            throw OrreryError(.invalidField, "must be at most \(Self.maxNameLength) characters", field: "name")
        }
        guard let descriptor = modules[module] else {
            throw OrreryError(.unknownModule, "unknown module \"\(module)\" (known: \(modules.keys.sorted().joined(separator: ", ")))", field: "module")
        }
        guard (1...100).contains(queue.count) else { throw OrreryError(.invalidField, "must be 1-100 characters", field: "queue") }
        guard (-1_000_000...1_000_000).contains(priority) else {
            throw OrreryError(.invalidField, "must be between -1000000 and 1000000", field: "priority")
        }
        if let timeoutSec, !(1...31_536_000).contains(timeoutSec) {
            throw OrreryError(.invalidField, "must be between 1 and 31536000", field: "timeout_sec")
        }
        try descriptor.validate(params: params)
        return ScheduledTask(
            id: id, project: project, name: name, description: description, module: module, params: params,
            resourceID: resourceID, labels: labels, schedule: schedule, enabled: enabled, queue: queue, priority: priority,
            timeoutSec: timeoutSec, retry: retry, overlap: overlap, misfire: misfire, notify: notify?.json, owner: owner,
            createdAt: now)
    }

    /// A new task from a `POST /v1/tasks` body. The caller supplies identity and time.
    public static func create(
        _ body: JSONValue, id: String, now: Timestamp, project: String, owner: String?,
        modules: [String: ModuleDescriptor]
    ) throws -> ScheduledTask {
        try TaskInput(json: body, now: now, modules: modules).task(id: id, now: now, project: project, owner: owner, modules: modules)
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
            // A webhook sent back as the API showed it keeps its stored secret.
            task.notify = try r.value("notify").map {
                try NotifyPolicy.parse(NotifyPolicy.restoringSecrets(in: $0, from: task.notify), path: "notify").json
            }
        }
        // Params are checked against the module the task ends up with.
        if let descriptor = modules[task.module] {
            try descriptor.validate(params: task.params)
        }
    }
}


extension Schedule {
    /// Fires once, at `at`.
    public static func once(at: Timestamp) -> Schedule { Schedule(.once(at: at)) }

    /// Fires every `seconds` (first at `startAt`, else one interval after creation).
    public static func every(seconds: Int64, startAt: Timestamp? = nil) -> Schedule {
        Schedule(.interval(everySec: seconds), startAt: startAt)
    }

    /// Fires on a cron expression (five fields, or six with seconds first) in a time zone,
    /// checked as the API checks `{"type": "cron", …}` (errors name `schedule.expression`).
    public static func cron(_ expression: String, timezone: String = "UTC") throws -> Schedule {
        try parse(.object(["type": .string("cron"), "expression": .string(expression), "timezone": .string(timezone)]), now: Timestamp(microseconds: 0))
    }
}

extension JSONValue {
    /// A Swift value as JSON: a module's params from a typed struct (`TaskInput.params`).
    public init(encoding value: some Encodable) throws {
        self = try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(value))
    }
}
