import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import OrreryCore

/// One server-sent event (the WHATWG `text/event-stream` format) as `GET /v1/stream` sends it.
struct ServerSentEvent: Sendable, Equatable {
    var id: String?
    var event: String = "message"
    var data: String = ""
}

extension OrreryAPI {
    /// Opens `GET /v1/stream` and yields its events until the server ends the stream. An error
    /// answer (unknown run, bad token) is thrown before the first event, as for any request.
    func events(query: [(String, String?)], lastEventID: String? = nil) async throws -> AsyncThrowingStream<ServerSentEvent, any Error> {
        var headers: [(String, String)] = [("Accept", "text/event-stream")]
        if let lastEventID { headers.append(("Last-Event-ID", lastEventID)) }
        let request = try request(.GET, "/v1/stream", query: query, headers: headers)
        let response: HTTPClientResponse
        do {
            // The stream lasts as long as the run: no deadline here (callers bound their waits).
            response = try await Self.http.execute(request, deadline: .distantFuture)
        } catch {
            throw unreachable(error)
        }
        guard response.status.code < 400 else {
            let body = (try? await response.body.collect(upTo: 1 << 20)).map { String(buffer: $0) } ?? ""
            throw ClientError.problem(httpStatus: Int(response.status.code), body: body)
        }
        let body = response.body
        return AsyncThrowingStream { continuation in
            let reader = Task {
                var parser = EventParser()
                do {
                    for try await chunk in body {
                        for event in parser.feed(String(buffer: chunk)) { continuation.yield(event) }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: unreachable(error))
                }
            }
            continuation.onTermination = { _ in reader.cancel() }
        }
    }
}

/// Turns `text/event-stream` text into events: `field: value` lines, comments (`:`) skipped,
/// a blank line ends an event; chunks may split lines anywhere.
struct EventParser {
    private var buffer = ""
    private var current = ServerSentEvent()
    private var hasData = false

    mutating func feed(_ text: String) -> [ServerSentEvent] {
        buffer += text
        var events: [ServerSentEvent] = []
        while let newline = buffer.firstIndex(where: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }) {
            let line = String(buffer[..<newline])
            buffer = String(buffer[buffer.index(after: newline)...])
            if line.isEmpty {
                if hasData { events.append(current) }
                current = ServerSentEvent(id: current.id)
                hasData = false
                continue
            }
            if line.hasPrefix(":") { continue }
            let parts = line.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            let field = String(parts[0])
            var value = parts.count > 1 ? String(parts[1]) : ""
            if value.hasPrefix(" ") { value.removeFirst() }
            switch field {
            case "event": current.event = value
            case "data":
                current.data += hasData ? "\n" + value : value
                hasData = true
            case "id": current.id = value
            default: break
            }
        }
        return events
    }
}
