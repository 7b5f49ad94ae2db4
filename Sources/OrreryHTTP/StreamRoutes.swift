import HTTPTypes
import Hummingbird
import NIOCore
import OrreryCore
import OrreryEngine

/// `GET /v1/stream`: run changes and log lines as server-sent events, for the CLI's `-f` and
/// the dashboard. Confined to the caller's project exactly like `GET /v1/runs`; resumable with
/// `Last-Event-ID`; bounded by the feed's stream limit, lifetime and buffer; a heartbeat
/// comment keeps proxies from closing a quiet stream.
struct StreamRoutes {
    let service: TaskService
    let feed: RunFeed?

    func add(to group: RouterGroup<OrreryRequestContext>) {
        group.get("stream") { request, context in
            let caller = try context.requireCaller()
            let filter = try Self.filter(request, caller: caller)
            let resume = try Self.resumePosition(request)
            guard let feed else { throw OrreryError(.unavailable, "live streams are not enabled on this server") }
            let subscription = try await feed.subscribe(filter, resumingAt: resume)
            var headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache"]
            headers[HTTPField.Name("X-Accel-Buffering")!] = "no"  // nginx: pass events on at once
            return Response(status: .ok, headers: headers, body: ResponseBody { writer in
                defer { subscription.cancel() }
                // The head and a first line at once: a client knows the stream is open.
                try await writer.write(ByteBuffer(string: "retry: 2000\n: stream open\n\n"))
                for await event in subscription.events {
                    try await writer.write(ByteBuffer(string: Self.frame(event)))
                }
                try await writer.finish(nil)
            })
        }
    }

    static let parameters: Set<String> = [
        "project", "task_id", "run_id", "status", "module", "resource_id", "trigger", "logs", "last_event_id",
    ]

    /// The filters of `GET /v1/runs` that apply to one changing run; lists are comma-separated.
    static func filter(_ request: Request, caller: TaskService.Caller) throws -> RunFeedFilter {
        let q = Query(request)
        try q.allowOnly(parameters)
        var filter = RunFeedFilter()
        let named = try q.project()
        filter.project = caller.scope ?? named
        filter.taskIDs = Set(try ids(q, "task_id"))
        filter.runIDs = try ids(q, "run_id")
        filter.statuses = Set(try q.statuses("status"))
        filter.modules = Set(try ids(q, "module"))
        filter.resourceID = try q.string("resource_id", maxLength: 500)
        filter.triggers = Set(try q.words("trigger", RunTrigger.self))
        filter.logs = try q.bool("logs") ?? true
        return filter
    }

    /// A comma-separated list of at most 100 ids of at most 100 characters.
    static func ids(_ q: Query, _ name: String) throws -> [String] {
        guard let text = try q.string(name, maxLength: 10_100) else { return [] }
        let ids = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard ids.count <= 100, ids.allSatisfy({ (1...100).contains($0.count) }) else {
            throw OrreryError(.invalidField, "must be at most 100 comma-separated values of 1-100 characters", field: name)
        }
        return ids
    }

    /// Where a reconnecting client left off: the `Last-Event-ID` header (browsers send it on
    /// reconnection) or `last_event_id=` (a first connection cannot set headers in a browser).
    static func resumePosition(_ request: Request) throws -> StreamPosition? {
        let header = request.headers[HTTPField.Name("Last-Event-ID")!].flatMap { $0.isEmpty ? nil : $0 }
        guard let text = header ?? Query(request).string("last_event_id") else { return nil }
        guard let position = StreamPosition(eventID: text) else {
            throw OrreryError(.invalidField, "\"\(text.prefix(100))\" is not an event id this server sent", field: header == nil ? "last_event_id" : "Last-Event-ID")
        }
        return position
    }

    /// One event as `text/event-stream` writes it (JSON is one line, so one `data:` line).
    static func frame(_ event: RunFeedEvent) -> String {
        switch event {
        case .run(let run, let position):
            "id: \(position.eventID)\nevent: run\ndata: \(run.json.jsonText)\n\n"
        case .log(let entry, let position):
            "id: \(position.eventID)\nevent: log\ndata: \(entry.streamJSON.jsonText)\n\n"
        case .heartbeat:
            ": heartbeat\n\n"
        case .reset(let reason):
            "event: reset\ndata: \(JSONValue.object(["reason": .string(reason)]).jsonText)\n\n"
        }
    }
}

extension LogEntry {
    /// A log line in the stream: as `GET /v1/runs/{id}/logs` shows it, plus its run.
    var streamJSON: JSONValue {
        guard case .object(var object) = json else { return json }
        object["run_id"] = .string(runID)
        return .object(object)
    }
}
