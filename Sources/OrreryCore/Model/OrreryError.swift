/// An error Orrery reports: a stable machine `code`, a human `message`, and the offending
/// `field` when there is one (`schedule.every_sec`, `params.command`).
///
/// Stores translate their database's errors into these (no row → `.notFound`, unique
/// violation → `.conflict`); only the HTTP layer maps them to statuses.
public struct OrreryError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        public static let invalidJSON = Code("invalid_json")
        public static let invalidField = Code("invalid_field")
        public static let missingField = Code("missing_field")
        public static let unknownField = Code("unknown_field")
        public static let invalidSchedule = Code("invalid_schedule")
        public static let unknownModule = Code("unknown_module")
        public static let invalidParams = Code("invalid_params")
        public static let notFound = Code("not_found")
        public static let conflict = Code("conflict")
        public static let illegalTransition = Code("illegal_transition")
        public static let versionMismatch = Code("version_mismatch")
        public static let unauthorized = Code("unauthorized")
        public static let forbidden = Code("forbidden")
        public static let bodyTooLarge = Code("body_too_large")
        public static let unavailable = Code("unavailable")
        /// The store's disk is full: nothing was written; retry when space returns.
        public static let storageFull = Code("storage_full")
        public static let `internal` = Code("internal")
    }

    public var code: Code
    public var message: String
    public var field: String?

    public init(_ code: Code, _ message: String, field: String? = nil) {
        self.code = code
        self.message = message
        self.field = field
    }

    public var description: String {
        field.map { "\($0): \(message)" } ?? message
    }

    public static func notFound(_ what: String, _ id: String) -> OrreryError {
        OrreryError(.notFound, "\(what) \"\(id)\" does not exist")
    }
}
