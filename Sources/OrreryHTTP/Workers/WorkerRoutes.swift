import Crypto
import Foundation
import Hummingbird
import OrreryCore
import OrreryEngine

/// The worker verbs (SPEC §4 "External workers", Appendix A): a program in any language claims
/// runs of the external modules its token serves, under a lease, heartbeats, appends log
/// entries, and completes or fails them.
///
/// Fencing: each claim gets a fresh random lease token; the runs it claimed are held by node
/// `worker:<name>/<digest of the token>`. Every verb writes through the store's ordinary
/// `record`/`renewLeases` verbs fenced by that node, so once a lapsed lease was rescued (the
/// run retried or failed `lease_expired`) the old token changes nothing and gets 409.
struct WorkerRoutes {
    let service: TaskService

    /// The paths a worker token may call; everything else is 403 for it.
    static func isWorkerVerb(_ request: Request) -> Bool {
        guard request.method == .post else { return false }
        let path = request.uri.path.split(separator: "/")
        if let v1 = path.firstIndex(of: "v1") {
            let rest = path[(v1 + 1)...]
            if rest.elementsEqual(["workers", "claim"]) { return true }
            if rest.count == 3, rest.first == "runs", ["heartbeat", "logs", "complete", "fail"].contains(rest.last!) { return true }
        }
        return false
    }

    var leaseDuration: Duration { service.engine.configuration.leaseDuration }
    var heartbeatSec: Int64 { max(1, leaseDuration.components.seconds / 3) }

    func add(to group: RouterGroup<OrreryRequestContext>) {
        group.post("workers/claim") { request, context in
            let caller = try context.requireCaller()
            try Self.requireWorker(caller)
            var r = try FieldReader(try await request.jsonBody(context: context))
            let worker = try r.requiredString("worker", maxLength: 100)
            guard Self.isValidWorkerName(worker) else {
                throw OrreryError(.invalidField, "must be 1-100 letters, digits, '-', '_' or '.'", field: "worker")
            }
            let served = caller.workerModules
            let modules = try Self.moduleList(r.value("modules"), field: "modules", maxCount: 100) ?? served.sorted()
            if let other = modules.first(where: { !served.contains($0) }) {
                throw OrreryError(.forbidden, "this worker token does not serve module \"\(other)\"", field: "modules")
            }
            guard !modules.isEmpty else { throw OrreryError(.invalidField, "must name at least one module", field: "modules") }
            let max = Int(try r.int("max", in: 1...100) ?? 1)
            let waitSec = try r.int("wait_sec", in: 0...30) ?? 0
            try r.rejectUnknownFields()
            let runs = try await claim(worker: worker, modules: modules, project: caller.project, max: max, waitSec: waitSec)
            return json(.object(["runs": .array(runs)]))
        }
        group.post("runs/:id/heartbeat") { request, context in
            let caller = try context.requireCaller()
            try Self.requireWorker(caller)
            let id = try context.parameters.require("id")
            var r = try FieldReader(try await request.jsonBody(context: context))
            let lease = try Self.lease(&r)
            var progress: RunProgress?
            if var p = try r.object("progress") {
                let percent: Double? = try p.value("percent").map { v in
                    let number: Double? = switch v {
                    case .int(let n): Double(n)
                    case .double(let d): d
                    default: nil
                    }
                    guard let d = number, (0...100).contains(d) else {
                        throw OrreryError(.invalidField, "must be a number in 0-100", field: "progress.percent")
                    }
                    return d
                }
                progress = RunProgress(percent: percent, message: try p.string("message", maxLength: 2000))
                try p.rejectUnknownFields()
            }
            try r.rejectUnknownFields()
            return json(try await heartbeat(runID: id, lease: lease, progress: progress, project: caller.project))
        }
        group.post("runs/:id/logs") { request, context in
            let caller = try context.requireCaller()
            try Self.requireWorker(caller)
            let id = try context.parameters.require("id")
            var r = try FieldReader(try await request.jsonBody(context: context))
            let lease = try Self.lease(&r)
            guard let list = try r.required("entries").arrayValue, (1...1000).contains(list.count) else {
                throw OrreryError(.invalidField, "must be a list of 1-1000 log entries", field: "entries")
            }
            let entries = try list.enumerated().map { i, item in
                var e = try FieldReader(item, path: "entries[\(i)]")
                let levelName = try e.string("level", maxLength: 20) ?? "info"
                guard let level = LogEntry.Level(rawValue: levelName) else {
                    throw OrreryError(.invalidField, "must be debug, info, warning or error", field: e.fieldPath("level"))
                }
                let message = try e.requiredString("msg", maxLength: 65_536)
                try e.rejectUnknownFields()
                return (level, message)
            }
            try r.rejectUnknownFields()
            try await appendLogs(runID: id, lease: lease, entries: entries, project: caller.project)
            return json(.object(["appended": .int(Int64(entries.count))]))
        }
        group.post("runs/:id/complete") { request, context in
            let caller = try context.requireCaller()
            try Self.requireWorker(caller)
            let id = try context.parameters.require("id")
            var r = try FieldReader(try await request.jsonBody(context: context))
            let lease = try Self.lease(&r)
            let result = r.value("result")
            try r.rejectUnknownFields()
            return json(try await end(runID: id, lease: lease, .complete(result: result), project: caller.project))
        }
        group.post("runs/:id/fail") { request, context in
            let caller = try context.requireCaller()
            try Self.requireWorker(caller)
            let id = try context.parameters.require("id")
            var r = try FieldReader(try await request.jsonBody(context: context))
            let lease = try Self.lease(&r)
            guard var e = try r.object("error") else { throw OrreryError(.missingField, "is required", field: "error") }
            let code = try e.requiredString("code", maxLength: 100)
            guard !code.isEmpty else { throw OrreryError(.invalidField, "must not be empty", field: "error.code") }
            let message = try e.string("message", maxLength: 10_000) ?? ""
            try e.rejectUnknownFields()
            try r.rejectUnknownFields()
            return json(try await end(runID: id, lease: lease, .failed(RunError(code: code, message: message)), project: caller.project))
        }
    }

    // MARK: The verbs

    func claim(worker: String, modules: [String], project: String, max: Int, waitSec: Int64) async throws -> [JSONValue] {
        let clock = service.clock
        let engine = service.engine
        let lease = Lease.make(worker: worker)
        let limits = ClaimLimits(onlyModules: modules, onlyProject: project)
        let deadline = clock.now().adding(seconds: waitSec)
        while true {
            let seen = engine.dueRuns.generation
            let now = clock.now()
            let leaseUntil = now.adding(leaseDuration)
            let claimed = try await service.store.claimDue(limit: max, now: now, node: lease.node, leaseUntil: leaseUntil, limits: limits)
            if !claimed.isEmpty {
                engine.runsChanged()
                // Other long-polls look again: this claim may have made a successor due earlier.
                engine.dueRuns.ring()
                for run in claimed { for old in run.replaces { engine.requestCancel(runID: old) } }
                return claimed.map { lease.json(for: $0, leaseUntil: leaseUntil, heartbeatSec: heartbeatSec) }
            }
            guard now < deadline else { return [] }
            let next = try await service.store.nextDueTime(limits: limits)
            if let next, next <= clock.now() { continue }
            await engine.dueRuns.wait(after: seen, until: min(next ?? deadline, deadline), clock: clock)
            if Task.isCancelled { return [] }
        }
    }

    func heartbeat(runID: String, lease: Lease, progress: RunProgress?, project: String) async throws -> JSONValue {
        let now = service.clock.now()
        let leaseUntil = now.adding(leaseDuration)
        let cancelAsked = try await service.store.renewLeases(node: lease.node, runIDs: [runID], until: leaseUntil).contains(runID)
        let run = try await held(runID, lease: lease, project: project)
        var cancelRequested = cancelAsked
        // A timeout (`timeout_sec`) of a worker's run: it fails `timeout` now and the worker
        // learns to stop through `cancel_requested`; its later complete gets 409.
        if let started = run.startedAt, let task = try? await service.store.task(id: run.taskID, project: run.project),
           let timeout = task.timeoutSec, now >= started.adding(seconds: timeout) {
            let outcome = RunOutcome(runID: runID, end: .failed(RunError(code: "timeout", message: "the run did not finish within timeout_sec (\(timeout) s)")), at: now)
            let summary = try await service.store.record(RecordBatch(outcomes: [outcome]), node: lease.node, now: now)
            ended(summary)
            cancelRequested = true
        } else if let progress {
            _ = try await service.store.record(RecordBatch(progress: [runID: progress]), node: lease.node, now: now)
            service.engine.runsChanged()
        }
        return .object(["lease_expires_at": .string(leaseUntil.rfc3339), "cancel_requested": .bool(cancelRequested)])
    }

    func appendLogs(runID: String, lease: Lease, entries: [(LogEntry.Level, String)], project: String) async throws {
        _ = try await held(runID, lease: lease, project: project)
        // Entries continue the run's log: count what is there (a worker's log is written by
        // its one holder, one request at a time).
        var base = 0
        while true {
            let page = try await service.store.logs(runID: runID, offset: base, limit: 1000).count
            base += page
            if page < 1000 { break }
        }
        let now = service.clock.now()
        let logs = entries.enumerated().map { i, entry in
            LogEntry(runID: runID, idx: Int64(base + i), level: entry.0, message: entry.1, timestamp: now)
        }
        _ = try await service.store.record(RecordBatch(logs: logs), node: lease.node, now: now)
        service.engine.runsChanged()
    }

    /// Completes or fails a held run (a failure follows the task's retry policy; a run whose
    /// cancel was asked ends `canceled`). Repeating the same end with the same token answers
    /// the same; any other end of the run is 409.
    func end(runID: String, lease: Lease, _ end: RunOutcome.End, project: String) async throws -> JSONValue {
        let now = service.clock.now()
        var end = end
        if case .failed = end,
           try await service.store.renewLeases(node: lease.node, runIDs: [runID], until: now.adding(leaseDuration)).contains(runID) {
            end = .canceled
        }
        let summary = try await service.store.record(RecordBatch(outcomes: [RunOutcome(runID: runID, end: end, at: now)]), node: lease.node, now: now)
        if summary.ended > 0 {
            ended(summary)
            let status: RunStatus = switch end {
            case .complete: .complete
            case .canceled: .canceled
            default: .failed
            }
            return .object(["id": .string(runID), "status": .string(status.rawValue), "retry_scheduled": .bool(summary.retriesScheduled > 0)])
        }
        let run = try await service.store.run(id: runID, project: project)
        let same: Bool = switch (end, run.status) {
        case (.complete, .complete): true
        case (.failed(let error), .failed): run.error?.code == error.code
        case (.canceled, .canceled), (.failed, .canceled): true
        default: false
        }
        guard run.node == lease.node, same else { throw Self.leaseLost(run) }
        return .object(["id": .string(runID), "status": .string(run.status.rawValue), "retry_scheduled": .bool(false)])
    }

    /// The run, when this lease still holds it; else 409 (404 for another project's run).
    private func held(_ runID: String, lease: Lease, project: String) async throws -> TaskRun {
        let run = try await service.store.run(id: runID, project: project)
        guard run.status == .active, run.node == lease.node else { throw Self.leaseLost(run) }
        return run
    }

    private func ended(_ summary: RecordSummary) {
        guard summary.ended > 0 else { return }
        // A retry may be due at once: the engine and long-polling workers look again.
        if summary.retriesScheduled > 0 { service.engine.wake() } else { service.engine.runsChanged() }
    }

    static func leaseLost(_ run: TaskRun) -> ProblemError {
        ProblemError(
            status: .conflict, code: "lease_lost", title: "Lease lost",
            detail: "this lease no longer holds run \"\(run.id)\" (it is \(run.status.rawValue)\(run.error.map { ", \($0.code)" } ?? ""))", field: "lease_token")
    }

    static func requireWorker(_ caller: TaskService.Caller) throws {
        guard caller.role == .worker else {
            throw OrreryError(.forbidden, "only worker tokens claim and finish runs (orrery token create --role worker --module NAME)")
        }
    }

    static func isValidWorkerName(_ name: String) -> Bool {
        (1...100).contains(name.count) && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }
    }

    static func lease(_ r: inout FieldReader) throws -> Lease {
        let text = try r.requiredString("lease_token", maxLength: 200)
        guard let lease = Lease(token: text) else { throw OrreryError(.invalidField, "is not a lease token", field: "lease_token") }
        return lease
    }

    /// A list of module names (`modules` of a claim or a worker token).
    static func moduleList(_ value: JSONValue?, field: String, maxCount: Int) throws -> [String]? {
        guard let value else { return nil }
        guard let list = value.arrayValue, list.count <= maxCount else {
            throw OrreryError(.invalidField, "must be a list of at most \(maxCount) module names", field: field)
        }
        return try list.map { item in
            guard let name = item.stringValue, ModuleDescriptor.isValidName(name) else {
                throw OrreryError(.invalidField, "must be module names, not \(item.jsonText)", field: field)
            }
            return name
        }
    }
}

/// A claim's lease token: `<worker>~<secret>`. The runs it claimed are held by node
/// `worker:<worker>/<first 16 hex digits of SHA-256(secret)>`; the secret itself is never stored.
struct Lease {
    let token: String
    let node: String

    init?(token: String) {
        let parts = token.split(separator: "~", maxSplits: 1)
        guard parts.count == 2, WorkerRoutes.isValidWorkerName(String(parts[0])), (20...100).contains(parts[1].count) else { return nil }
        self.token = token
        self.node = "worker:\(parts[0])/" + TokenHash.of(String(parts[1])).prefix(16)
    }

    static func make(worker: String) -> Lease {
        Lease(token: worker + "~" + TokenHash.generate().dropFirst(4))!
    }

    func json(for claimed: ClaimedRun, leaseUntil: Timestamp, heartbeatSec: Int64) -> JSONValue {
        guard case .object(var o) = claimed.run.json else { return claimed.run.json }
        o["params"] = (try? JSONValue.parse(Array(claimed.paramsJSON.utf8))) ?? .object([:])
        o["event"] = claimed.event.map { event in
            .object([
                "id": .string(event.id), "type": .string(event.type), "resource_id": event.resourceID.map(JSONValue.string) ?? .null,
                "payload": event.payload ?? .null,
            ])
        } ?? .null
        o["timeout_sec"] = claimed.timeoutSec.map(JSONValue.int) ?? .null
        o["lease_token"] = .string(token)
        o["lease_expires_at"] = .string(leaseUntil.rfc3339)
        o["heartbeat_sec"] = .int(heartbeatSec)
        return .object(o)
    }
}
