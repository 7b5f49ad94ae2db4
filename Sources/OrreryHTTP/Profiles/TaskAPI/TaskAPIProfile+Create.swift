import Foundation
import Hummingbird
import OrreryCore
import OrreryEngine

/// Seed 001's `POST /api/tasks`: the body is a JSON array of tasks in that API's shape
/// (`task_module`, `task_params`, `schedules`, `task_timeout_sec`, `description`,
/// `email.recipients[{email, problems_only}]`); every task is created, and the answer is
/// the document's: 200 with no content.
///
/// Choices the seed leaves open: a task's name is its description (else its module);
/// `schedules` holds at most one calendar entry (`[]` or absent: run once, now);
/// `email.recipients` becomes `notify.email`. Every task is read and checked before any is
/// created, so a bad one (400 naming `[i].field` in the seed's words) stores nothing. At
/// most 100 tasks per request; the operator role is needed.
extension TaskAPIProfile {
    static let maxTasksPerRequest = 100

    func addCreate(to group: RouterGroup<OrreryRequestContext>) {
        group.post("tasks") { request, context in
            let caller = try await format.bearerCaller(request, authenticator)
            try caller.require(.operator, to: "create tasks")
            let body = try await request.jsonBody(context: context)
            guard case .array(let items) = body else {
                throw OrreryError(.invalidField, "must be a JSON array of tasks, not \(body.typeName)")
            }
            guard items.count <= Self.maxTasksPerRequest else {
                throw OrreryError(.invalidField, "at most \(Self.maxTasksPerRequest) tasks per request, not \(items.count)")
            }
            let now = service.clock.now()
            var inputs: [TaskInput] = []
            for (i, item) in items.enumerated() {
                do {
                    inputs.append(try TaskInput(json: try Self.nativeTask(item), now: now, modules: service.modules.descriptors))
                } catch var error as OrreryError {
                    error.field = "[\(i)]" + (error.field.map { "." + Self.seedField($0) } ?? "")
                    throw error
                }
            }
            // All or nothing: a task needing a right the caller lacks stops the whole request.
            do {
                _ = try await service.createTasks(inputs, by: caller)
            } catch var error as OrreryError {
                if let field = error.field, let dot = field.firstIndex(of: ".") {
                    error.field = String(field[..<dot]) + "." + Self.seedField(String(field[field.index(after: dot)...]))
                }
                throw error
            }
            return Response(status: .ok)
        }
    }

    /// The native `POST /v1/tasks` body for one task of the seed's shape.
    static func nativeTask(_ item: JSONValue) throws -> JSONValue {
        var r = try FieldReader(item)
        let module = try r.requiredString("task_module", maxLength: 100)
        let description = try r.string("description", maxLength: 10_000)
        var native: [String: JSONValue] = ["module": .string(module)]
        let name = description.map { String($0.prefix(TaskInput.maxNameLength)) }.flatMap { $0.allSatisfy(\.isWhitespace) ? nil : $0 }
        native["name"] = .string(name ?? module)
        if let description { native["description"] = .string(description) }
        if let params = r.value("task_params") { native["params"] = params }
        if let timeout = r.value("task_timeout_sec") { native["timeout_sec"] = timeout }
        switch r.value("schedules") {
        case nil:
            native["schedule"] = .object(["type": .string("once")])
        case .array(let entries)?:
            guard entries.count <= 1 else {
                throw OrreryError(.invalidSchedule, "holds at most one schedule (Orrery tasks have one); create a task per schedule", field: "schedules")
            }
            if case .object(var entry)? = entries.first {
                entry["type"] = .string("calendar")
                native["schedule"] = .object(entry)
            } else if let entry = entries.first {
                throw OrreryError(.invalidSchedule, "must be an object, not \(entry.typeName)", field: "schedules[0]")
            } else {
                native["schedule"] = .object(["type": .string("once")])
            }
        case let other?:
            throw r.typeError("schedules", "an array", other)
        }
        if var email = try r.object("email") {
            var recipients: [JSONValue] = []
            if let list = email.value("recipients") {
                guard case .array(let entries) = list else { throw email.typeError("recipients", "an array", list) }
                for (i, entry) in entries.enumerated() {
                    var e = try FieldReader(entry, path: "email.recipients[\(i)]")
                    var recipient: [String: JSONValue] = ["address": .string(try e.requiredString("email", maxLength: 254))]
                    if let only = e.value("problems_only") { recipient["problems_only"] = only }
                    try e.rejectUnknownFields()
                    recipients.append(.object(recipient))
                }
            }
            try email.rejectUnknownFields()
            if !recipients.isEmpty { native["notify"] = .object(["email": .array(recipients)]) }
        }
        // Kept by the seed's API, not by Orrery: accepted and ignored.
        _ = r.value("state")
        _ = r.value("frontend_prefs")
        try r.rejectUnknownFields()
        return .object(native)
    }

    /// A native field name in the seed's words (`params.command` → `task_params.command`).
    static func seedField(_ field: String) -> String {
        let renames = [("params", "task_params"), ("timeout_sec", "task_timeout_sec"), ("module", "task_module"), ("schedule", "schedules[0]")]
        for (native, seed) in renames where field == native || field.hasPrefix(native + ".") {
            return seed + field.dropFirst(native.count)
        }
        if field.hasPrefix("notify.email[") {
            return "email.recipients[" + field.dropFirst("notify.email[".count).replacingOccurrences(of: "].address", with: "].email")
        }
        return field
    }
}
