import ArgumentParser
import Foundation

/// The options every client command shares: where the server is, the token, and how to print.
struct ClientOptions: ParsableArguments {
    @Option(help: "The server, e.g. http://127.0.0.1:8080 (env ORRERY_URL; or the profile's url).")
    var url: String?

    @Option(help: "An API token (env ORRERY_TOKEN; or the profile's; on the server machine ./orrery-data/admin.token).")
    var token: String?

    @Option(help: "A profile of the client configuration file (env ORRERY_PROFILE; file: ORRERY_CLIENT_CONFIG or ~/.config/orrery/config.json).")
    var profile: String?

    @Option(name: [.short, .customLong("output")], help: "table (for people), json (the API's JSON) or jsonl (one item per line).")
    var output: OutputFormat = .table

    @Option(help: "How tables show times: relative (3m ago) or iso (RFC 3339).")
    var timeFormat: TimeFormat = .relative

    /// The connection and printer these options describe.
    func context(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ClientContext {
        let connection = try resolve(environment: environment)
        return ClientContext(
            api: OrreryAPI(baseURL: connection.url, token: connection.token),
            out: Printer(format: output, timeFormat: timeFormat, environment: environment))
    }

    /// Server and token, in this order: the flags; a profile named by `--profile` or
    /// `ORRERY_PROFILE`; `ORRERY_URL`/`ORRERY_TOKEN`; the file's `current_profile`; then the
    /// local defaults (127.0.0.1:8080 and the admin token file `orrery serve` writes).
    func resolve(environment: [String: String]) throws -> (url: String, token: String?) {
        let configPath = ClientConfig.defaultPath(environment: environment)
        let config = try ClientConfig.load(path: configPath)
        let namedProfile = profile ?? environment["ORRERY_PROFILE"].flatMap { $0.isEmpty ? nil : $0 }
        var named: ClientConfig.Profile?
        if let namedProfile {
            guard let found = config?.profiles[namedProfile] else {
                let known = config?.profiles.keys.sorted().joined(separator: ", ") ?? ""
                throw ClientError(.config, "no profile \"\(namedProfile)\" in \(configPath)" + (known.isEmpty ? "" : " (profiles: \(known))"))
            }
            named = found
        }
        let current = config?.currentProfile.flatMap { config?.profiles[$0] }
        let url = url ?? named?.url ?? environment["ORRERY_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? current?.url ?? "http://127.0.0.1:8080"
        guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil else {
            throw ClientError(.usage, "--url \"\(url)\" is not an http:// or https:// URL")
        }
        var token = try token ?? Self.token(of: named) ?? environment["ORRERY_TOKEN"].flatMap { $0.isEmpty ? nil : $0 } ?? Self.token(of: current)
        if token == nil {
            // On the server machine: the admin token the first `orrery serve` wrote.
            let dataDir = environment["ORRERY_DATA_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "./orrery-data"
            let file = (dataDir as NSString).appendingPathComponent("admin.token")
            token = (try? String(contentsOfFile: file, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return (url.hasSuffix("/") ? String(url.dropLast()) : url, token)
    }

    private static func token(of profile: ClientConfig.Profile?) throws -> String? {
        guard let profile else { return nil }
        if let token = profile.token { return token }
        guard let file = profile.tokenFile else { return nil }
        let path = (file as NSString).expandingTildeInPath
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ClientError(.config, "cannot read the profile's token_file \(path)")
        }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// What a client command works with: the API and the printer.
struct ClientContext {
    let api: OrreryAPI
    let out: Printer
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json, jsonl
}

enum TimeFormat: String, ExpressibleByArgument, CaseIterable {
    case relative, iso
}
