import Foundation

/// The client's configuration file: named profiles of server and token, so one machine can
/// talk to several Orrery servers (`--profile prod`), as kubectl contexts do.
///
/// ```json
/// {"current_profile": "local",
///  "profiles": {
///    "local": {"url": "http://127.0.0.1:8080", "token_file": "/srv/orrery/orrery-data/admin.token"},
///    "prod":  {"url": "https://orrery.example.com", "token": "…"}}}
/// ```
/// Found at `ORRERY_CLIENT_CONFIG`, else `$XDG_CONFIG_HOME/orrery/config.json`, else
/// `~/.config/orrery/config.json`. A missing file is no error; a malformed one is (exit 78).
struct ClientConfig {
    struct Profile {
        var url: String?
        var token: String?
        var tokenFile: String?
    }

    var currentProfile: String?
    var profiles: [String: Profile] = [:]
    var path: String

    static func defaultPath(environment: [String: String]) -> String {
        if let path = environment["ORRERY_CLIENT_CONFIG"], !path.isEmpty { return path }
        let base = environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (NSHomeDirectory() as NSString).appendingPathComponent(".config")
        return (base as NSString).appendingPathComponent("orrery/config.json")
    }

    /// Reads the file at `path`; nil when there is none.
    static func load(path: String) throws -> ClientConfig? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ClientError(.config, "\(path): not a JSON object like {\"profiles\": {\"NAME\": {\"url\": …, \"token\": …}}}")
        }
        for key in object.keys where !["current_profile", "profiles"].contains(key) {
            throw ClientError(.config, "\(path): unknown key \"\(key)\" (known: current_profile, profiles)")
        }
        var config = ClientConfig(path: path)
        if let current = object["current_profile"] {
            guard let name = current as? String else { throw ClientError(.config, "\(path): current_profile must be a string") }
            config.currentProfile = name
        }
        guard let profiles = (object["profiles"] ?? [String: Any]()) as? [String: Any] else {
            throw ClientError(.config, "\(path): profiles must be an object of named profiles")
        }
        for (name, value) in profiles {
            guard let fields = value as? [String: Any] else { throw ClientError(.config, "\(path): profile \"\(name)\" must be an object") }
            var profile = Profile()
            for (key, value) in fields {
                guard let text = value as? String else { throw ClientError(.config, "\(path): profiles.\(name).\(key) must be a string") }
                switch key {
                case "url": profile.url = text
                case "token": profile.token = text
                case "token_file": profile.tokenFile = text
                default: throw ClientError(.config, "\(path): unknown key profiles.\(name).\(key) (known: url, token, token_file)")
                }
            }
            config.profiles[name] = profile
        }
        return config
    }
}
