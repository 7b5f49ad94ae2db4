import Foundation
import NIOHTTP1
import OrreryCore
import OrreryTesting
import Testing

extension APIClient {
    /// A client holding a new token of `role` in `project`, made through `/v1/tokens` by this admin client.
    func token(_ role: String, project: String = "default", name: String? = nil) async throws -> APIClient {
        let made = try await post("/v1/tokens", #"{"role":"\#(role)","project":"\#(project)","name":"\#(name ?? "\(role)-\(project)")"}"#)
        #expect(made.status == 201)
        var client = self
        client.token = try require(made["token"]?.stringValue)
        return client
    }

    /// The same server, with no token.
    var anonymous: APIClient { APIClient(baseURL: baseURL, token: nil) }

    /// Creates a task through the native API; returns its JSON.
    @discardableResult
    func task(_ body: String) async throws -> JSONValue {
        let created = try await post("/v1/tasks", body)
        #expect(created.status == 201, "\(created.json.jsonText)")
        return created.json
    }

    /// The task's runs through the native API (dismissed ones too).
    func runs(of task: JSONValue) async throws -> [JSONValue] {
        let id = try require(task["id"]?.stringValue)
        let visible = try await get("/v1/runs?task_id=\(id)").items
        let dismissed = try await get("/v1/runs?task_id=\(id)&dismissed=true").items
        return visible + dismissed
    }

    /// Waits until the task has a run in `status`, and returns it.
    @discardableResult
    func waitForRun(of task: JSONValue, _ status: String) async throws -> JSONValue {
        try await eventually("a \(status) run of \(task["name"]?.stringValue ?? "?")") {
            try await runs(of: task).contains { $0["status"] == .string(status) }
        }
        return try require(try await runs(of: task).first { $0["status"] == .string(status) })
    }

    /// A call with headers of the caller's choosing and no `Authorization` of this client's.
    func raw(_ method: HTTPMethod = .GET, _ path: String, headers: [(String, String)] = [], body: String? = nil) async throws -> APIResponse {
        try await anonymous.call(method, path, body: body, headers: headers)
    }
}

/// Times the fixtures schedule far ahead, so their runs stay pending for the whole test:
/// four and five years from now, never a fixed year that the calendar will one day reach.
enum Future {
    static let year = Calendar(identifier: .gregorian).component(.year, from: Date()) + 4
    /// New Year of `year`, 00:00 UTC.
    static let y2030 = "\(year)-01-01T00:00:00Z"
    static let y2030ms: Int64 = Timestamp(rfc3339: y2030)!.microseconds / 1000
    /// The same day as `y2030` in the DMS profile's `YYYYMMDDHHmmss`.
    static let y2030dms = "\(year)0101000000"
    static let y2031 = "\(year + 1)-06-15T08:30:00Z"
}

extension JSONValue {
    /// The keys of an object, sorted (for shape checks).
    var keys: [String] { objectValue?.keys.sorted() ?? [] }
    var intValue: Int64? { if case .int(let n) = self { return n } else { return nil } }
}
