/// Where a run is in its life (SPEC §2). Moves only along `RunStatus.allowedTransitions`.
public enum RunStatus: String, Sendable, Hashable, CaseIterable, Codable {
    case scheduled
    case active
    case complete
    case failed
    case canceled
    case skipped

    /// A finished run never changes status again.
    public var isFinished: Bool {
        switch self {
        case .scheduled, .active: false
        case .complete, .failed, .canceled, .skipped: true
        }
    }

    /// Every edge of the status machine; anything else is refused.
    public static let allowedTransitions: [RunStatus: Set<RunStatus>] = [
        .scheduled: [.active, .canceled, .skipped],
        // active → scheduled is a hand-back: lease released at shutdown, to run again.
        .active: [.complete, .failed, .canceled, .scheduled],
        .complete: [], .failed: [], .canceled: [], .skipped: [],
    ]

    /// The status machine, as one pure function: returns `next` or throws `illegalTransition`.
    public func transition(to next: RunStatus) throws -> RunStatus {
        guard RunStatus.allowedTransitions[self, default: []].contains(next) else {
            let reason = isFinished ? "the run already ended \(rawValue)" : "\(rawValue) cannot become \(next.rawValue)"
            throw OrreryError(.illegalTransition, reason, field: "status")
        }
        return next
    }

    /// The statuses from which `next` may be reached (used to guard SQL updates).
    public static func sources(of next: RunStatus) -> [RunStatus] {
        allCases.filter { allowedTransitions[$0, default: []].contains(next) }
    }
}

/// Why a run exists.
public enum RunTrigger: String, Sendable, Hashable, CaseIterable, Codable {
    case schedule, manual, event, retry
}
