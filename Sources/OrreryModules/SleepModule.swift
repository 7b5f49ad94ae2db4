public import OrreryCore
public import OrreryEngine

/// `sleep`: waits `seconds` (cooperating with cancellation), reporting progress.
public struct SleepModule: TaskModule {
    public init() {}

    public let descriptor = ModuleDescriptor(
        name: "sleep",
        description: ["en-US": "Waits for a number of seconds, then completes.", "de-DE": "Wartet eine Anzahl Sekunden und ist dann fertig."],
        params: [
            ParamSpec(name: "seconds", type: .number, required: true,
                      description: ["en-US": "How long to wait.", "de-DE": "Wie lange gewartet wird."], position: 0),
        ])

    public func run(_ context: RunContext) async throws -> JSONValue? {
        let seconds: Double
        switch try context.params()["seconds"] {
        case .int(let i)?: seconds = Double(i)
        case .double(let d)?: seconds = d
        default: throw RunError(code: "invalid_params", message: "params.seconds must be a number")
        }
        guard seconds >= 0, seconds <= 86_400 * 7 else {
            throw RunError(code: "invalid_params", message: "params.seconds must be between 0 and 604800")
        }
        context.progress(percent: 0, message: "sleeping \(seconds) s")
        try await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
        context.progress(percent: 100, message: "done")
        return .object(["slept_sec": .double(seconds)])
    }
}
