import ArgumentParser
import Foundation
import OrreryCore

/// `orrery events send`: tells the server something happened to a resource, firing the
/// trigger tasks that wait for it (`POST /v1/events`, SPEC Appendix A).
struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events", abstract: "Send events that fire trigger tasks.", subcommands: [Send.self])

    struct Send: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send one event (flags), or one or up to 100 (a JSON object or array: --file, - for standard input).",
            discussion: #"Example: orrery events send --type vm.start --resource-id vm-1 --payload '{"by":"ops"}'"# + "\n" + ExitStatus.summary)
        @OptionGroup var client: ClientOptions
        @Option(name: .customLong("type"), help: "The event's type, e.g. desktop.created.") var type: String?
        @Option(name: [.customLong("resource-id"), .customLong("resource")], help: "The resource it happened to.") var resourceID: String?
        @Option(help: "Details, as JSON (the module sees them).") var payload: String?
        @Option(help: "The event's own id (a repeated id is the same event).") var id: String?
        @Option(name: [.customShort("f"), .long], help: "Events as JSON; - reads standard input.") var file: String?
        @Option(help: "An Idempotency-Key for the request.") var idempotencyKey: String?

        func validate() throws {
            if file == nil, type == nil { throw ValidationError("give --type (and --resource-id, --payload), or events as JSON with --file") }
            if file != nil, type != nil || resourceID != nil || payload != nil || id != nil {
                throw ValidationError("--file gives the whole body; --type, --resource-id, --payload and --id go without it")
            }
            if let payload { _ = try Self.json(payload) }
        }

        func run() async throws {
            try await runClient {
                let ctx = try client.context()
                let reply: OrreryAPI.Reply
                do {
                    reply = try await ctx.api.post("/v1/events", body: try body(), headers: idempotencyKey.map { [("Idempotency-Key", $0)] } ?? [])
                } catch let error as ClientError where error.status == .notFound {
                    // No id in the path: a 404 means the server has no events endpoint (an older server).
                    throw ClientError(.notFound, "\(ctx.api.baseURL) does not accept events (POST /v1/events: \(error.message))")
                }
                if let answers = reply.json.arrayValue, ctx.out.isTable {
                    for answer in answers { say(Self.summary(answer)) }
                    return .ok
                }
                guard ctx.out.isTable else {
                    ctx.out.printJSON(reply)
                    return .ok
                }
                say(Self.summary(reply.json))
                return .ok
            }
        }

        static func summary(_ answer: JSONValue) -> String {
            let fired = answer["fired"]?.arrayValue?.compactMap(\.stringValue) ?? []
            return "event \(answer["id"]?.stringValue ?? "") accepted; fired \(fired.count) run\(fired.count == 1 ? "" : "s")"
                + (fired.isEmpty ? "" : ": " + fired.joined(separator: ", "))
        }

        static func json(_ text: String) throws -> JSONValue {
            guard let value = try? JSONValue.parse(Array(text.utf8)) else { throw ValidationError("--payload must be JSON, not \(text)") }
            return value
        }

        func body() throws -> JSONValue {
            if let file {
                let data = file == "-" ? FileHandle.standardInput.readDataToEndOfFile() : FileManager.default.contents(atPath: file)
                guard let data else { throw ClientError(.noInput, "--file: cannot read \(file)") }
                guard let json = try? JSONValue.parse(data), json.objectValue != nil || json.arrayValue != nil else {
                    throw ClientError(.refused, "--file \(file): not a JSON event object or array of events")
                }
                return json
            }
            var event: [String: JSONValue] = ["type": .string(type ?? "")]
            if let resourceID { event["resource_id"] = .string(resourceID) }
            if let payload { event["payload"] = try Self.json(payload) }
            if let id { event["id"] = .string(id) }
            return .object(event)
        }
    }
}
