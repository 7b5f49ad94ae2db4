import Foundation
import OrreryCore
import OrreryEngine
import OrreryModules
import OrreryTesting
import Testing

/// The notification outbox end to end on both stores: run ends write deliveries, the
/// Notifier sends them through a sendmail stand-in and to real receivers on loopback,
/// retries with backoff on the manual clock, and loses nothing across a restart.
@Suite("Notifications: outbox, sendmail, signed webhooks, retries", .timeLimit(.minutes(5)))
struct NotifierTests {
    static let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

    func notifier(_ h: EngineHarness, transports: [any NotificationTransport], publicURL: String? = nil) -> Notifier {
        var config = Notifier.Configuration(node: "notifier-\(UUID().uuidString.prefix(4))")
        config.publicURL = publicURL
        return Notifier(configuration: config, store: h.store as! any Notifier.Store, transports: transports, clock: h.clock)
    }

    func deliveries(_ h: EngineHarness, run: String? = nil, task: String? = nil) async throws -> [NotificationDelivery] {
        try await (h.store as! any NotificationStore).listNotifications(NotificationFilter(runID: run, taskID: task))
    }

    /// A task that runs once now and ends as `command` does, and its finished run.
    func runOnce(_ h: EngineHarness, name: String = "backup", command: String, notify: String) async throws -> (ScheduledTask, TaskRun) {
        let task = try await h.create("""
            {"name":\(JSONValue.string(name).jsonText),"module":"shell","params":{"command":["/bin/sh","-c",\(JSONValue.string(command).jsonText)]},
             "schedule":{"type":"once"},"notify":\(notify)}
            """)
        try await eventually("the run ended") { try await h.runs(of: task).first?.status.isFinished == true }
        return (task, try #require(try await h.runs(of: task).first))
    }

    @Test("a run end writes one delivery per recipient and webhook that wants it, in the end's transaction", arguments: StoreKind.enabled)
    func outbox(kind: StoreKind) async throws {
        try await EngineHarness.with(store: kind) { h in
            let notify = """
                {"email":[{"address":"all@example.com"},{"address":"oncall@example.com","problems_only":true}],
                 "webhooks":[{"url":"https://hooks.example.com/x","events":["run.failed"],"secret":"0123456789abcdef"}]}
                """
            let (_, failed) = try await runOnce(h, name: "fails", command: "echo oops; exit 3", notify: notify)
            #expect(failed.status == .failed)
            let forFailure = try await deliveries(h, run: failed.id)
            #expect(Set(forFailure.map(\.target)) == ["all@example.com", "oncall@example.com", "https://hooks.example.com/x"])
            #expect(forFailure.allSatisfy { $0.status == .pending && $0.event == .failed && $0.attempts.isEmpty && $0.taskName == "fails" })

            let (_, complete) = try await runOnce(h, name: "works", command: "true", notify: notify)
            #expect(complete.status == .complete)
            #expect(try await deliveries(h, run: complete.id).map(\.target) == ["all@example.com"], "problems_only and run.failed-only stay quiet")

            let (_, quiet) = try await runOnce(h, name: "silent", command: "exit 1", notify: "{}")
            #expect(try await deliveries(h, run: quiet.id).isEmpty)
        }
    }

    @Test("slots missed under misfire skip are problems too: the overdue run and every missed slot get a delivery, and run.skipped followers fire", arguments: StoreKind.enabled)
    func missedSlots(kind: StoreKind) async throws {
        try await EngineHarness.with(store: kind) { h in
            let task = try await h.create("""
                {"name":"minutely","module":"noop","schedule":{"type":"interval","every_sec":60},"misfire":{"policy":"skip","grace_sec":5},
                 "notify":{"email":[{"address":"ops@example.com","problems_only":true}]}}
                """)
            let follower = try await h.create("""
                {"name":"after-skips","module":"noop","schedule":{"type":"trigger","event":"run.skipped","task_id":"\(task.id)"}}
                """)
            try await h.settle()
            h.clock.advance(by: .seconds(600))  // the engine was stuck for ten minutes
            try await eventually("missed slots recorded") { try await h.runs(of: task, [.skipped]).count >= 5 }
            try await h.settle()
            let skipped = try await h.runs(of: task, [.skipped])
            #expect(Set(try await deliveries(h, task: task.id).map(\.runID)) == Set(skipped.map(\.id)), "one delivery per skipped run")
            try await eventually("the follower ran once per skip") { try await h.runs(of: follower).count == skipped.count }
        }
    }

    @Test("e-mail goes through sendmail as an RFC 5322 message: encoded subject, no header injection, the last log lines", arguments: StoreKind.enabled)
    func sendmail(kind: StoreKind) async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let standIn = try SendmailStandIn(in: dir)
        try await EngineHarness.with(store: kind) { h in
            let name = "Sicherung Zürich ✓\r\nBcc: victim@example.com"
            let (task, run) = try await runOnce(
                h, name: name, command: "for i in $(seq 1 30); do echo line $i; done; echo 'Bcc: also@example.com' >&2; exit 4",
                notify: #"{"email":[{"address":"ops@example.com","problems_only":true}]}"#)
            let transport = SendmailTransport(path: standIn.path, from: "orrery@scheduler.example")
            #expect(try await notifier(h, transports: [transport], publicURL: "https://orrery.example").deliverDue() == 1)
            let mail = try #require(standIn.messages.first)
            #expect(standIn.messages.count == 1)
            #expect(mail.arguments == "-i -f orrery@scheduler.example -- ops@example.com")
            let parts = mail.text.components(separatedBy: "\n\n")
            let headers = parts[0].split(separator: "\n").map(String.init)
            #expect(!headers.contains { $0.lowercased().hasPrefix("bcc:") }, "the task name's CR LF started no header: \(headers)")
            #expect(headers.allSatisfy { $0.hasPrefix(" ") || $0.contains(": ") })
            #expect(headers.contains("From: orrery@scheduler.example") && headers.contains("To: ops@example.com"))
            #expect(headers.contains { $0.hasPrefix("Subject: =?UTF-8?B?") })
            #expect(headers.contains { $0.hasPrefix("Date: ") } && headers.contains { $0.hasPrefix("Message-ID: <") })
            #expect(headers.contains("Content-Type: text/plain; charset=utf-8"))
            let body = parts.dropFirst().joined(separator: "\n\n").replacingOccurrences(of: "=\n", with: "")
            for part in ["Status:    failed", "exit_code", "Run:       \(run.id)", "info line 30", task.id, "Dashboard: https://orrery.example/runs/\(run.id)"] {
                #expect(body.contains(part), "\(part) in \(body)")
            }
            #expect(!body.contains(" line 1\n"), "only the last 20 log lines")
            let delivered = try #require(try await deliveries(h, run: run.id).first)
            #expect(delivered.status == .delivered && delivered.attempts.count == 1 && delivered.attempts[0].statusCode == 0)
        }
    }

    @Test("sendmail failing is an attempt recorded with its exit status, retried after 10 s", arguments: StoreKind.enabled)
    func sendmailFails(kind: StoreKind) async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let standIn = try SendmailStandIn(in: dir)
        try "75".write(toFile: dir.file("exit"), atomically: true, encoding: .utf8)
        try await EngineHarness.with(store: kind) { h in
            let (_, run) = try await runOnce(h, command: "exit 1", notify: #"{"email":[{"address":"ops@example.com"}]}"#)
            let notifier = notifier(h, transports: [SendmailTransport(path: standIn.path)])
            #expect(try await notifier.deliverDue() == 1)
            var d = try #require(try await deliveries(h, run: run.id).first)
            #expect(d.status == .pending && d.attempts.count == 1 && d.attempts[0].statusCode == 75 && d.attempts[0].error?.contains("exited 75") == true)
            #expect(d.nextAttemptAt == d.attempts[0].at.adding(seconds: 10))
            #expect(try await notifier.deliverDue() == 0, "not due before its backoff")
            try FileManager.default.removeItem(atPath: dir.file("exit"))
            h.clock.advance(by: .seconds(10))
            #expect(try await notifier.deliverDue() == 1)
            d = try #require(try await deliveries(h, run: run.id).first)
            #expect(d.status == .delivered && d.attempts.map(\.statusCode) == [75, 0])
        }
    }

    @Test("webhooks are signed as Standard Webhooks (checked by the standardwebhooks package); a receiver failing twice gets retries with backoff",
          .enabled(if: Prerequisite.runs("ORRERY_WEBHOOKS_PYTHON"), "ORRERY_WEBHOOKS_PYTHON is not set (scripts/test installs standardwebhooks)"),
          arguments: StoreKind.enabled)
    func webhookRetries(kind: StoreKind) async throws {
        let python = try Prerequisite.require("ORRERY_WEBHOOKS_PYTHON", "a python3 with standardwebhooks")
        let receiver = WebhookReceiver(failing: [500, 503])
        try await receiver.serve { port in
            // The verifier refuses timestamps more than 5 minutes from its own clock.
            try await EngineHarness.with(store: kind, clock: ManualClock(now: SystemClock().now().truncatedToMilliseconds)) { h in
                let (task, run) = try await runOnce(
                    h, name: "hooked", command: "exit 2",
                    notify: #"{"webhooks":[{"url":"http://127.0.0.1:\#(port)/hook","events":["run.failed"],"secret":"\#(Self.secret)"}]}"#)
                let transport = WebhookTransport(addressGuard: AddressGuard(trusted: ["127.0.0.1:\(port)"]))
                let notifier = notifier(h, transports: [transport])
                #expect(try await notifier.deliverDue() == 1)
                var d = try #require(try await deliveries(h, run: run.id).first)
                #expect(d.status == .pending && d.attempts.map(\.statusCode) == [500])
                let first = d.attempts[0].at
                #expect(d.nextAttemptAt == first.adding(seconds: 10))
                h.clock.advance(by: .seconds(10))
                #expect(try await notifier.deliverDue() == 1)
                d = try #require(try await deliveries(h, run: run.id).first)
                #expect(d.attempts.map(\.statusCode) == [500, 503] && d.nextAttemptAt == first.adding(seconds: 30), "then 20 s")
                h.clock.advance(by: .seconds(19))
                #expect(try await notifier.deliverDue() == 0)
                h.clock.advance(by: .seconds(1))
                #expect(try await notifier.deliverDue() == 1)
                d = try #require(try await deliveries(h, run: run.id).first)
                #expect(d.status == .delivered && d.attempts.map(\.statusCode) == [500, 503, 204] && d.nextAttemptAt == nil)

                let received = receiver.received
                #expect(received.count == 3)
                #expect(Set(received.map { $0.headers["webhook-id"] }) == [d.id], "webhook-id is the delivery id on every retry")
                #expect(Set(received.map(\.body)).count == 1, "the same body on every retry")
                #expect(try WebhookReceiver.verify(received, secret: Self.secret, python: python) == ["ok", "ok", "ok"])
                #expect(try WebhookReceiver.verify(received, secret: "whsec_" + Data(repeating: 7, count: 24).base64EncodedString(), python: python)
                        .allSatisfy { $0.hasPrefix("bad") }, "the verifier can fail")
                let body = try JSONValue.parse(Array(received[0].body.utf8))
                #expect(body["type"] == .string("run.failed"))
                #expect(body["data"]?["task_id"] == .string(task.id) && body["data"]?["task_name"] == .string("hooked"))
                #expect(body["data"]?["id"] == .string(run.id) && body["data"]?["error"]?["code"] == .string("exit_code"))
                #expect(received[0].headers["content-type"] == "application/json")
            }
        }
    }

    @Test("a raw (non-whsec_) secret signs with its bytes, and the independent verifier agrees",
          .enabled(if: Prerequisite.runs("ORRERY_WEBHOOKS_PYTHON"), "ORRERY_WEBHOOKS_PYTHON is not set (scripts/test installs standardwebhooks)"))
    func rawSecret() async throws {
        let python = try Prerequisite.require("ORRERY_WEBHOOKS_PYTHON", "a python3 with standardwebhooks")
        let receiver = WebhookReceiver()
        try await receiver.serve { port in
            try await EngineHarness.with(clock: ManualClock(now: SystemClock().now().truncatedToMilliseconds)) { h in
                _ = try await runOnce(h, command: "true",
                    notify: #"{"webhooks":[{"url":"http://127.0.0.1:\#(port)/hook","secret":"a-plain-secret-of-32-characters!"}]}"#)
                let transport = WebhookTransport(addressGuard: AddressGuard(trusted: ["127.0.0.1:\(port)"]))
                #expect(try await notifier(h, transports: [transport]).deliverDue() == 1)
                #expect(try WebhookReceiver.verify(receiver.received, secret: "a-plain-secret-of-32-characters!", python: python) == ["ok"])
            }
        }
    }

    @Test("the SSRF guard refuses a loopback webhook unless allowed; a redirect is not followed", arguments: StoreKind.enabled)
    func ssrf(kind: StoreKind) async throws {
        let receiver = WebhookReceiver(failing: [302])
        try await receiver.serve { port in
            try await EngineHarness.with(store: kind) { h in
                let (_, run) = try await runOnce(
                    h, command: "exit 1", notify: #"{"webhooks":[{"url":"http://127.0.0.1:\#(port)/hook","secret":"0123456789abcdef"}]}"#)
                #expect(try await notifier(h, transports: [WebhookTransport()]).deliverDue() == 1)
                var d = try #require(try await deliveries(h, run: run.id).first)
                #expect(d.status == .pending && d.attempts[0].error?.contains("refusing") == true && d.attempts[0].statusCode == nil)
                #expect(receiver.received.isEmpty, "nothing reached the loopback receiver")
                h.clock.advance(by: .seconds(10))
                #expect(try await notifier(h, transports: [WebhookTransport(addressGuard: AddressGuard(allowPrivateNetworks: true))]).deliverDue() == 1)
                d = try #require(try await deliveries(h, run: run.id).first)
                #expect(d.status == .pending && d.attempts.last?.statusCode == 302, "a 302 is a failure, not followed")
                #expect(receiver.received.count == 1)
            }
        }
    }

    @Test("a receiver that is down: the delivery waits in the store, and after a restart (a new store on the same data) it goes out", arguments: StoreKind.enabled)
    func survivesRestart(kind: StoreKind) async throws {
        // A port with nothing listening, held so that nothing else takes it before the
        // receiver starts on it.
        let held = try HeldPort()
        let port = held.port
        try await kind.withLocation { location in
            let clock = ManualClock()
            var runID = ""
            try await EngineHarness.with(location: location, clock: clock) { h in
                let (_, run) = try await runOnce(
                    h, command: "exit 1", notify: #"{"webhooks":[{"url":"http://127.0.0.1:\#(port)/hook","secret":"0123456789abcdef"}]}"#)
                runID = run.id
                let transport = WebhookTransport(addressGuard: AddressGuard(trusted: ["127.0.0.1:\(port)"]))
                #expect(try await notifier(h, transports: [transport]).deliverDue() == 1)
                let d = try #require(try await deliveries(h, run: run.id).first)
                #expect(d.status == .pending && d.attempts.count == 1 && d.attempts[0].statusCode == nil, "connection refused: \(d.attempts)")
            }
            clock.advance(by: .seconds(10))
            let receiver = WebhookReceiver()
            held.release()
            try await receiver.serve(port: port) { _ in
                try await EngineHarness.with(location: location, clock: clock) { h in
                    let transport = WebhookTransport(addressGuard: AddressGuard(trusted: ["127.0.0.1:\(port)"]))
                    #expect(try await notifier(h, transports: [transport]).deliverDue() == 1)
                    let d = try #require(try await deliveries(h, run: runID).first)
                    #expect(d.status == .delivered && d.attempts.count == 2)
                    #expect(receiver.received.count == 1 && receiver.received[0].headers["webhook-id"] == d.id)
                }
            }
        }
    }

    @Test("a delivery is claimed by one notifier at a time: two nodes claiming at once split the outbox", arguments: StoreKind.enabled)
    func claimedOnce(kind: StoreKind) async throws {
        try await EngineHarness.with(store: kind) { h in
            for i in 0..<6 {
                _ = try await runOnce(h, name: "t\(i)", command: "exit 1", notify: #"{"email":[{"address":"a@example.com"},{"address":"b@example.com"}]}"#)
            }
            let store = h.store as! any NotificationStore
            let now = h.clock.now()
            async let a = store.claimDueNotifications(limit: 100, now: now, node: "a", leaseUntil: now.adding(seconds: 60))
            async let b = store.claimDueNotifications(limit: 100, now: now, node: "b", leaseUntil: now.adding(seconds: 60))
            let (ca, cb) = try await (a, b)
            #expect(ca.count + cb.count == 12)
            #expect(Set(ca.map(\.id)).isDisjoint(with: cb.map(\.id)))
            #expect(try await store.claimDueNotifications(limit: 100, now: now, node: "c", leaseUntil: now.adding(seconds: 60)).isEmpty)
            let later = now.adding(seconds: 61)
            #expect(try await store.claimDueNotifications(limit: 100, now: later, node: "c", leaseUntil: later.adding(seconds: 60)).count == 12,
                    "a lapsed lease (a node that died mid-send) lets another node send")
        }
    }

    @Test("delivered and failed deliveries are pruned after the retention; pending ones stay", arguments: StoreKind.enabled)
    func pruning(kind: StoreKind) async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let standIn = try SendmailStandIn(in: dir)
        try await EngineHarness.with(store: kind) { h in
            let (_, sent) = try await runOnce(h, name: "sent", command: "exit 1", notify: #"{"email":[{"address":"a@example.com"}]}"#)
            let notifier = notifier(h, transports: [SendmailTransport(path: standIn.path)])
            #expect(try await notifier.deliverDue() == 1)
            h.clock.advance(by: .seconds(8 * 86_400))
            let (_, waiting) = try await runOnce(h, name: "waiting", command: "exit 1", notify: #"{"email":[{"address":"b@example.com"}]}"#)
            #expect(try await notifier.prune() == 1)
            #expect(try await deliveries(h, run: sent.id).isEmpty, "delivered 8 days ago: gone")
            #expect(try await deliveries(h, run: waiting.id).count == 1, "pending: kept")
        }
    }
}

