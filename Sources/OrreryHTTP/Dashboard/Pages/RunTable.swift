import OrreryCore
import OrreryEngine

/// Task names for runs, looked up once per distinct task of a page (deleted tasks keep
/// their id only).
struct TaskNames {
    private var names: [String: String] = [:]

    static func load(_ runs: [TaskRun], service: TaskService, caller: TaskService.Caller) async -> TaskNames {
        var names = TaskNames()
        for id in Set(runs.map(\.taskID)) {
            if let task = try? await service.task(id, by: caller) { names.names[id] = task.name }
        }
        return names
    }

    subscript(_ id: String) -> String { names[id] ?? id }
}

/// The runs table shared by the runs list, the overview and the task page. Each row names
/// its run (`data-run-id`) so the page's script updates status and progress in place.
enum RunTable {
    static func render(_ runs: [TaskRun], names: TaskNames, ctx: PageContext, emptyTable: Bool = false, caption: String) -> String {
        let t = ctx.text
        guard !runs.isEmpty || emptyTable else { return "<p class=\"empty\">\(esc(t["Nothing here."]))</p>" }
        let rows = runs.map { run in
            """
            <tr data-run-id="\(esc(run.id))" data-status="\(run.status.rawValue)">
            <td><a href="\(esc(ctx.link("/runs/" + urlEncode(run.id))))">\(esc(names[run.taskID]))</a>\(run.attempt > 1 ? " <span class=\"muted\">#\(run.attempt)</span>" : "")</td>
            <td class="status-cell">\(Layout.status(run.status, t))</td>
            <td class="progress-cell">\(Layout.progress(run))</td>
            <td>\(esc(run.module))</td>
            <td>\(esc(t[run.trigger.rawValue]))</td>
            <td>\(Layout.time(run.scheduledAt, relative: run.status == .scheduled))</td>
            <td class="finished-cell">\(Layout.time(run.finishedAt))</td>
            </tr>
            """
        }.joined(separator: "\n")
        return """
            <div class="table-wrap"><table class="runs">
            <caption class="visually-hidden">\(esc(caption))</caption>
            <thead><tr><th scope="col">\(esc(t["Task"]))</th><th scope="col">\(esc(t["Status"]))</th><th scope="col">\(esc(t["Progress"]))</th><th scope="col">\(esc(t["Module"]))</th><th scope="col">\(esc(t["Trigger"]))</th><th scope="col">\(esc(t["Scheduled"]))</th><th scope="col">\(esc(t["Finished"]))</th></tr></thead>
            <tbody>
            \(rows)
            </tbody></table></div>
            """
    }
}
