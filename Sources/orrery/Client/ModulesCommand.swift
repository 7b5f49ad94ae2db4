import ArgumentParser
import Foundation
import OrreryCore

/// `orrery modules`: the kinds of work the server can run, with their parameters.
struct ModulesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "modules", abstract: "List the modules tasks can use and their parameters.", discussion: ExitStatus.summary)
    @OptionGroup var client: ClientOptions

    func run() async throws {
        try await runClient {
            let ctx = try client.context()
            let reply = try await ctx.api.get("/v1/modules")
            guard ctx.out.isTable else {
                ctx.out.printJSON(reply)
                return .ok
            }
            let language = Self.language(ProcessInfo.processInfo.environment)
            let rows = (reply.json["items"]?.arrayValue ?? []).map { m -> [Cell] in
                let params = (m["params"]?.arrayValue ?? []).map { p in
                    (p["name"]?.stringValue ?? "") + (p["required"] == .bool(true) ? "*" : "")
                }
                return [ctx.out.bold(m["name"]?.stringValue ?? ""), Cell(m["required_right"]?.stringValue ?? "-"),
                        Cell(params.joined(separator: ", ")), Cell(Self.localized(m["description"], language))]
            }
            ctx.out.table(["NAME", "RIGHT", "PARAMS (* required)", "DESCRIPTION"], rows, flexible: [2, 3])
            return .ok
        }
    }

    /// `de-DE` from `LANG=de_DE.UTF-8`; `en-US` when unset.
    static func language(_ environment: [String: String]) -> String {
        let lang = environment["LC_ALL"].flatMap { $0.isEmpty ? nil : $0 } ?? environment["LANG"] ?? ""
        let code = lang.split(separator: ".").first.map { $0.replacingOccurrences(of: "_", with: "-") } ?? ""
        return code.isEmpty || code == "C" || code == "POSIX" ? "en-US" : code
    }

    /// The text in `language`, else in the same language of another region, else English.
    static func localized(_ texts: JSONValue?, _ language: String) -> String {
        guard let texts = texts?.objectValue else { return "" }
        let prefix = language.split(separator: "-").first.map(String.init) ?? language
        return texts[language]?.stringValue
            ?? texts.first(where: { $0.key.hasPrefix(prefix + "-") })?.value.stringValue
            ?? texts["en-US"]?.stringValue ?? texts.values.first?.stringValue ?? ""
    }
}
