import Foundation
import OrreryCore
import OrreryEngine

/// `/tasks/{id}`: the task, its schedule explained with the next 10 fire times and their UTC
/// offsets (a change of offset — daylight saving — is marked), its recent runs, edit as JSON
/// (problems shown beside the editor with the field the API names), and delete.
struct TaskPage {
    let service: TaskService
    let ctx: PageContext
    let id: String

    func render() async throws -> String {
        let t = ctx.text
        let task = try await service.task(id, by: ctx.caller)
        let fires = (try? await service.upcoming(id, count: 10, by: ctx.caller)) ?? []
        var filter = RunFilter()
        filter.taskID = task.id
        filter.includeDismissed = true
        filter.limit = 20
        let runs = try await service.listRuns(filter, by: ctx.caller)
        let names = await TaskNames.load(Array(runs.items.prefix(1)), service: service, caller: ctx.caller)
        var previousOffset: Int?
        let fireRows = fires.map { fire -> String in
            let changed = previousOffset.map { $0 != fire.offsetSeconds } ?? false
            previousOffset = fire.offsetSeconds
            let offset = Self.offset(fire.offsetSeconds)
            return "<tr\(changed ? " class=\"offset-change\"" : "")><td>\(esc(fire.at.rfc3339(offsetSeconds: fire.offsetSeconds)))</td><td>UTC\(offset)\(changed ? " <span class=\"badge dst\">DST</span>" : "")</td><td>\(Layout.time(fire.at, relative: true))</td></tr>"
        }.joined()
        let api = ctx.link("/v1/tasks/" + urlEncode(task.id))
        let actions = ctx.canOperate ? """
            <div class="actions" id="task-actions">
            <button type="button" data-task-action="\(esc(api))/\(task.enabled ? "pause" : "resume")" id="toggle-task">\(esc(task.enabled ? t["Pause"] : t["Resume"]))</button>
            <button type="button" data-task-action="\(esc(api))/run" id="run-task" data-follow="\(esc(ctx.link("/runs/")))">\(esc(t["Run now"]))</button>
            <button type="button" id="delete-task" class="danger" aria-controls="delete-confirm">\(esc(t["Delete"]))…</button>
            </div>
            <div id="delete-confirm" class="confirm" hidden>
            <p>Delete “\(esc(task.name))”? Its run history stays readable.</p>
            <button type="button" class="danger" id="delete-confirmed" data-api="\(esc(api))" data-after="\(esc(ctx.link("/tasks")))">\(esc(t["Delete"]))</button>
            <button type="button" id="delete-cancel">\(esc(t["Cancel"]))</button>
            </div>
            <p class="field-error" id="action-error" role="alert" hidden></p>
            """ : ""
        let editor = ctx.canOperate ? """
            <section class="card" aria-labelledby="edit-h">
            <h2 id="edit-h">\(esc(t["Edit"])) (JSON)</h2>
            <form id="task-edit" data-api="\(esc(api))" data-version="\(task.version)" novalidate>
            <div class="field" data-field="*">
            <label for="task-json">PATCH \(esc(ctx.link("/v1/tasks/")))…</label>
            <textarea id="task-json" rows="14" spellcheck="false">\(esc(Self.editable(task).prettyJSON))</textarea>
            </div>
            <p class="field-error" id="form-error" role="alert" hidden></p>
            <div class="actions"><button type="submit" id="save-task" class="primary">\(esc(t["Save"]))</button></div>
            </form>
            </section>
            """ : ""
        let body = """
            <h1>\(esc(task.name)) \(task.enabled ? "" : "<span class=\"badge paused\">\(esc(t["Paused"]))</span>")</h1>
            <section class="card" id="task" data-task-id="\(esc(task.id))">
            <dl class="facts">
            <dt>\(esc(t["Schedule"]))</dt><dd id="schedule-summary">\(esc(task.schedule.summary))</dd>
            <dt>\(esc(t["Module"]))</dt><dd>\(esc(task.module))</dd>
            <dt>\(esc(t["Project"]))</dt><dd>\(esc(task.project))</dd>
            <dt>\(esc(t["Next fire"]))</dt><dd>\(task.enabled ? Layout.time(task.nextRunAt, relative: true) : "–")</dd>
            <dt>id</dt><dd><code>\(esc(task.id))</code> · version \(task.version)</dd>
            </dl>
            \(actions)
            </section>
            <section class="card" aria-labelledby="fires-h">
            <h2 id="fires-h">\(esc(t["Next fires"]))</h2>
            \(fires.isEmpty ? "<p class=\"empty\">\(esc(t["Nothing here."]))</p>" : "<div class=\"table-wrap\"><table class=\"fires\" id=\"fires\"><thead><tr><th scope=\"col\">Local</th><th scope=\"col\">Offset</th><th scope=\"col\">UTC</th></tr></thead><tbody>\(fireRows)</tbody></table></div>")
            </section>
            <section class="card" aria-labelledby="history-h">
            <h2 id="history-h">\(esc(t["Run history"])) <span class="count">\(runs.totalCount.map(String.init) ?? "")</span></h2>
            \(DurationChart.render(runs.items, text: t))
            <div data-live-runs="\(esc(ctx.link("/v1/stream", [("task_id", task.id), ("logs", "false")])))" data-append="true">
            \(RunTable.render(runs.items, names: names, ctx: ctx, emptyTable: true, caption: t["Run history"]))
            </div>
            <p><a href="\(esc(ctx.link("/runs", [("task", task.id), ("dismissed", "any")])))">\(esc(t["Runs"])) →</a></p>
            </section>
            \(editor)
            """
        return Layout.page(ctx, title: task.name, active: "tasks", body: body)
    }

    static func offset(_ seconds: Int) -> String {
        let sign = seconds < 0 ? "-" : "+"
        let a = abs(seconds)
        return String(format: "%@%02d:%02d", sign, a / 3600, (a % 3600) / 60)
    }

    /// The fields a PATCH may carry, as the task has them now (nulls left out).
    static func editable(_ task: ScheduledTask) -> JSONValue {
        guard case .object(let all) = task.json else { return task.json }
        let keys = ["name", "description", "module", "params", "resource_id", "labels", "schedule", "enabled", "queue",
                    "priority", "timeout_sec", "retry", "overlap", "misfire", "notify"]
        return .object(all.filter { keys.contains($0.key) && $0.value != .null })
    }
}
