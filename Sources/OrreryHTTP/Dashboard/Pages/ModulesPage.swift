import OrreryCore
import OrreryEngine

/// `/modules`: every module with its description and parameter schema in the reader's
/// language (English or German; the header's toggle switches).
struct ModulesPage {
    let service: TaskService
    let ctx: PageContext

    func render() -> String {
        let t = ctx.text
        let sections = service.modules.descriptors.values.sorted { $0.name < $1.name }.map { module in
            let params = module.params.sorted { $0.position < $1.position }.map { p in
                "<tr><td><code>\(esc(p.name))</code></td><td>\(esc(p.type.rawValue))</td><td>\(esc(p.required ? t["yes"] : t["no"]))</td><td>\(p.defaultValue.map { "<code>\(esc($0.jsonText))</code>" } ?? "–")</td><td>\(esc(t.pick(p.description)))</td></tr>"
            }.joined()
            return """
                <section class="card module" id="module-\(esc(module.name))" aria-labelledby="m-\(esc(module.name))">
                <h2 id="m-\(esc(module.name))"><code>\(esc(module.name))</code></h2>
                <p class="module-description" lang="\(t.language.rawValue)">\(esc(t.pick(module.description)))</p>
                \(module.requiredRight.map { "<p class=\"muted\">\(esc(t["Right needed"])): <code>\(esc($0))</code></p>" } ?? "")
                \(params.isEmpty ? "" : """
                <div class="table-wrap"><table><caption>\(esc(t["Parameters"]))</caption>
                <thead><tr><th scope="col">\(esc(t["Name"]))</th><th scope="col">\(esc(t["Type"]))</th><th scope="col">\(esc(t["Required"]))</th><th scope="col">\(esc(t["Default"]))</th><th scope="col">\(esc(t["Description"]))</th></tr></thead>
                <tbody>\(params)</tbody></table></div>
                """)
                </section>
                """
        }.joined(separator: "\n")
        return Layout.page(ctx, title: t["Modules"], active: "modules", body: "<h1>\(esc(t["Modules"]))</h1>\n" + sections)
    }
}
