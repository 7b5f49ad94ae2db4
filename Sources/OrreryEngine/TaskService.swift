public import OrreryCore

/// The operations on tasks and runs that the HTTP API, the CLI and embedding applications
/// share: validation, identity, time, and waking the engine when something new is due.
public struct TaskService: Sendable {
    public let store: any OrreryStore
    public let engine: Engine
    public let clock: any EngineClock
    /// Built-in, registered and external modules (issue 13).
    public var modules: ModuleRegistry { engine.catalogue }
    let ids = IDGenerator()
    /// Who presented tokens speak for, cached (run it as a service beside the server so other
    /// nodes' revocations reach it); forget them after changing tokens.
    public let tokenGrants: TokenGrants

    public init(store: any OrreryStore, engine: Engine) {
        self.store = store
        self.engine = engine
        self.clock = engine.clock
        self.tokenGrants = TokenGrants(store: store)
    }

    /// Who is asking: a token's (or its user's) name, its project and its role.
    public struct Caller: Sendable {
        public var name: String
        public var project: String
        public var role: Role
        /// Rights beyond the role (`shell`); admins hold every right.
        public var rights: Set<String>
        public init(name: String, project: String, role: Role = .admin, rights: Set<String> = []) {
            self.name = name
            self.project = project
            self.role = role
            self.rights = rights
        }

        /// The project this caller's reads and writes are confined to; nil for admins, who
        /// see every project (SPEC §6).
        public var scope: String? { role == .admin ? nil : project }

        /// Throws `.forbidden` unless the caller's role is at least `role`.
        public func require(_ role: Role, to action: String) throws {
            guard self.role >= role else {
                throw OrreryError(.forbidden, "a \(self.role.rawValue) token cannot \(action); it needs the \(role.rawValue) role")
            }
        }
    }

    /// Creates a task from Swift values (an embedding application's way; the HTTP layer
    /// decodes its JSON into a `TaskInput` first).
    public func createTask(_ input: TaskInput, by caller: Caller) async throws -> ScheduledTask {
        try await createTask(input, by: caller, idempotency: nil).task
    }

    /// Creates a task; with an `Idempotency-Key` (and a digest of the request), a repeated
    /// request returns the task the first one created (`replayed`) instead of a second task.
    public func createTask(
        _ input: TaskInput, by caller: Caller, idempotency: (key: String, requestHash: String)?
    ) async throws -> (task: ScheduledTask, replayed: Bool) {
        try caller.require(.operator, to: "create tasks")
        let now = clock.now()
        let project = try project(named: input.project, for: caller)
        let task = try input.task(id: ids.make(at: now), now: now, project: project, owner: caller.name, modules: modules.descriptors)
        try requireRight(for: task.module, caller)
        try await validateFollowedTask(task)
        let firstRun = task.firstRun(now: now, id: ids.make(at: now))
        let result: (task: ScheduledTask, replayed: Bool)
        if let idempotency {
            let key = IdempotencyKey(project: project, key: idempotency.key, requestHash: idempotency.requestHash, createdAt: now)
            result = try await store.createTask(task, firstRun: firstRun, idempotencyKey: key)
        } else {
            result = (try await store.createTasks([(task, firstRun)])[0], false)
        }
        if !result.replayed { engine.wake() }
        return result
    }

    /// Creates several tasks all or nothing: every input is checked (fields, project, the
    /// module's right, a followed task) before any is stored, then all go in one transaction.
    /// An error names the failing input's index (`[2].module`).
    public func createTasks(_ inputs: [TaskInput], by caller: Caller) async throws -> [ScheduledTask] {
        try caller.require(.operator, to: "create tasks")
        let now = clock.now()
        var made: [(task: ScheduledTask, firstRun: TaskRun?)] = []
        for (i, input) in inputs.enumerated() {
            do {
                let project = try project(named: input.project, for: caller)
                let task = try input.task(id: ids.make(at: now), now: now, project: project, owner: caller.name, modules: modules.descriptors)
                try requireRight(for: task.module, caller)
                try await validateFollowedTask(task)
                made.append((task, task.firstRun(now: now, id: ids.make(at: now))))
            } catch var error as OrreryError {
                error.field = "[\(i)]" + (error.field.map { "." + $0 } ?? "")
                throw error
            }
        }
        guard !made.isEmpty else { return [] }
        let stored = try await store.createTasks(made)
        engine.wake()
        return stored
    }

    /// The project a new task goes to: the one named when an admin names one, otherwise the
    /// caller's own. Others may name only their own project.
    func project(named name: String?, for caller: Caller) throws -> String {
        guard let name else { return caller.project }
        try Self.requireProjectName(name)
        guard caller.role == .admin || name == caller.project else {
            throw OrreryError(.forbidden, "a \(caller.role.rawValue) token of project \"\(caller.project)\" cannot create tasks in another project", field: "project")
        }
        return name
    }

    public static func isValidProjectName(_ name: String) -> Bool {
        (1...100).contains(name.count) && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }
    }

    /// Throws the error naming `project` unless `name` is a valid project name.
    public static func requireProjectName(_ name: String) throws {
        guard isValidProjectName(name) else { throw invalidProjectName }
    }

    static let invalidProjectName = OrreryError(
        .invalidField, "must be a project name (1-100 letters, digits, '-', '_' or '.')", field: "project")

    /// A module with a `required_right` (the shell module: `shell`) needs that right: admins
    /// hold every right, other tokens only those they were issued with (`rights`).
    func requireRight(for module: String, _ caller: Caller) throws {
        if let right = modules[module]?.descriptor.requiredRight, caller.role < .admin, !caller.rights.contains(right) {
            throw OrreryError(.forbidden, "module \"\(module)\" needs the \"\(right)\" right, which this token does not hold", field: "module")
        }
    }

    public func task(_ id: String, by caller: Caller) async throws -> ScheduledTask {
        try await store.task(id: id, project: caller.scope)
    }

    public func listTasks(_ filter: TaskFilter, by caller: Caller) async throws -> Page<ScheduledTask> {
        var filter = filter
        if let scope = caller.scope { filter.project = scope }
        return try await store.listTasks(filter)
    }

    /// Applies a partial update; `ifMatch` (the task version) makes a stale write a
    /// `.versionMismatch`. A changed schedule or `enabled` replaces the pending run.
    public func updateTask(_ id: String, with body: JSONValue, ifMatch: Int64?, by caller: Caller) async throws -> ScheduledTask {
        try caller.require(.operator, to: "change tasks")
        // The store compares versions inside its transaction (compare-and-swap). With
        // `If-Match` the client's version is the one compared; without it a write that lost a
        // race is applied again to the newer task, so a plain PATCH never fails for a race.
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await updateOnce(id, with: body, expectedVersion: ifMatch, by: caller)
            } catch let error as OrreryError where error.code == .versionMismatch && ifMatch == nil && attempt < 5 {
                continue
            }
        }
    }

    private func updateOnce(_ id: String, with body: JSONValue, expectedVersion: Int64?, by caller: Caller) async throws -> ScheduledTask {
        let current = try await store.task(id: id, project: caller.scope)
        if let expectedVersion, expectedVersion != current.version {  // also when the PATCH changes nothing
            throw OrreryError(.versionMismatch, "task \"\(id)\" is at version \(current.version), not \(expectedVersion)", field: "If-Match")
        }
        let now = clock.now()
        let updated = try TaskInput.update(current, with: body, now: now, modules: modules.descriptors)
        // Choosing what runs needs the module's right; pausing or rescheduling it does not.
        if updated.module != current.module || updated.params != current.params { try requireRight(for: updated.module, caller) }
        guard updated != current else { return current }
        if updated.schedule != current.schedule { try await validateFollowedTask(updated) }
        var reschedule: Reschedule?
        if updated.schedule != current.schedule || updated.enabled != current.enabled {
            reschedule = updated.rescheduledRun(now: now, id: ids.make(at: now)).map { .replace(with: $0) } ?? .clear
        }
        let stored = try await store.updateTask(updated, expectedVersion: expectedVersion ?? current.version, reschedule: reschedule)
        engine.wake()
        return stored
    }

    /// The task's next `count` fire times from now (with its jitter), as `upcoming` shows them.
    public func upcoming(_ id: String, count: Int, by caller: Caller) async throws -> [(at: Timestamp, offsetSeconds: Int)] {
        let task = try await store.task(id: id, project: caller.scope)
        let jitter = task.schedule.jitter(forTaskID: task.id)
        return task.schedule.upcoming(after: clock.now(), count: count, createdAt: task.createdAt)
            .map { (Timestamp(microseconds: $0.at.microseconds + jitter), $0.offsetSeconds) }
    }

    /// Validates a schedule without saving anything and previews it (`POST /v1/schedules/preview`):
    /// the same validation as task creation, so an invalid schedule is the same 400.
    public func preview(_ body: JSONValue) throws -> (items: [(at: Timestamp, offsetSeconds: Int)], description: String) {
        var r = try FieldReader(body)
        let now = clock.now()
        let schedule = try Schedule.parse(try r.required("schedule"), now: now)
        let from = try r.timestamp("from") ?? now
        let count = Int(try r.int("count", in: 1...1000) ?? 5)
        try r.rejectUnknownFields()
        return (schedule.upcoming(after: from, count: count, createdAt: from), schedule.summary)
    }

    public func setEnabled(_ id: String, _ enabled: Bool, by caller: Caller) async throws -> ScheduledTask {
        try await updateTask(id, with: .object(["enabled": .bool(enabled)]), ifMatch: nil, by: caller)
    }

    public func deleteTask(_ id: String, ifMatch: Int64? = nil, by caller: Caller) async throws {
        try caller.require(.operator, to: "delete tasks")
        try await store.deleteTask(id: id, project: caller.scope, expectedVersion: ifMatch, now: clock.now())
    }

    /// "Run now": a manual run, due at once.
    public func runNow(_ id: String, by caller: Caller) async throws -> TaskRun {
        try caller.require(.operator, to: "run tasks")
        let task = try await store.task(id: id, project: caller.scope)
        let now = clock.now()
        let run = try await store.insertRun(task.manualRun(id: ids.make(at: now), now: now, performedBy: caller.name))
        engine.wake()
        return run
    }

    public func run(_ id: String, by caller: Caller) async throws -> TaskRun {
        try await store.run(id: id, project: caller.scope)
    }

    public func listRuns(_ filter: RunFilter, by caller: Caller) async throws -> Page<TaskRun> {
        var filter = filter
        if let scope = caller.scope { filter.project = scope }
        return try await store.listRuns(filter)
    }

    public func logs(runID: String, offset: Int, limit: Int, by caller: Caller) async throws -> [LogEntry] {
        _ = try await store.run(id: runID, project: caller.scope)
        return try await store.logs(runID: runID, offset: offset, limit: limit)
    }

    /// Cancels a scheduled run at once; asks an active one to stop (it ends `canceled`),
    /// wherever it runs. Waits briefly (at most 5 s) for the end to be written, so the
    /// caller usually gets the run back `canceled` rather than still `active`.
    public func cancelRun(_ id: String, by caller: Caller) async throws -> TaskRun {
        try caller.require(.operator, to: "cancel runs")
        let run = try await store.cancel(runID: id, project: caller.scope, now: clock.now())
        engine.runsChanged()
        guard run.status == .active else { return run }
        // Here directly; on another node through the store's notice (and its next lease renewal).
        let local = engine.requestCancel(runID: id)
        let deadline = ContinuousClock.now.advanced(by: .seconds(5))
        while ContinuousClock.now < deadline {
            // A real-time wait for an answer, not a schedule: short here, longer for another node.
            // Not shorter than 5 ms: a 200 µs poll was thousands of store reads per second
            // competing with the very group commit that writes the end (PostgreSQL under load
            // took over 2 s to answer).
            try await Task.sleep(for: local ? .milliseconds(5) : .milliseconds(20))
            let current = try await store.run(id: id, project: caller.scope)
            if current.status.isFinished { return current }
        }
        return try await store.run(id: id, project: caller.scope)
    }

    public func dismissRun(_ id: String, by caller: Caller) async throws -> TaskRun {
        try caller.require(.operator, to: "dismiss runs")
        let run = try await store.dismiss(runID: id, project: caller.scope, by: caller.name, now: clock.now())
        engine.runsChanged()
        return run
    }
}
