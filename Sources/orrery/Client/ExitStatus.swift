import ArgumentParser
import Foundation

/// The client commands' exit codes (sysexits(3) where one fits), so scripts can tell a
/// failed run from a typo, a refused token, a missing task or a server that is down.
/// `orrery --help` and the README list them.
enum ExitStatus: Int32, CaseIterable {
    /// The command did what was asked (with `--wait`/`-f`: the run completed).
    case ok = 0
    /// The run followed (`task run --wait`, `run logs -f`) ended failed, canceled or skipped.
    case runFailed = 1
    /// A bad flag, argument or value (EX_USAGE; ArgumentParser's own code).
    case usage = 64
    /// The server refused the request as invalid: bad JSON, an unknown field, an invalid
    /// schedule, a version conflict (HTTP 400, 409, 412, 413, 422; EX_DATAERR).
    case refused = 65
    /// A file named by `--file` cannot be read (EX_NOINPUT).
    case noInput = 66
    /// The task, run or route does not exist, or is in another project (HTTP 404).
    case notFound = 69
    /// The server failed (HTTP 500; EX_SOFTWARE).
    case serverError = 70
    /// The server cannot be reached, or answered 503: try again later (EX_TEMPFAIL).
    case unreachable = 75
    /// No token, a wrong or revoked token, or a role without the right (HTTP 401, 403; EX_NOPERM).
    case auth = 77
    /// The client configuration file or profile is wrong (EX_CONFIG).
    case config = 78
    /// `--timeout` passed before the run ended (as timeout(1)).
    case timeout = 124

    /// One line per code, for help texts.
    static let summary = """
        Exit codes: 0 done (run completed); 1 the run failed, was canceled or skipped; \
        64 usage; 65 refused by the server (invalid input, conflict); 66 unreadable --file; \
        69 not found; 70 server error; 75 server unreachable or unavailable; \
        77 authentication or permission; 78 client configuration; 124 --timeout passed.
        """
}

/// Why a client command stopped, with what to tell the user: the server's problem `detail`
/// and `field`, never a stack trace.
struct ClientError: Error {
    var status: ExitStatus
    var message: String

    init(_ status: ExitStatus, _ message: String) {
        self.status = status
        self.message = message
    }

    /// An `application/problem+json` answer (or any error answer) as an error.
    static func problem(httpStatus: Int, body: String) -> ClientError {
        let problem = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any]
        let code = problem?["code"] as? String
        let detail = (problem?["detail"] as? String) ?? (body.isEmpty ? "HTTP \(httpStatus)" : String(body.prefix(300)))
        var message = detail
        if let field = problem?["field"] as? String { message += " (field: \(field))" }
        message += " [HTTP \(httpStatus)\(code.map { ", \($0)" } ?? "")]"
        let status: ExitStatus = switch httpStatus {
        case 401, 403: .auth
        case 404: .notFound
        case 503: .unreachable
        case 400..<500: .refused
        default: .serverError
        }
        return ClientError(status, message)
    }
}

/// Runs a client command's body: a `ClientError` is printed as `error: …` on standard error
/// and becomes its exit code.
func runClient(_ body: () async throws -> ExitStatus) async throws {
    let status: ExitStatus
    do {
        status = try await body()
    } catch let error as ClientError {
        printError(error.message)
        throw ExitCode(error.status.rawValue)
    }
    if status != .ok { throw ExitCode(status.rawValue) }
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data("error: \(message)\n".utf8))
}
