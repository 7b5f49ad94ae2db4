import HTTPTypes
import Hummingbird
import OrreryCore
import OrreryEngine

/// Seed 000, Synapse's admin API: `GET /_synapse/admin/v1/scheduled_tasks`, a read-only view
/// of runs (Synapse's *scheduled tasks*) in every project.
///
/// - Admin only (a Synapse server admin): other valid tokens get 403 `M_FORBIDDEN`. The token
///   comes from `Authorization: Bearer` or `?access_token=` (the header wins when both are given).
///   No token: 401 `M_MISSING_TOKEN`; an unknown, revoked or expired one: 401 `M_UNKNOWN_TOKEN`.
/// - Filters: `action_name` (the module), `resource_id`, `status` (one Synapse status word),
///   `max_timestamp` (milliseconds; runs whose `timestamp_ms` is strictly smaller).
/// - Status words (SPEC §2): native `canceled` is Synapse's `cancelled`; `skipped` is shown as
///   `complete` with `{"skipped": true}` as its result. Filtering on `complete` therefore also
///   returns skipped runs, and `cancelled` returns canceled ones.
/// - `timestamp_ms`: `scheduled_at` for a scheduled run, else the run's last change (`updated_at`).
/// - Choices where the document is silent: Synapse answers an unknown `status` with a 500 (its
///   `TaskStatus(...)` raises); Orrery answers 400 `M_INVALID_PARAM` naming the allowed words. A
///   non-integer `max_timestamp` is 400 `M_INVALID_PARAM`, as Synapse's `parse_integer` does.
///   Synapse does not page this list, so neither does the profile; dismissed runs and runs of
///   deleted tasks are listed too (Synapse has neither notion and keeps history until pruned).
struct SynapseProfile {
    let service: TaskService
    let authenticator: TokenAuthenticator
    let format = MatrixErrorFormat()
    var errors: ProfileErrors { ProfileErrors(owns: { $0.hasPrefix("/_synapse/") }, format: format) }

    static let statusWords: [String: [RunStatus]] = [
        "scheduled": [.scheduled], "active": [.active], "complete": [.complete, .skipped],
        "failed": [.failed], "cancelled": [.canceled],
    ]

    func add(to router: Router<OrreryRequestContext>) {
        let group = router.group("_synapse/admin/v1")
        group.get("scheduled_tasks") { request, _ in
            let caller = try await authenticator.caller(
                TokenAuthenticator.bearerToken(request) ?? request.uri.queryParameters["access_token"].map(String.init),
                missing: ProfileFailure(status: .unauthorized, code: "M_MISSING_TOKEN", message: "Missing access token."),
                invalid: ProfileFailure(status: .unauthorized, code: "M_UNKNOWN_TOKEN", message: "Invalid access token passed."))
            guard caller.role == .admin else {
                throw ProfileFailure(status: .forbidden, code: "M_FORBIDDEN", message: "You are not a server admin")
            }
            let filter = try runFilter(Query(request))
            let runs = try await service.everyRun(filter, by: caller)
            return json(.object(["scheduled_tasks": .array(runs.map(Self.scheduledTask))]))
        }
    }

    private func runFilter(_ q: Query) throws -> RunFilter {
        var filter = RunFilter()
        filter.module = q.string("action_name")
        filter.resourceID = q.string("resource_id")
        if let word = q.string("status") {
            guard let statuses = Self.statusWords[word] else {
                throw ProfileFailure(
                    status: .badRequest, code: "M_INVALID_PARAM",
                    message: "Query parameter \"status\" must be one of \(Self.statusWords.keys.sorted().joined(separator: ", ")), not \"\(word)\"")
            }
            filter.statuses = statuses
        }
        if let text = q.string("max_timestamp") {
            guard let ms = Int64(text), ms >= 0, ms <= Int64.max / 1_000 else {
                throw ProfileFailure(status: .badRequest, code: "M_INVALID_PARAM", message: "Query parameter \"max_timestamp\" must be an integer.")
            }
            filter.timestampBefore = Timestamp(microseconds: ms * 1_000)
        }
        filter.includeDismissed = true
        return filter
    }

    /// One run as Synapse shows a scheduled task.
    static func scheduledTask(_ run: TaskRun) -> JSONValue {
        let status = switch run.status {
        case .scheduled: "scheduled"
        case .active: "active"
        case .complete, .skipped: "complete"
        case .failed: "failed"
        case .canceled: "cancelled"
        }
        let timestamp = run.status == .scheduled ? run.scheduledAt : run.updatedAt
        let result = run.status == .skipped ? .object(["skipped": .bool(true)]) : (run.result ?? .null)
        return .object([
            "id": .string(run.id), "action": .string(run.module), "status": .string(status),
            "timestamp_ms": .int(timestamp.microseconds / 1_000),
            "resource_id": run.resourceID.map(JSONValue.string) ?? .null, "result": result,
            "error": run.error.map { .string($0.message) } ?? .null,
        ])
    }
}

/// Matrix errors: `{"errcode": "M_…", "error": "…"}` with Synapse's codes.
struct MatrixErrorFormat: ProfileErrorFormat {
    func code(for status: HTTPResponse.Status, native: OrreryError.Code) -> String {
        switch status {
        case .unauthorized: "M_UNKNOWN_TOKEN"
        case .forbidden: "M_FORBIDDEN"
        case .notFound: native == .notFound ? "M_NOT_FOUND" : "M_UNRECOGNIZED"
        case .badRequest: native == .missingField ? "M_MISSING_PARAM" : "M_INVALID_PARAM"
        case .tooManyRequests: "M_LIMIT_EXCEEDED"
        default: "M_UNKNOWN"
        }
    }

    func body(_ failure: ProfileFailure) -> JSONValue {
        .object(["errcode": .string(failure.code), "error": .string(failure.message)])
    }
}
