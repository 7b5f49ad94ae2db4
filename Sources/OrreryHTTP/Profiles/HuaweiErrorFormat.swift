import HTTPTypes
import Hummingbird
import OrreryCore
import OrreryEngine

/// Huawei Cloud errors, shared by the Workspace (002) and DMS (004) profiles:
/// `{"error_code": "WKS.00400001", "error_msg": "…"}`.
///
/// The seeds name the fields but list no codes, so the codes are Orrery's choice in Huawei's
/// `SERVICE.00SSSNNN` pattern (the service prefix, then the HTTP status): `.00400001` bad
/// parameter, `.00403001` forbidden, `.00404001` not found, `.00500001` internal; an
/// unusable token is the API gateway's `APIGW.0301` (401), as Huawei's gateway answers it.
struct HuaweiErrorFormat: ProfileErrorFormat {
    /// `WKS` (Workspace) or `DMS`.
    let service: String

    func code(for status: HTTPResponse.Status, native: OrreryError.Code) -> String {
        status == .unauthorized ? "APIGW.0301" : "\(service).00\(status.code)001"
    }

    func body(_ failure: ProfileFailure) -> JSONValue {
        .object(["error_code": .string(failure.code), "error_msg": .string(failure.message)])
    }

    /// A bad query parameter, in this service's words.
    func invalid(_ name: String, _ reason: String) -> ProfileFailure {
        failure(.badRequest, .invalidField, "\(name): \(reason)")
    }

    /// The caller behind `X-Auth-Token` (Huawei's header; `Authorization: Bearer` is also
    /// accepted, so Orrery's own tokens work as they are), allowed to read `project`.
    /// Another project's path is a 403 whether or not that project exists: nothing leaks.
    func caller(_ request: Request, project: String, authenticator: TokenAuthenticator) async throws -> TaskService.Caller {
        let token = request.headers[HTTPField.Name("X-Auth-Token")!] ?? TokenAuthenticator.bearerToken(request)
        let caller = try await authenticator.caller(
            token, missing: failure(.unauthorized, .unauthorized, "the X-Auth-Token header is missing"),
            invalid: failure(.unauthorized, .unauthorized, "the token in X-Auth-Token is not valid"))
        guard caller.mayRead(project: project) else {
            throw failure(.forbidden, .forbidden, "the token is not valid for project \(project)")
        }
        return caller
    }

    /// The first of a parameter's spellings that is present, with its value.
    static func first(of names: [String], in q: Query) -> (name: String, value: String)? {
        for name in names { if let value = q.string(name) { return (name, value) } }
        return nil
    }

    /// An integer query parameter within `range`; `required` ones may not be absent.
    func int(_ q: Query, _ names: [String], required: Bool, in range: ClosedRange<Int>, default value: Int) throws -> Int {
        guard case let (name, text)? = Self.first(of: names, in: q) else {
            if required { throw failure(.badRequest, .missingField, "\(names[0]): is required") }
            return value
        }
        guard let n = Int(text), range.contains(n) else {
            throw invalid(name, "must be an integer from \(range.lowerBound) to \(range.upperBound), not \"\(text)\"")
        }
        return n
    }
}
