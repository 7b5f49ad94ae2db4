/// One notification of one run end to one recipient or webhook: a row of the durable outbox,
/// written in the same transaction as the run's end and sent by the `Notifier`, with every
/// attempt recorded (SPEC §4 Notifications).
public struct NotificationDelivery: Sendable, Hashable {
    public enum Channel: String, Sendable, Hashable, CaseIterable { case email, webhook }

    /// `pending` until sent (or while retrying), then `delivered` or, once retries are
    /// exhausted, `failed`.
    public enum Status: String, Sendable, Hashable, CaseIterable { case pending, delivered, failed }

    /// One try to send: when, how long, and what came back (an HTTP status, or sendmail's
    /// exit status) or what went wrong.
    public struct Attempt: Sendable, Hashable {
        public var at: Timestamp
        public var durationMs: Int64
        public var statusCode: Int?
        public var error: String?
        public var succeeded: Bool { error == nil }
        public init(at: Timestamp, durationMs: Int64, statusCode: Int? = nil, error: String? = nil) {
            self.at = at; self.durationMs = durationMs; self.statusCode = statusCode; self.error = error
        }

        public var json: JSONValue {
            .object([
                "at": .string(at.rfc3339), "duration_ms": .int(durationMs),
                "status_code": statusCode.map { .int(Int64($0)) } ?? .null, "error": error.map(JSONValue.string) ?? .null,
            ])
        }

        public init?(json: JSONValue) {
            guard case .string(let at)? = json["at"], let time = Timestamp(rfc3339: at) else { return nil }
            self.at = time
            if case .int(let ms)? = json["duration_ms"] { durationMs = ms } else { durationMs = 0 }
            if case .int(let code)? = json["status_code"] { statusCode = Int(code) } else { statusCode = nil }
            if case .string(let text)? = json["error"] { error = text } else { error = nil }
        }
    }

    /// The delivery id: also the `webhook-id` header, the same on every retry.
    public var id: String
    public var runID: String
    public var taskID: String
    public var taskName: String
    public var project: String
    public var channel: Channel
    /// The address (`email`) or URL (`webhook`).
    public var target: String
    /// The webhook's signing secret (nil for e-mail). Never shown by the API.
    public var secret: String?
    public var event: RunEndEvent
    public var status: Status
    public var attempts: [Attempt]
    public var nextAttemptAt: Timestamp?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    public init(
        id: String, runID: String, taskID: String, taskName: String, project: String, channel: Channel, target: String,
        secret: String? = nil, event: RunEndEvent, status: Status = .pending, attempts: [Attempt] = [],
        nextAttemptAt: Timestamp?, createdAt: Timestamp, updatedAt: Timestamp? = nil
    ) {
        self.id = id; self.runID = runID; self.taskID = taskID; self.taskName = taskName; self.project = project
        self.channel = channel; self.target = target; self.secret = secret; self.event = event; self.status = status
        self.attempts = attempts; self.nextAttemptAt = nextAttemptAt; self.createdAt = createdAt; self.updatedAt = updatedAt ?? createdAt
    }

    public static func attemptsJSON(_ attempts: [Attempt]) -> String { JSONValue.array(attempts.map(\.json)).jsonText }

    public static func attempts(fromStored text: String?) -> [Attempt] {
        guard let text, let value = try? JSONValue.fromStored(text), case .array(let items) = value else { return [] }
        return items.compactMap(Attempt.init(json:))
    }
}

/// What a store needs to know about a run that just ended to write its notifications.
public struct RunEnding: Sendable, Hashable {
    public var runID: String
    public var taskID: String
    public var taskName: String
    public var project: String
    public var status: RunStatus
    public var errorCode: String?
    /// Why a skipped run was skipped (`misfire`, `overlap`, `task_missing`).
    public var skipReason: String?

    public init(runID: String, taskID: String, taskName: String, project: String, status: RunStatus, errorCode: String? = nil, skipReason: String? = nil) {
        self.runID = runID; self.taskID = taskID; self.taskName = taskName; self.project = project
        self.status = status; self.errorCode = errorCode; self.skipReason = skipReason
    }

    /// A problem, for `problems_only` recipients: a failure (a timeout and a lost lease are
    /// failures with codes `timeout` and `lease_expired`) or a run skipped because it missed
    /// its time (misfire). Completed, canceled and overlap-skipped runs are not problems.
    public var isProblem: Bool {
        switch status {
        case .failed: true
        case .skipped: skipReason == "misfire"
        case .complete, .canceled, .scheduled, .active: false
        }
    }

    /// The deliveries `policy` asks for on this end: one per e-mail recipient that wants it
    /// and one per webhook subscribed to its event. Decided here so both stores only insert.
    public func deliveries(for policy: NotifyPolicy, now: Timestamp, id: () -> String) -> [NotificationDelivery] {
        guard let event = RunEndEvent(status) else { return [] }
        var out: [NotificationDelivery] = []
        for recipient in policy.email where !recipient.problemsOnly || isProblem {
            out.append(NotificationDelivery(
                id: id(), runID: runID, taskID: taskID, taskName: taskName, project: project, channel: .email,
                target: recipient.address, event: event, nextAttemptAt: now, createdAt: now))
        }
        for hook in policy.webhooks where hook.events.contains(event) {
            out.append(NotificationDelivery(
                id: id(), runID: runID, taskID: taskID, taskName: taskName, project: project, channel: .webhook,
                target: hook.url, secret: hook.secret, event: event, nextAttemptAt: now, createdAt: now))
        }
        return out
    }
}

/// When a delivery that failed is tried again: exponential backoff from `first` (×`factor`
/// each time, at most `maxDelay` apart), until `giveUpAfter` since the delivery was made;
/// then it is `failed`.
public struct NotificationRetry: Sendable, Hashable {
    public var first: Duration = .seconds(10)
    public var factor: Int64 = 2
    public var maxDelay: Duration = .seconds(6 * 3600)
    public var giveUpAfter: Duration = .seconds(24 * 3600)
    public init() {}

    /// The time of the next attempt after `failures` failed ones, or nil to give up.
    public func nextAttempt(afterFailures failures: Int, createdAt: Timestamp, now: Timestamp) -> Timestamp? {
        var delay = first.microseconds
        for _ in 1..<max(1, failures) {
            delay = min(delay * factor, maxDelay.microseconds)
            if delay >= maxDelay.microseconds { break }
        }
        let next = now.adding(microseconds: delay)
        return next <= createdAt.adding(giveUpAfter) ? next : nil
    }
}

/// Which deliveries a listing returns.
public struct NotificationFilter: Sendable, Hashable {
    public var project: String?
    public var runID: String?
    public var taskID: String?
    public var status: NotificationDelivery.Status?
    public var limit: Int = 100
    public init(project: String? = nil, runID: String? = nil, taskID: String? = nil, status: NotificationDelivery.Status? = nil, limit: Int = 100) {
        self.project = project; self.runID = runID; self.taskID = taskID; self.status = status; self.limit = limit
    }
}

/// A store with a notification outbox: run ends write deliveries (inside `record` and
/// `claimDue`, in the same transaction); the `Notifier` claims due ones with a lease, so
/// each is sent by one node at a time, and records every attempt.
public protocol NotificationStore: Sendable {
    /// Up to `limit` pending deliveries due at `now` whose lease (if any) lapsed, leased to
    /// `node` until `leaseUntil`.
    func claimDueNotifications(limit: Int, now: Timestamp, node: String, leaseUntil: Timestamp) async throws -> [NotificationDelivery]
    /// Records one attempt of delivery `id` (fenced by `node`'s lease): `delivered`, or
    /// pending again at `retryAt`, or `failed` when `retryAt` is nil and it did not succeed.
    func recordNotificationAttempt(id: String, node: String, attempt: NotificationDelivery.Attempt, retryAt: Timestamp?, now: Timestamp) async throws
    /// Deliveries, newest first.
    func listNotifications(_ filter: NotificationFilter) async throws -> [NotificationDelivery]
    /// When the earliest pending delivery is due (for the notifier's sleep).
    func nextNotificationTime() async throws -> Timestamp?
    /// Deletes up to `limit` delivered or failed deliveries last changed before `before`
    /// (pending ones stay until sent or given up); returns how many went.
    func pruneNotifications(before: Timestamp, limit: Int) async throws -> Int
}
