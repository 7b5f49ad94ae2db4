import Hummingbird
import OrreryCore
import OrreryEngine

/// `/tasks`: tasks filtered by name, module, schedule type, enabled, label and (admins)
/// project, kept in the URL; each row with its schedule in words, next fire and the outcomes
/// of its last 20 runs; pause, resume and run now per row or over a selection.
struct TasksPage {
    let service: TaskService
    let ctx: PageContext
    let request: Request

    func render() async throws -> String {
        let t = ctx.text
        let q = request.uri.queryParameters
        func one(_ name: String) -> String { q[name[...]].map(String.init) ?? "" }
        let name = one("name"), module = one("module"), type = one("type"), enabled = one("enabled")
        let label = one("label"), project = ctx.isAdmin ? one("project") : "", cursor = one("cursor")
        var filter = TaskFilter()
        filter.nameContains = name.isEmpty ? nil : String(name.prefix(TaskInput.maxNameLength))
        filter.module = module.isEmpty ? nil : module
        if !type.isEmpty {
            guard ScheduleTypeWord(rawValue: type) != nil else { throw OrreryError(.invalidField, "unknown schedule type \"\(type)\"", field: "type") }
            filter.scheduleTypes = [type]
        }
        switch enabled {
        case "true": filter.enabled = true
        case "false": filter.enabled = false
        default: break
        }
        if !label.isEmpty {
            let parts = label.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { throw OrreryError(.invalidField, "must be key=value", field: "label") }
            filter.labels = [String(parts[0]): String(parts[1])]
        }
        if !project.isEmpty { filter.project = project }
        filter.cursor = cursor.isEmpty ? nil : cursor
        filter.limit = 50
        let page = try await service.listTasks(filter, by: ctx.caller)
        var strips: [String: [TaskRun]] = [:]
        for task in page.items {
            var runs = RunFilter()
            runs.taskID = task.id
            runs.statuses = [.complete, .failed, .canceled, .skipped]
            runs.includeDismissed = true
            runs.limit = 20
            runs.countTotal = false
            strips[task.id] = try await service.listRuns(runs, by: ctx.caller).items
        }
        let query: [(String, String)] = [("name", name), ("module", module), ("type", type), ("enabled", enabled), ("label", label), ("project", project)]
        let rows = page.items.map { row($0, strip: strips[$0.id] ?? []) }.joined(separator: "\n")
        let options = { (values: [(String, String)], selected: String) in
            values.map { "<option value=\"\(esc($0.0))\"\($0.0 == selected ? " selected" : "")>\(esc($0.1))</option>" }.joined()
        }
        let modules = [("", t["Any"])] + service.modules.descriptors.keys.sorted().map { ($0, $0) }
        let types = [("", t["Any"])] + ScheduleTypeWord.allCases.map { ($0.rawValue, $0.rawValue) }
        let bulk = ctx.canOperate ? """
            <div class="bulk" id="bulk-actions" role="group" aria-label="\(esc(t["Selected"]))">
            <span id="selected-count">0</span> \(esc(t["Selected"])):
            <button type="button" data-bulk="pause" disabled>\(esc(t["Pause"]))</button>
            <button type="button" data-bulk="resume" disabled>\(esc(t["Resume"]))</button>
            <button type="button" data-bulk="run" disabled>\(esc(t["Run now"]))</button>
            </div>
            """ : ""
        let body = """
            <h1>\(esc(t["Tasks"])) <span class="count">\(page.totalCount.map(String.init) ?? "")</span>
            \(ctx.canOperate ? "<a class=\"button primary\" id=\"new-task\" href=\"\(esc(ctx.link("/tasks/new")))\">\(esc(t["Create task"]))</a>" : "")</h1>
            <form method="get" action="\(esc(ctx.link("/tasks")))" class="filters card" id="task-filters">
            <div class="fields">
            <label>\(esc(t["Name"])) <input name="name" id="f-name" value="\(esc(name))" size="14"></label>
            <label>\(esc(t["Module"])) <select name="module" id="f-module">\(options(modules, module))</select></label>
            <label>\(esc(t["Schedule"])) <select name="type" id="f-type">\(options(types, type))</select></label>
            <label>\(esc(t["Enabled"])) <select name="enabled" id="f-enabled">\(options([("", t["Any"]), ("true", t["Enabled"]), ("false", t["Paused"])], enabled))</select></label>
            <label>\(esc(t["Label"])) <input name="label" id="f-label" value="\(esc(label))" placeholder="team=ops" size="12"></label>
            \(ctx.isAdmin ? "<label>\(esc(t["Project"])) <input name=\"project\" id=\"f-project\" value=\"\(esc(project))\" size=\"10\"></label>" : "")
            </div>
            <div class="actions"><button type="submit" id="apply-filters">\(esc(t["Filter"]))</button> <a href="\(esc(ctx.link("/tasks")))">\(esc(t["Clear"]))</a></div>
            </form>
            \(bulk)
            <p class="field-error" id="action-error" role="alert" hidden></p>
            \(page.items.isEmpty ? "<p class=\"empty\">\(esc(t["Nothing here."]))</p>" : """
            <div class="table-wrap"><table class="tasks" id="tasks-table">
            <caption class="visually-hidden">\(esc(t["Tasks"]))</caption>
            <thead><tr>\(ctx.canOperate ? "<th scope=\"col\"><input type=\"checkbox\" id=\"select-all\" aria-label=\"select all\"></th>" : "")<th scope="col">\(esc(t["Name"]))</th><th scope="col">\(esc(t["Schedule"]))</th><th scope="col">\(esc(t["Next fire"]))</th><th scope="col">\(esc(t["Last 20 runs"]))</th><th scope="col">\(esc(t["Module"]))</th>\(ctx.canOperate ? "<th scope=\"col\"><span class=\"visually-hidden\">actions</span></th>" : "")</tr></thead>
            <tbody>\(rows)</tbody></table></div>
            """)
            <nav class="pager" aria-label="pages">\(cursor.isEmpty ? "" : "<a class=\"button\" href=\"\(esc(ctx.link("/tasks", query)))\">← \(esc(t["First page"]))</a>") \(page.nextCursor.map { "<a class=\"button\" id=\"next-page\" rel=\"next\" href=\"\(esc(ctx.link("/tasks", query + [("cursor", $0)])))\">\(esc(t["Next page"])) →</a>" } ?? "")</nav>
            """
        return Layout.page(ctx, title: t["Tasks"], active: "tasks", body: body)
    }

    private func row(_ task: ScheduledTask, strip: [TaskRun]) -> String {
        let t = ctx.text
        let api = ctx.link("/v1/tasks/" + urlEncode(task.id))
        let actions = ctx.canOperate ? """
            <td class="row-actions">
            <button type="button" data-task-action="\(esc(api))/\(task.enabled ? "pause" : "resume")">\(esc(task.enabled ? t["Pause"] : t["Resume"]))</button>
            <button type="button" data-task-action="\(esc(api))/run">\(esc(t["Run now"]))</button>
            </td>
            """ : ""
        return """
            <tr data-task-id="\(esc(task.id))" data-api="\(esc(api))">
            \(ctx.canOperate ? "<td><input type=\"checkbox\" class=\"select\" aria-label=\"select \(esc(task.name))\"></td>" : "")
            <td><a href="\(esc(ctx.link("/tasks/" + urlEncode(task.id))))">\(esc(task.name))</a>\(task.enabled ? "" : " <span class=\"badge paused\">\(esc(t["Paused"]))</span>")\(ctx.isAdmin ? " <span class=\"muted\">\(esc(task.project))</span>" : "")</td>
            <td>\(esc(task.schedule.summary))</td>
            <td>\(task.enabled ? Layout.time(task.nextRunAt, relative: true) : "–")</td>
            <td>\(Self.strip(strip, t))</td>
            <td>\(esc(task.module))</td>
            \(actions)
            </tr>
            """
    }

    /// The last runs' outcomes, oldest first, as small squares; counted for screen readers.
    static func strip(_ runs: [TaskRun], _ t: DashboardText) -> String {
        let ordered = runs.reversed()
        let cells = ordered.map { "<span class=\"cell \($0.status.rawValue)\" title=\"\(esc(t[$0.status.rawValue])) \($0.finishedAt?.rfc3339 ?? "")\"></span>" }.joined()
        var counts: [RunStatus: Int] = [:]
        for run in runs { counts[run.status, default: 0] += 1 }
        let label = counts.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.value) \(t[$0.key.rawValue])" }.joined(separator: ", ")
        return "<span class=\"strip\" role=\"img\" aria-label=\"\(esc(label.isEmpty ? t["Nothing here."] : label))\">\(cells)</span>"
    }
}
