import OrreryCore
import OrreryEngine

/// `/admin` (admins only): tokens (create, shown once; revoke) and users (create, disable),
/// through the same `/v1/tokens` and `/v1/users` calls an API client makes.
struct AdminPage {
    let service: TaskService
    let ctx: PageContext

    func render() async throws -> String {
        let t = ctx.text
        try ctx.caller.require(.admin, to: "manage tokens and users")
        let tokens = try await service.store.listTokens()
        let users = try await service.store.listUsers()
        let roles = Role.allCases.map { "<option value=\"\($0.rawValue)\">\($0.rawValue)</option>" }.joined()
        let tokenRows = tokens.map { token in
            """
            <tr><td><code>\(esc(token.id))</code></td><td>\(esc(token.name))</td><td>\(esc(token.role))</td><td>\(esc(token.project))</td>
            <td>\(Layout.time(token.createdAt))</td><td>\(Layout.time(token.expiresAt))</td>
            <td>\(token.revokedAt == nil ? "<button type=\"button\" data-delete=\"\(esc(ctx.link("/v1/tokens/" + urlEncode(token.id))))\" aria-label=\"\(esc(t["Revoke"])) \(esc(token.name))\">\(esc(t["Revoke"]))</button>" : Layout.time(token.revokedAt))</td></tr>
            """
        }.joined()
        let userRows = users.map { user in
            """
            <tr><td>\(esc(user.name))</td><td>\(esc(user.role))</td><td>\(esc(user.project))</td><td>\(Layout.time(user.createdAt))</td>
            <td>\(user.disabledAt == nil ? "<button type=\"button\" data-delete=\"\(esc(ctx.link("/v1/users/" + urlEncode(user.id))))\" aria-label=\"\(esc(t["Disable"])) \(esc(user.name))\">\(esc(t["Disable"]))</button>" : Layout.time(user.disabledAt))</td></tr>
            """
        }.joined()
        let body = """
            <h1>\(esc(t["Tokens & users"]))</h1>
            <p class="field-error" id="action-error" role="alert" hidden></p>
            <section class="card" aria-labelledby="tokens-h">
            <h2 id="tokens-h">\(esc(t["Tokens"]))</h2>
            <form class="inline-form" data-json-form data-api="\(esc(ctx.link("/v1/tokens")))" id="token-form" novalidate>
            <div class="field" data-field="name"><label for="tk-name">\(esc(t["Name"]))</label><input id="tk-name" name="name"></div>
            <div class="field" data-field="role"><label for="tk-role">\(esc(t["Role"]))</label><select id="tk-role" name="role">\(roles)</select></div>
            <div class="field" data-field="project"><label for="tk-project">\(esc(t["Project"]))</label><input id="tk-project" name="project" placeholder="default"></div>
            <div class="field" data-field="user"><label for="tk-user">User</label><input id="tk-user" name="user"></div>
            <p class="field-error" id="form-error" role="alert" hidden></p>
            <button type="submit">\(esc(t["Create token"]))</button>
            <output id="new-token" class="secret" hidden></output>
            </form>
            <div class="table-wrap"><table><caption class="visually-hidden">\(esc(t["Tokens"]))</caption>
            <thead><tr><th scope="col">id</th><th scope="col">\(esc(t["Name"]))</th><th scope="col">\(esc(t["Role"]))</th><th scope="col">\(esc(t["Project"]))</th><th scope="col">created</th><th scope="col">expires</th><th scope="col">revoked</th></tr></thead>
            <tbody>\(tokenRows)</tbody></table></div>
            </section>
            <section class="card" aria-labelledby="users-h">
            <h2 id="users-h">\(esc(t["Users"]))</h2>
            <form class="inline-form" data-json-form data-api="\(esc(ctx.link("/v1/users")))" id="user-form" novalidate>
            <div class="field" data-field="name"><label for="us-name">\(esc(t["Name"]))</label><input id="us-name" name="name" required></div>
            <div class="field" data-field="role"><label for="us-role">\(esc(t["Role"]))</label><select id="us-role" name="role">\(roles)</select></div>
            <div class="field" data-field="project"><label for="us-project">\(esc(t["Project"]))</label><input id="us-project" name="project" placeholder="default"></div>
            <p class="field-error" id="form-error-users" role="alert" hidden></p>
            <button type="submit">\(esc(t["Create user"]))</button>
            </form>
            <div class="table-wrap"><table><caption class="visually-hidden">\(esc(t["Users"]))</caption>
            <thead><tr><th scope="col">\(esc(t["Name"]))</th><th scope="col">\(esc(t["Role"]))</th><th scope="col">\(esc(t["Project"]))</th><th scope="col">created</th><th scope="col">disabled</th></tr></thead>
            <tbody>\(userRows)</tbody></table></div>
            </section>
            """
        return Layout.page(ctx, title: t["Tokens & users"], active: "admin", body: body)
    }
}
