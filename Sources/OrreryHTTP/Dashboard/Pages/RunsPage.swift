import Hummingbird
import OrreryCore
import OrreryEngine

/// `/runs`: runs filtered by several statuses, module, task, trigger, a window of scheduled
/// times and dismissal — all kept in the URL (a GET form), so a reload or a shared link shows
/// the same list — in keyset pages (`cursor`), which cost the same at any depth.
struct RunsPage {
    let service: TaskService
    let ctx: PageContext
    let request: Request

    /// The filters as the URL holds them.
    struct Filters {
        var statuses: [RunStatus] = []
        var task = "", module = "", trigger = "", after = "", before = "", dismissed = "no", cursor = ""

        init(_ request: Request) throws {
            let q = request.uri.queryParameters
            let words = q.getAll("status").flatMap { $0.split(separator: ",").map(String.init) }
            statuses = try words.map { word in
                guard let status = RunStatus(rawValue: word) else { throw OrreryError(.invalidField, "unknown status \"\(word)\"", field: "status") }
                return status
            }
            func one(_ name: String) -> String { q[name[...]].map(String.init) ?? "" }
            task = one("task"); module = one("module"); trigger = one("trigger"); after = one("after"); before = one("before")
            dismissed = one("dismissed").isEmpty ? "no" : one("dismissed"); cursor = one("cursor")
        }

        func runFilter() throws -> RunFilter {
            var filter = RunFilter()
            filter.statuses = statuses
            filter.taskID = task.isEmpty ? nil : task
            filter.module = module.isEmpty ? nil : module
            if !trigger.isEmpty {
                guard let value = RunTrigger(rawValue: trigger) else { throw OrreryError(.invalidField, "unknown trigger \"\(trigger)\"", field: "trigger") }
                filter.triggers = [value]
            }
            filter.scheduledAfter = try Self.time(after, "after")
            filter.scheduledBefore = try Self.time(before, "before")
            switch dismissed {
            case "yes": filter.dismissed = true
            case "any": filter.includeDismissed = true
            default: filter.dismissed = nil
            }
            filter.cursor = cursor.isEmpty ? nil : cursor
            filter.limit = 50
            // No total: counting a million matches costs more than the page (the keyset page
            // alone costs the same at any depth).
            filter.countTotal = false
            return filter
        }

        /// `datetime-local` inputs send `2026-12-01T09:30` (read as UTC); RFC 3339 works too.
        static func time(_ text: String, _ field: String) throws -> Timestamp? {
            guard !text.isEmpty else { return nil }
            for candidate in [text, text + "Z", text + ":00Z"] {
                if let t = Timestamp(rfc3339: candidate) { return t }
            }
            throw OrreryError(.invalidField, "\"\(text)\" is not a time", field: field)
        }

        /// The query of this listing without its cursor.
        var query: [(String, String)] {
            statuses.map { ("status", $0.rawValue) } + [
                ("task", task), ("module", module), ("trigger", trigger), ("after", after), ("before", before),
                ("dismissed", dismissed == "no" ? "" : dismissed),
            ]
        }

        /// What the live stream should follow for this listing.
        var streamQuery: [(String, String)] {
            [("logs", "false"), ("task_id", task), ("module", module), ("trigger", trigger),
             ("status", statuses.map(\.rawValue).joined(separator: ","))]
        }
    }

    func render() async throws -> String {
        let t = ctx.text
        let f = try Filters(request)
        let page = try await service.listRuns(try f.runFilter(), by: ctx.caller)
        let names = await TaskNames.load(page.items, service: service, caller: ctx.caller)
        let modules = service.modules.descriptors.keys.sorted()
        let statusBoxes = RunStatus.allCases.map { s in
            "<label class=\"check\"><input type=\"checkbox\" name=\"status\" value=\"\(s.rawValue)\"\(f.statuses.contains(s) ? " checked" : "")> \(esc(t[s.rawValue]))</label>"
        }.joined()
        let moduleOptions = (["" ] + modules).map { m in
            "<option value=\"\(esc(m))\"\(m == f.module ? " selected" : "")>\(esc(m.isEmpty ? t["Any"] : m))</option>"
        }.joined()
        let triggerOptions = ([""] + RunTrigger.allCases.map(\.rawValue)).map { v in
            "<option value=\"\(v)\"\(v == f.trigger ? " selected" : "")>\(esc(v.isEmpty ? t["Any"] : t[v]))</option>"
        }.joined()
        let dismissedOptions = [("no", "not dismissed"), ("yes", "dismissed only"), ("any", "any")].map { v, label in
            "<option value=\"\(v)\"\(v == f.dismissed ? " selected" : "")>\(esc(label))</option>"
        }.joined()
        let next = page.nextCursor.map { cursor in
            "<a class=\"button\" id=\"next-page\" rel=\"next\" href=\"\(esc(ctx.link("/runs", f.query + [("cursor", cursor)])))\">\(esc(t["Next page"])) →</a>"
        } ?? ""
        let first = f.cursor.isEmpty ? "" : "<a class=\"button\" href=\"\(esc(ctx.link("/runs", f.query)))\">← \(esc(t["First page"]))</a>"
        let body = """
            <h1>\(esc(t["Runs"]))</h1>
            <form method="get" action="\(esc(ctx.link("/runs")))" class="filters card" id="run-filters">
            <fieldset><legend>\(esc(t["Status"]))</legend>\(statusBoxes)</fieldset>
            <div class="fields">
            <label>\(esc(t["Module"])) <select name="module" id="f-module">\(moduleOptions)</select></label>
            <label>\(esc(t["Task"])) id <input name="task" id="f-task" value="\(esc(f.task))" size="14"></label>
            <label>\(esc(t["Trigger"])) <select name="trigger" id="f-trigger">\(triggerOptions)</select></label>
            <label>\(esc(t["Scheduled"])) \(esc(t["from"])) (UTC) <input type="datetime-local" name="after" id="f-after" value="\(esc(f.after))"></label>
            <label>\(esc(t["to"])) (UTC) <input type="datetime-local" name="before" id="f-before" value="\(esc(f.before))"></label>
            <label>\(esc(t["Dismissed"])) <select name="dismissed" id="f-dismissed">\(dismissedOptions)</select></label>
            </div>
            <div class="actions"><button type="submit" id="apply-filters">\(esc(t["Filter"]))</button> <a href="\(esc(ctx.link("/runs")))">\(esc(t["Clear"]))</a></div>
            </form>
            <p class="live-note" id="new-runs" hidden><a href="">New runs — reload</a></p>
            <div data-live-runs="\(esc(ctx.link("/v1/stream", f.streamQuery)))">
            \(RunTable.render(page.items, names: names, ctx: ctx, caption: t["Runs"]))
            </div>
            <nav class="pager" aria-label="pages">\(first) \(next)</nav>
            """
        return Layout.page(ctx, title: t["Runs"], active: "runs", body: body)
    }
}
