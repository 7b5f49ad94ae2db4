/// A batch of run outcomes as a store writes them, decided once for both stores: the runs
/// handed back (scheduled again) and the runs that end, each with its status, result and
/// error. Every end is checked against the status model before anything is written.
public struct ResolvedOutcomes: Sendable {
    public struct Ending: Sendable {
        public var runID: String
        public var status: RunStatus
        public var at: Timestamp
        public var result: JSONValue?
        public var error: RunError?
    }

    public private(set) var handedBack: [String] = []
    public private(set) var endings: [Ending] = []

    public init(_ outcomes: [RunOutcome]) throws {
        for outcome in outcomes {
            let (status, result, error) = try outcome.end.resolved()
            if status == .scheduled {
                handedBack.append(outcome.runID)
            } else {
                endings.append(Ending(runID: outcome.runID, status: status, at: outcome.at, result: result, error: error))
            }
        }
    }

    /// The errors the failed runs ended with, by run id (a run end's event carries its error).
    public var errors: [String: RunError] {
        endings.reduce(into: [:]) { errors, ending in
            if let error = ending.error { errors[ending.runID] = error }
        }
    }
}

/// A run that has just ended, as what follows an end needs it: run-end events are looked up
/// by project and status, notifications by task.
public struct RunEndRef: Sendable, Equatable {
    public var id: String
    public var taskID: String
    public var project: String
    public var status: RunStatus

    public init(id: String, taskID: String, project: String, status: RunStatus) {
        self.id = id
        self.taskID = taskID
        self.project = project
        self.status = status
    }

    /// `run` recorded with `status` (a skip at claim time, a cancel before it started).
    public init(_ run: TaskRun, status: RunStatus) {
        self.init(id: run.id, taskID: run.taskID, project: run.project, status: status)
    }
}

extension Collection<RunEndRef> {
    /// The distinct projects and event types (`run.<status>`) of these ends. A store asks its
    /// trigger-task index about these first, one seek each, and reads the runs only of the
    /// ends some trigger task waits for: most batches have none.
    public var eventKeys: [(project: String, type: String)] {
        var seen = Set<[String]>()
        return compactMap { end in
            let key = (project: end.project, type: EventChain.runEndType(end.status))
            return seen.insert([key.project, key.type]).inserted ? key : nil
        }
    }

    /// These ends whose project and event type is among `keys`.
    public func with(eventKeys keys: some Sequence<(project: String, type: String)>) -> [RunEndRef] {
        let wanted = Set(keys.map { [$0.project, $0.type] })
        return filter { wanted.contains([$0.project, EventChain.runEndType($0.status)]) }
    }

    /// These ends whose task is among `taskIDs`.
    public func with(taskIDs: Set<String>) -> [RunEndRef] { filter { taskIDs.contains($0.taskID) } }
}

/// A run a store ended (its row was still ours), as the ending statement returns it.
public struct EndedRun: Sendable, Equatable {
    public var id: String
    public var taskID: String
    public var project: String
    public var status: RunStatus

    public init(id: String, taskID: String, project: String, status: RunStatus) {
        self.id = id
        self.taskID = taskID
        self.project = project
        self.status = status
    }

    public var ref: RunEndRef { RunEndRef(id: id, taskID: taskID, project: project, status: status) }
}
