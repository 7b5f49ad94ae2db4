import OrreryCore
import OrreryEngine

/// `/tasks/new`: a form for a new task. The page's script builds the `POST /v1/tasks` body
/// from it and shows each problem next to the input whose `data-field` is the field the
/// API names (`schedule.expression`, `params.command`, …), or the closest enclosing one.
struct TaskFormPage {
    let service: TaskService
    let ctx: PageContext

    func renderNew() -> String {
        let t = ctx.text
        guard ctx.canOperate else {
            return Layout.page(ctx, title: t["Create task"], active: "tasks", body: "<h1>403</h1><p>A \(esc(ctx.caller.role.rawValue)) token cannot create tasks.</p>")
        }
        let modules = service.modules.descriptors.values.sorted { $0.name < $1.name }
        let moduleOptions = modules.map { "<option value=\"\(esc($0.name))\">\(esc($0.name)) — \(esc(t.pick($0.description)))</option>" }.joined()
        let types = ScheduleTypeWord.allCases.map { "<option value=\"\($0.rawValue)\"\($0 == .cron ? " selected" : "")>\($0.rawValue)</option>" }.joined()
        let body = """
            <h1>\(esc(t["Create task"]))</h1>
            <form class="card task-form" id="task-form" novalidate data-api="\(esc(ctx.link("/v1/tasks")))" data-after="\(esc(ctx.link("/tasks/")))">
            \(field("name", t["Name"], "<input id=\"tf-name\" name=\"name\" required maxlength=\"200\">"))
            \(field("module", t["Module"], "<select id=\"tf-module\" name=\"module\">\(moduleOptions)</select>"))
            \(field("params", t["Parameters"] + " (JSON)", "<textarea id=\"tf-params\" name=\"params\" rows=\"3\" spellcheck=\"false\">{}</textarea>"))
            <fieldset class="schedule"><legend>\(esc(t["Schedule"]))</legend>
            \(field("schedule.type", t["Type"], "<select id=\"tf-type\" name=\"schedule.type\">\(types)</select>"))
            \(field("schedule.expression", "Cron", "<input id=\"tf-expression\" name=\"schedule.expression\" placeholder=\"*/5 * * * *\" spellcheck=\"false\">", kinds: "cron"))
            \(field("schedule.every_sec", "Every (s)", "<input id=\"tf-every\" name=\"schedule.every_sec\" type=\"number\" min=\"1\" inputmode=\"numeric\">", kinds: "interval"))
            \(field("schedule.at", "At (RFC 3339)", "<input id=\"tf-at\" name=\"schedule.at\" placeholder=\"2026-12-01T09:00:00Z\">", kinds: "once"))
            \(field("schedule.event", "Event", "<input id=\"tf-event\" name=\"schedule.event\">", kinds: "trigger"))
            \(field("schedule.timezone", "Time zone", "<input id=\"tf-timezone\" name=\"schedule.timezone\" value=\"UTC\">", kinds: "cron calendar"))
            <p class="help" id="schedule-preview" aria-live="polite"></p>
            </fieldset>
            \(field("*", "More (JSON: timeout_sec, retry, labels, …)", "<textarea id=\"tf-more\" name=\"more\" rows=\"3\" spellcheck=\"false\">{}</textarea>"))
            <p class="field-error" id="form-error" role="alert" hidden></p>
            <div class="actions"><button type="submit" class="primary" id="create-task">\(esc(t["Create task"]))</button></div>
            </form>
            """
        return Layout.page(ctx, title: t["Create task"], active: "tasks", body: body)
    }

    /// One labelled input in a wrapper that names the API field its errors belong to.
    private func field(_ name: String, _ label: String, _ control: String, kinds: String? = nil) -> String {
        let id = control.split(separator: "\"").dropFirst().first.map(String.init) ?? name
        return """
            <div class="field" data-field="\(esc(name))"\(kinds.map { " data-kinds=\"\($0)\"" } ?? "")>
            <label for="\(esc(id))">\(esc(label))</label>
            \(control)
            </div>
            """
    }
}
