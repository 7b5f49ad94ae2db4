import ArgumentParser
import Logging

/// How `orrery serve` logs (SPEC §9): `--log-format json|text`, `--log-level LEVEL`, also as
/// `ORRERY_LOG_FORMAT`/`ORRERY_LOG_LEVEL` and the configuration file's `log_format` and
/// `log_level`, in `Settings`' order. Logs go to standard error; standard output keeps the
/// lines people and scripts read (the listening address, a new admin token).
struct LogOptions: ParsableArguments {
    @Option(help: "json (one object per line) or text (env ORRERY_LOG_FORMAT; default text).")
    var logFormat: String?

    @Option(help: "trace, debug, info, notice, warning, error or critical (env ORRERY_LOG_LEVEL; default info).")
    var logLevel: String?

    enum Format: String, CaseIterable { case json, text }

    /// The format and level the settings choose; a bad value is refused by name.
    func resolve(_ settings: Settings) throws -> (format: Format, level: Logger.Level) {
        let formatText = try settings.string(logFormat, "log_format") ?? "text"
        guard let format = Format(rawValue: formatText) else {
            throw ValidationError("log-format must be json or text, not \"\(formatText)\"")
        }
        let levelText = try settings.string(logLevel, "log_level") ?? "info"
        guard let level = Logger.Level(rawValue: levelText) else {
            throw ValidationError("log-level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")), not \"\(levelText)\"")
        }
        return (format, level)
    }

    /// Installs the process's log handler (once, before any logger is made).
    static func bootstrap(format: Format, level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            switch format {
            case .json:
                return JSONLogHandler(label: label, logLevel: level)
            case .text:
                return TextLogHandler(label: label, logLevel: level)
            }
        }
    }
}
