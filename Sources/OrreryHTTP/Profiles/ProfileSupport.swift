import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import OrreryCore
import OrreryEngine

/// A refusal as a compatibility profile words it: the HTTP status, the profile's own error
/// code (`M_FORBIDDEN`, `WKS.00400001`, …) and a message for people.
struct ProfileFailure: Error, Sendable {
    var status: HTTPResponse.Status
    var code: String
    var message: String
}

/// How one profile writes errors: each seed system has its own body shape and codes.
protocol ProfileErrorFormat: Sendable {
    /// The profile's code for a native error that maps to `status`.
    func code(for status: HTTPResponse.Status, native: OrreryError.Code) -> String
    /// The body of an error response.
    func body(_ failure: ProfileFailure) -> JSONValue
}

extension ProfileErrorFormat {
    func failure(_ status: HTTPResponse.Status, _ native: OrreryError.Code, _ message: String) -> ProfileFailure {
        ProfileFailure(status: status, code: code(for: status, native: native), message: message)
    }

    func response(_ failure: ProfileFailure) -> Response {
        json(body(failure), status: failure.status)
    }

    /// Any error as this profile's failure: the status is the native API's for the same
    /// error (so a profile never disagrees with `/v1` on what went wrong), the wording the
    /// profile's. Internal errors are logged and never described to the client.
    func failure(from error: any Error, logger: Logger) -> ProfileFailure {
        switch error {
        case let failure as ProfileFailure:
            return failure
        case let error as OrreryError:
            let problem = ProblemError(error)
            if problem.status == .internalServerError {
                logger.error("internal error", metadata: ["error": "\(error)"])
                return self.failure(.internalServerError, .internal, problem.detail)
            }
            return self.failure(problem.status, error.code, error.description)
        case let problem as ProblemError:
            return self.failure(problem.status, OrreryError.Code(problem.code), problem.detail)
        case let error as HTTPError:
            return self.failure(error.status, OrreryError.Code("http_\(error.status.code)"), error.body ?? error.status.reasonPhrase)
        default:
            logger.error("unexpected error", metadata: ["error": "\(String(reflecting: error))"])
            return self.failure(.internalServerError, .internal, "an internal error occurred")
        }
    }
}

/// The paths a profile owns and the format its errors are written in.
struct ProfileErrors: Sendable {
    let owns: @Sendable (_ path: String) -> Bool
    let format: any ProfileErrorFormat
}

/// Answers every error on a profile's paths in that profile's format, including a path or
/// method the profile does not have (the router's 404), so a client of that API never sees
/// Orrery's problem+json. On the router, inside `ProblemMiddleware`, which then sees an
/// ordinary response; errors on other paths pass through untouched.
struct ProfileErrorMiddleware: RouterMiddleware {
    typealias Context = OrreryRequestContext
    let profiles: [ProfileErrors]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let path = request.uri.path
            guard let format = profiles.first(where: { $0.owns(path) })?.format else { throw error }
            return format.response(format.failure(from: error, logger: context.logger))
        }
    }
}

extension TokenAuthenticator {
    /// The caller a profile's token speaks for; the profile words the two refusals.
    func caller(_ token: String?, missing: ProfileFailure, invalid: ProfileFailure) async throws -> TaskService.Caller {
        switch try await check(token) {
        case .missing: throw missing
        case .invalid: throw invalid
        case .valid(let caller): return caller
        }
    }
}

extension ProfileErrorFormat {
    /// The caller of a profile that takes Orrery's own `Authorization: Bearer` tokens (001, 003),
    /// refused in this profile's format with the native API's 401 wording.
    func bearerCaller(_ request: Request, _ authenticator: TokenAuthenticator) async throws -> TaskService.Caller {
        try await authenticator.caller(
            TokenAuthenticator.bearerToken(request),
            missing: failure(.unauthorized, .unauthorized, "missing bearer token (Authorization: Bearer <token>)"),
            invalid: failure(.unauthorized, .unauthorized, "the bearer token is not valid"))
    }
}

extension TaskService.Caller {
    /// Whether a project named in a profile's path is one this caller may read: its own, or
    /// any for an admin (whose scope is every project).
    func mayRead(project: String) -> Bool { scope == nil || scope == project }
}

/// Every item of a listing, following its cursor: for profiles whose real API has no paging
/// (Synapse, 001's task list, 003), so a client sees everything it would have seen there.
/// Pages are large and uncounted: every one is read, so there is nothing to count.
extension TaskService {
    func everyTask(_ filter: TaskFilter, by caller: Caller) async throws -> [ScheduledTask] {
        var filter = filter
        filter.limit = 1000
        filter.countTotal = false
        return try await everyPage { cursor in
            filter.cursor = cursor
            return try await listTasks(filter, by: caller)
        }
    }

    func everyRun(_ filter: RunFilter, by caller: Caller) async throws -> [TaskRun] {
        var filter = filter
        filter.limit = 1000
        filter.countTotal = false
        return try await everyPage { cursor in
            filter.cursor = cursor
            return try await listRuns(filter, by: caller)
        }
    }

    private func everyPage<Item>(_ fetch: (_ cursor: String?) async throws -> Page<Item>) async throws -> [Item] {
        var items: [Item] = []
        var cursor: String?
        repeat {
            let page = try await fetch(cursor)
            items += page.items
            cursor = page.nextCursor
        } while cursor != nil
        return items
    }
}

/// The wall-clock forms the Huawei profiles use.
enum HuaweiTime {
    /// `yyyy-MM-dd HH:mm:ss` as read on a clock `offsetSeconds` from UTC (Workspace).
    static func local(_ t: Timestamp, offsetSeconds: Int) -> String {
        // RFC 3339 at that offset, `2030-01-01T09:00:00+08:00`, cut to its date and time.
        String(t.rfc3339(offsetSeconds: offsetSeconds).prefix(19)).replacingOccurrences(of: "T", with: " ")
    }

    /// Parses `YYYYMMDDHHmmss` (DMS), read as UTC; nil when malformed or not a real time.
    static func parseCompact(_ text: String) -> Timestamp? {
        let digits = Array(text.utf8)
        guard digits.count == 14, digits.allSatisfy({ (48...57).contains($0) }) else { return nil }
        func number(_ from: Int, _ count: Int) -> Int64 {
            digits[from..<(from + count)].reduce(0) { $0 * 10 + Int64($1 - 48) }
        }
        let (year, month, day) = (number(0, 4), Int(number(4, 2)), Int(number(6, 2)))
        let (hour, minute, second) = (number(8, 2), number(10, 2), number(12, 2))
        guard (1...12).contains(month), day >= 1, Int64(day) <= CivilDate.daysInMonth(year: year, month: month),
              hour < 24, minute < 60, second < 60 else { return nil }
        return Timestamp(seconds: CivilDate.days(year: year, month: month, day: day) * 86_400 + hour * 3600 + minute * 60 + second)
    }
}
