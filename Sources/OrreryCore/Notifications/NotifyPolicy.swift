import Foundation

/// Who hears about a task's run ends (SPEC §4 Notifications): e-mail recipients, each maybe
/// only for problems, and webhooks, each for the run events it names. The typed form of a
/// task's `notify` block, read and checked field by field from the request body, and
/// decoded again from the stored JSON when a run ends.
public struct NotifyPolicy: Sendable, Hashable {
    /// An e-mail recipient; `problemsOnly` limits the mails to `RunEnding.isProblem` ends.
    public struct Email: Sendable, Hashable {
        public var address: String
        public var problemsOnly: Bool
        public init(address: String, problemsOnly: Bool = false) { self.address = address; self.problemsOnly = problemsOnly }
    }

    /// A webhook: a signed JSON POST to `url` for each run end whose event is in `events`.
    public struct Webhook: Sendable, Hashable {
        public var url: String
        public var events: [RunEndEvent]
        /// The signing secret (Standard Webhooks): `whsec_<base64>` keys with the decoded
        /// bytes, anything else with its UTF-8 bytes.
        public var secret: String
        public init(url: String, events: [RunEndEvent] = RunEndEvent.allCases, secret: String) {
            self.url = url; self.events = events; self.secret = secret
        }
    }

    public var email: [Email]
    public var webhooks: [Webhook]

    public init(email: [Email] = [], webhooks: [Webhook] = []) { self.email = email; self.webhooks = webhooks }

    public static let maxRecipients = 50
    public static let maxWebhooks = 10
    public static let minSecretBytes = 16

    /// Reads and checks a `notify` block; every error names its field
    /// (`notify.webhooks[0].secret`). Unknown fields are refused.
    public static func parse(_ value: JSONValue, path: String = "notify") throws -> NotifyPolicy {
        var r = try FieldReader(value, path: path)
        var policy = NotifyPolicy()
        if let list = r.value("email") {
            guard case .array(let items) = list else { throw r.typeError("email", "an array of recipients", list) }
            guard items.count <= maxRecipients else {
                throw OrreryError(.invalidField, "must have at most \(maxRecipients) recipients", field: r.fieldPath("email"))
            }
            for (i, item) in items.enumerated() {
                var e = try FieldReader(item, path: "\(r.fieldPath("email"))[\(i)]")
                let address = try e.requiredString("address", maxLength: 254)
                guard isValidAddress(address) else {
                    throw OrreryError(.invalidField, "\"\(address)\" is not an e-mail address (local@domain)", field: e.fieldPath("address"))
                }
                let problemsOnly = try e.bool("problems_only") ?? false
                try e.rejectUnknownFields()
                policy.email.append(Email(address: address, problemsOnly: problemsOnly))
            }
        }
        if let list = r.value("webhooks") {
            guard case .array(let items) = list else { throw r.typeError("webhooks", "an array of webhooks", list) }
            guard items.count <= maxWebhooks else {
                throw OrreryError(.invalidField, "must have at most \(maxWebhooks) webhooks", field: r.fieldPath("webhooks"))
            }
            for (i, item) in items.enumerated() {
                var w = try FieldReader(item, path: "\(r.fieldPath("webhooks"))[\(i)]")
                let url = try w.requiredString("url", maxLength: 2000)
                guard isValidWebhookURL(url) else {
                    throw OrreryError(.invalidField, "must be an http:// or https:// URL with a host", field: w.fieldPath("url"))
                }
                let secret = try w.requiredString("secret", maxLength: 500)
                guard secret != redactedSecret else {
                    throw OrreryError(
                        .invalidField, "is the placeholder the API shows instead of a secret; send the secret itself (the placeholder keeps the stored one only for a webhook whose url is unchanged)",
                        field: w.fieldPath("secret"))
                }
                guard let key = signingKey(secret), key.count >= minSecretBytes else {
                    throw OrreryError(
                        .invalidField, "must be at least \(minSecretBytes) bytes (a whsec_ secret: at least \(minSecretBytes) bytes of base64 after the prefix)",
                        field: w.fieldPath("secret"))
                }
                var events = RunEndEvent.allCases
                if let list = w.value("events") {
                    guard case .array(let names) = list, !names.isEmpty else {
                        throw OrreryError(.invalidField, "must be a non-empty array of event names", field: w.fieldPath("events"))
                    }
                    events = []
                    for (j, name) in names.enumerated() {
                        guard case .string(let text) = name, let event = RunEndEvent(rawValue: text) else {
                            throw OrreryError(
                                .invalidField, "must be one of \(RunEndEvent.allCases.map(\.rawValue).joined(separator: ", ")), not \(name.jsonText)",
                                field: "\(w.fieldPath("events"))[\(j)]")
                        }
                        if !events.contains(event) { events.append(event) }
                    }
                }
                try w.rejectUnknownFields()
                policy.webhooks.append(Webhook(url: url, events: events, secret: secret))
            }
        }
        try r.rejectUnknownFields()
        return policy
    }

    /// The policy a stored `notify` holds, or nil when it holds none (or was stored before
    /// notify blocks were checked and does not read as one).
    public static func stored(_ value: JSONValue?) -> NotifyPolicy? {
        guard let value, let policy = try? parse(value), !policy.isEmpty else { return nil }
        return policy
    }

    public var isEmpty: Bool { email.isEmpty && webhooks.isEmpty }

    /// What the API shows instead of a webhook's secret: secrets are write-only, readable by
    /// nobody (a viewer of the task could otherwise forge its signatures). Not a valid secret
    /// itself (`whsec_` then no base64), so it can never become one by mistake.
    public static let redactedSecret = "whsec_****************"

    /// A `notify` block as the API shows it: every webhook secret replaced by `redactedSecret`.
    public static func redacted(_ notify: JSONValue) -> JSONValue {
        mapWebhooks(notify) { webhook in
            var webhook = webhook
            if webhook["secret"] != nil { webhook["secret"] = .string(redactedSecret) }
            return webhook
        }
    }

    /// A `notify` block sent in an update, with each `redactedSecret` (a client that read the
    /// task and sent its block back) replaced by the stored secret of the webhook with the same
    /// url. A placeholder with no such webhook stays, and `parse` refuses it by name.
    public static func restoringSecrets(in notify: JSONValue, from stored: JSONValue?) -> JSONValue {
        var secrets: [String: JSONValue] = [:]
        if let stored {
            _ = mapWebhooks(stored) { webhook in
                if case .string(let url)? = webhook["url"], let secret = webhook["secret"] { secrets[url] = secret }
                return webhook
            }
        }
        return mapWebhooks(notify) { webhook in
            var webhook = webhook
            if case .string(redactedSecret)? = webhook["secret"], case .string(let url)? = webhook["url"], let secret = secrets[url] {
                webhook["secret"] = secret
            }
            return webhook
        }
    }

    private static func mapWebhooks(_ notify: JSONValue, _ transform: ([String: JSONValue]) -> [String: JSONValue]) -> JSONValue {
        guard case .object(var block) = notify, case .array(let webhooks)? = block["webhooks"] else { return notify }
        block["webhooks"] = .array(webhooks.map { item in
            guard case .object(let webhook) = item else { return item }
            return .object(transform(webhook))
        })
        return .object(block)
    }

    /// The `notify` block as stored and shown (events always listed).
    public var json: JSONValue {
        var o: [String: JSONValue] = [:]
        if !email.isEmpty {
            o["email"] = .array(email.map { .object(["address": .string($0.address), "problems_only": .bool($0.problemsOnly)]) })
        }
        if !webhooks.isEmpty {
            o["webhooks"] = .array(webhooks.map {
                .object(["url": .string($0.url), "events": .array($0.events.map { .string($0.rawValue) }), "secret": .string($0.secret)])
            })
        }
        return .object(o)
    }

    /// An address sendmail takes as one recipient: `local@domain`, printable ASCII with no
    /// spaces, quotes, angle brackets, commas or semicolons, not starting with `-` (it can
    /// never be read as an option or split into two recipients or headers).
    public static func isValidAddress(_ address: String) -> Bool {
        let parts = address.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !address.hasPrefix("-"), address.utf8.count <= 254 else { return false }
        let local = parts[0], domain = parts[1]
        let localAllowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~.")
        guard !local.isEmpty, local.count <= 64, local.allSatisfy(localAllowed.contains),
              !local.hasPrefix("."), !local.hasSuffix("."), !local.contains("..")
        else { return false }
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        let labelAllowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")
        return !labels.isEmpty && labels.allSatisfy { label in
            !label.isEmpty && label.count <= 63 && label.allSatisfy(labelAllowed.contains) && !label.hasPrefix("-") && !label.hasSuffix("-")
        }
    }

    public static func isValidWebhookURL(_ text: String) -> Bool {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme),
              let host = url.host, !host.isEmpty, url.user == nil, url.password == nil
        else { return false }
        return !text.contains(where: { $0.isWhitespace || $0.isNewline })
    }

    /// The HMAC key of a Standard Webhooks secret: for `whsec_…` the base64 after the prefix
    /// decoded (nil when it is not base64), otherwise the secret's UTF-8 bytes.
    public static func signingKey(_ secret: String) -> [UInt8]? {
        guard secret.hasPrefix("whsec_") else { return Array(secret.utf8) }
        var encoded = String(secret.dropFirst("whsec_".count))
        while encoded.count % 4 != 0 { encoded += "=" }
        return Data(base64Encoded: encoded).map { Array($0) }
    }
}

/// The run events a webhook can ask for: one per way a run ends (`run.<status>`, as the
/// events API names them). Timeouts and lost leases are `run.failed` with error codes
/// `timeout` and `lease_expired` in the payload.
public enum RunEndEvent: String, Sendable, Hashable, CaseIterable {
    case complete = "run.complete"
    case failed = "run.failed"
    case canceled = "run.canceled"
    case skipped = "run.skipped"

    public init?(_ status: RunStatus) {
        switch status {
        case .complete: self = .complete
        case .failed: self = .failed
        case .canceled: self = .canceled
        case .skipped: self = .skipped
        case .scheduled, .active: return nil
        }
    }
}
