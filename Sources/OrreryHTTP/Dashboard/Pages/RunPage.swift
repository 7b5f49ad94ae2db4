import OrreryCore
import OrreryEngine

/// `/runs/{id}`: one run's status, progress, result or error, every attempt of its retry
/// chain, and its log, which the page's script tails live through `/v1/stream`.
struct RunPage {
    let service: TaskService
    let ctx: PageContext
    let id: String

    func render() async throws -> String {
        let t = ctx.text
        let run = try await service.run(id, by: ctx.caller)
        let task = try? await service.task(run.taskID, by: ctx.caller)
        let logs = try await service.logs(runID: run.id, offset: 0, limit: 1000, by: ctx.caller)
        let chain = try await attempts(of: run)
        let actions = ctx.canOperate ? """
            <div class="actions" id="run-actions">
            <button type="button" id="cancel-run" data-action="\(esc(ctx.link("/v1/runs/\(urlEncode(run.id))/cancel")))"\(run.status.isFinished ? " hidden" : "")>\(esc(t["Cancel"]))</button>
            <button type="button" id="dismiss-run" data-action="\(esc(ctx.link("/v1/runs/\(urlEncode(run.id))/dismiss")))"\(run.dismissedAt != nil ? " hidden" : "")>\(esc(t["Dismiss"]))</button>
            </div>
            """ : ""
        let logLines = logs.map(Self.logLine).joined()
        let chainRows = chain.map { r in
            "<li\(r.id == run.id ? " aria-current=\"true\"" : "")><a href=\"\(esc(ctx.link("/runs/" + urlEncode(r.id))))\">#\(r.attempt)</a> \(Layout.status(r.status, t)) \(Layout.time(r.finishedAt ?? r.scheduledAt))\(r.error.map { " <span class=\"muted\">\(esc($0.code))</span>" } ?? "")</li>"
        }.joined()
        let body = """
            <h1>\(esc(t["Run"])) <a href="\(esc(ctx.link("/tasks/" + urlEncode(run.taskID))))">\(esc(task?.name ?? run.taskID))</a></h1>
            <section class="card run-detail" id="run" data-run-id="\(esc(run.id))" data-status="\(run.status.rawValue)"
             data-stream="\(esc(ctx.link("/v1/stream", [("run_id", run.id)])))" data-logs="\(esc(ctx.link("/v1/runs/\(urlEncode(run.id))/logs")))">
            <dl class="facts">
            <dt>\(esc(t["Status"]))</dt><dd class="status-cell" id="run-status">\(Layout.status(run.status, t))</dd>
            <dt>\(esc(t["Progress"]))</dt><dd class="progress-cell" id="run-progress">\(Layout.progress(run))</dd>
            <dt>\(esc(t["Module"]))</dt><dd>\(esc(run.module))</dd>
            <dt>\(esc(t["Trigger"]))</dt><dd>\(esc(t[run.trigger.rawValue]))\(run.performedBy.map { " · " + esc($0) } ?? "")</dd>
            <dt>\(esc(t["Scheduled"]))</dt><dd>\(Layout.time(run.scheduledAt))</dd>
            <dt>\(esc(t["Started"]))</dt><dd id="run-started">\(Layout.time(run.startedAt))</dd>
            <dt>\(esc(t["Finished"]))</dt><dd id="run-finished">\(Layout.time(run.finishedAt))</dd>
            <dt>id</dt><dd><code>\(esc(run.id))</code></dd>
            </dl>
            \(actions)
            <p class="field-error" id="action-error" role="alert" hidden></p>
            </section>
            <section class="card" aria-labelledby="outcome-h">
            <h2 id="outcome-h">\(esc(t["Result"])) / \(esc(t["Error"]))</h2>
            <pre id="run-result"\(run.result == nil ? " hidden" : "")>\(esc(run.result.map(\.jsonText) ?? ""))</pre>
            <p id="run-error" class="error-text"\(run.error == nil ? " hidden" : "")>\(run.error.map { "<code>\(esc($0.code))</code> \(esc($0.message))" } ?? "")</p>
            </section>
            <section class="card" aria-labelledby="chain-h">
            <h2 id="chain-h">\(esc(t["Attempts"]))</h2>
            <ol class="chain">\(chainRows)</ol>
            </section>
            <section class="card" aria-labelledby="log-h">
            <h2 id="log-h">\(esc(t["Log"])) <span class="live-dot" id="live-indicator" title="live" hidden>●</span></h2>
            <ol class="log" id="log" aria-live="polite" data-next-idx="\((logs.last?.idx ?? -1) + 1)">\(logLines)</ol>
            </section>
            """
        return Layout.page(ctx, title: task?.name ?? run.id, active: "runs", body: body)
    }

    static func logLine(_ entry: LogEntry) -> String {
        "<li data-idx=\"\(entry.idx)\" class=\"lvl-\(entry.level.rawValue)\"><time datetime=\"\(entry.timestamp.rfc3339)\">\(entry.timestamp.rfc3339.dropFirst(11).prefix(12))</time> <span class=\"lvl\">\(entry.level.rawValue)</span> <span class=\"msg\">\(esc(entry.message))</span></li>"
    }

    /// The retry chain around this run: a retry is a new run of the same task with the next
    /// attempt number, so the chain is read from the task's runs nearest to this one.
    func attempts(of run: TaskRun) async throws -> [TaskRun] {
        var filter = RunFilter()
        filter.taskID = run.taskID
        filter.includeDismissed = true
        filter.scheduledAfter = run.scheduledAt.adding(seconds: -7 * 86_400)
        filter.limit = 200
        filter.countTotal = false
        let runs = try await service.listRuns(filter, by: ctx.caller).items.sorted { $0.scheduledAt < $1.scheduledAt }
        guard let index = runs.firstIndex(where: { $0.id == run.id }) else { return [run] }
        var lower = index
        while lower > 0, runs[lower].trigger == .retry, runs[lower].attempt > 1,
              let previous = runs[..<lower].lastIndex(where: { $0.attempt == runs[lower].attempt - 1 }) {
            lower = previous
        }
        var chain = [runs[lower]]
        var current = runs[lower]
        while let following = runs[(runs.firstIndex(where: { $0.id == current.id })! + 1)...].first(where: { $0.trigger == .retry && $0.attempt == current.attempt + 1 }) {
            chain.append(following)
            current = following
        }
        return chain
    }
}
