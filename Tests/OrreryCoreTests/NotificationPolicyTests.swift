import Foundation
import OrreryCore
import Testing

@Suite("Notifications: notify blocks, who hears of a run end, backoff, mail format", .timeLimit(.minutes(5)))
struct NotificationPolicyTests {
    func parse(_ json: String) throws -> NotifyPolicy { try NotifyPolicy.parse(try JSONValue.parse(Array(json.utf8))) }

    func fieldOfError(_ json: String) -> String? {
        do {
            _ = try parse(json)
            return nil
        } catch let error as OrreryError {
            return error.field
        } catch {
            return "?"
        }
    }

    @Test("a valid block reads into typed recipients and webhooks; events default to every run end")
    func valid() throws {
        let policy = try parse("""
            {"email":[{"address":"ops@example.com","problems_only":true},{"address":"a.b+c@mail.example.org"}],
             "webhooks":[{"url":"https://hooks.example.com/x","secret":"0123456789abcdef"},
                         {"url":"http://h.example:8080/y","events":["run.failed","run.skipped"],"secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}]}
            """)
        #expect(policy.email == [.init(address: "ops@example.com", problemsOnly: true), .init(address: "a.b+c@mail.example.org")])
        #expect(policy.webhooks[0].events == RunEndEvent.allCases)
        #expect(policy.webhooks[1].events == [.failed, .skipped])
        #expect(try NotifyPolicy.parse(policy.json) == policy, "the stored form reads back the same")
    }

    @Test("bad input is a 400 naming the field", arguments: [
        (#"{"email":[{"address":"not-an-address"}]}"#, "notify.email[0].address"),
        (#"{"email":[{"address":"a@b.com\r\nBcc: x@y.com"}]}"#, "notify.email[0].address"),
        (#"{"email":[{"address":"-oQ/tmp/x@b.com"}]}"#, "notify.email[0].address"),
        (#"{"email":[{"address":"a@b.com","problems_only":"yes"}]}"#, "notify.email[0].problems_only"),
        (#"{"email":[{"address":"a@b.com","cc":"x"}]}"#, "notify.email[0].cc"),
        (#"{"email":"a@b.com"}"#, "notify.email"),
        (#"{"webhooks":[{"url":"ftp://x.example.com/","secret":"0123456789abcdef"}]}"#, "notify.webhooks[0].url"),
        (#"{"webhooks":[{"url":"file:///etc/passwd","secret":"0123456789abcdef"}]}"#, "notify.webhooks[0].url"),
        (#"{"webhooks":[{"url":"https://x.example.com/","secret":"short"}]}"#, "notify.webhooks[0].secret"),
        (#"{"webhooks":[{"url":"https://x.example.com/","secret":"whsec_c2hvcnQ="}]}"#, "notify.webhooks[0].secret"),
        (#"{"webhooks":[{"url":"https://x.example.com/"}]}"#, "notify.webhooks[0].secret"),
        (#"{"webhooks":[{"url":"https://x.example.com/","secret":"0123456789abcdef","events":["run.exploded"]}]}"#, "notify.webhooks[0].events[0]"),
        (#"{"webhooks":[{"url":"https://x.example.com/","secret":"0123456789abcdef","events":[]}]}"#, "notify.webhooks[0].events"),
        (#"{"webhooks":[{"url":"https://x.example.com/","secret":"0123456789abcdef","method":"PUT"}]}"#, "notify.webhooks[0].method"),
        (##"{"slack":"#ops"}"##, "notify.slack"),
    ])
    func invalid(json: String, field: String) {
        #expect(fieldOfError(json) == field, "\(json)")
    }

    func ending(_ status: RunStatus, error: String? = nil, skip: String? = nil) -> RunEnding {
        RunEnding(runID: "r1", taskID: "t1", taskName: "backup", project: "default", status: status, errorCode: error, skipReason: skip)
    }

    @Test("problems are failures (timeouts and lost leases too) and misfire skips; problems_only recipients hear only of them")
    func problemsOnly() throws {
        let policy = try parse("""
            {"email":[{"address":"all@example.com"},{"address":"oncall@example.com","problems_only":true}],
             "webhooks":[{"url":"https://h.example.com/","events":["run.failed"],"secret":"0123456789abcdef"}]}
            """)
        var n = 0
        let id: () -> String = { n += 1; return "d\(n)" }
        let now = Timestamp(seconds: 1_000)
        func targets(_ e: RunEnding) -> [String] { e.deliveries(for: policy, now: now, id: id).map(\.target) }
        #expect(targets(ending(.complete)) == ["all@example.com"])
        #expect(targets(ending(.canceled)) == ["all@example.com"])
        #expect(targets(ending(.skipped, skip: "overlap")) == ["all@example.com"])
        #expect(targets(ending(.skipped, skip: "misfire")) == ["all@example.com", "oncall@example.com"])
        for code in ["exit_code", "timeout", "lease_expired"] {
            #expect(targets(ending(.failed, error: code)) == ["all@example.com", "oncall@example.com", "https://h.example.com/"], "\(code)")
        }
        let deliveries = ending(.failed, error: "timeout").deliveries(for: policy, now: now, id: id)
        #expect(deliveries.allSatisfy { $0.event == .failed && $0.status == .pending && $0.nextAttemptAt == now })
        #expect(deliveries.last?.secret == "0123456789abcdef" && deliveries.first?.secret == nil)
        #expect(Set(deliveries.map(\.id)).count == deliveries.count, "each delivery has its own id")
    }

    @Test("retries back off 10 s, 20 s, 40 s … (at most 6 h apart) and give up a day after the delivery was made")
    func backoff() {
        let retry = NotificationRetry()
        let created = Timestamp(seconds: 0)
        #expect(retry.nextAttempt(afterFailures: 1, createdAt: created, now: created) == Timestamp(seconds: 10))
        #expect(retry.nextAttempt(afterFailures: 2, createdAt: created, now: Timestamp(seconds: 10)) == Timestamp(seconds: 30))
        #expect(retry.nextAttempt(afterFailures: 3, createdAt: created, now: Timestamp(seconds: 30)) == Timestamp(seconds: 70))
        #expect(retry.nextAttempt(afterFailures: 20, createdAt: created, now: Timestamp(seconds: 3600)) == Timestamp(seconds: 3600 + 6 * 3600))
        #expect(retry.nextAttempt(afterFailures: 20, createdAt: created, now: Timestamp(seconds: 20 * 3600)) == nil, "past 24 h: failed")
        var now = created, failures = 0
        while let next = retry.nextAttempt(afterFailures: failures + 1, createdAt: created, now: now) { failures += 1; now = next }
        #expect((12...20).contains(failures), "about \(failures) attempts in a day")
    }

    func message(subject: String, to: String = "ops@example.com", body: String = "hello\n") -> String {
        MailMessage(from: "orrery@host.example", to: to, subject: subject, body: body, date: Timestamp(rfc3339: "2026-12-02T07:25:09Z")!, messageID: "d1.1").rendered
    }

    func headers(_ rendered: String) -> [String] {
        Array(rendered.components(separatedBy: "\n\n")[0].split(separator: "\n").map(String.init))
    }

    @Test("headers are RFC 5322: From, To, Subject, Date, Message-ID, MIME text/plain UTF-8 quoted-printable")
    func mailHeaders() {
        let h = headers(message(subject: "[Orrery] backup failed in default"))
        #expect(h.contains("From: orrery@host.example"))
        #expect(h.contains("To: ops@example.com"))
        #expect(h.contains("Subject: [Orrery] backup failed in default"))
        #expect(h.contains("Date: Wed, 02 Dec 2026 07:25:09 +0000"))
        #expect(h.contains("Message-ID: <d1.1@host.example>"))
        #expect(h.contains("MIME-Version: 1.0"))
        #expect(h.contains("Content-Type: text/plain; charset=utf-8"))
        #expect(h.contains("Content-Transfer-Encoding: quoted-printable"))
        #expect(MailMessage.rfc5322Date(Timestamp(rfc3339: "1969-12-31T23:59:59Z")!) == "Wed, 31 Dec 1969 23:59:59 +0000")
    }

    @Test("a non-ASCII subject is RFC 2047 encoded-words that decode back to it, each at most 75 characters")
    func encodedSubject() throws {
        let subject = "[Orrery] Sicherung für Zürich ✓ — 夜間バックアップ failed"
        let h = headers(message(subject: subject))
        let start = try #require(h.firstIndex { $0.hasPrefix("Subject: ") })
        var lines = [String(h[start].dropFirst("Subject: ".count))]
        var i = start + 1
        while i < h.count, h[i].hasPrefix(" ") { lines.append(String(h[i].dropFirst())); i += 1 }
        var decoded: [UInt8] = []
        for word in lines {
            #expect(word.count <= 75)
            #expect(word.hasPrefix("=?UTF-8?B?") && word.hasSuffix("?="))
            decoded += try #require(Data(base64Encoded: String(word.dropFirst(10).dropLast(2))))
        }
        #expect(String(decoding: decoded, as: UTF8.self) == subject)
    }

    @Test("CR and LF in a subject, address or id never start a new header", arguments: [
        "backup\r\nBcc: victim@example.com", "backup\nBcc: victim@example.com", "backup\rBcc: victim@example.com",
        "Zürich\r\nBcc: victim@example.com", "x\r\n\r\nbody injected",
    ])
    func noInjection(subject: String) {
        let rendered = message(subject: subject, to: "ops@example.com\r\nCc: victim@example.com")
        let h = headers(rendered)
        #expect(!h.contains { $0.lowercased().hasPrefix("bcc:") || $0.lowercased().hasPrefix("cc:") })
        #expect(h.allSatisfy { $0.first == " " || $0.contains(": ") }, "every header line is a header or a continuation")
        #expect(h.count == 9 || h.filter { $0.first != " " }.count == 9, "exactly the nine headers: \(h)")
        #expect(!rendered.components(separatedBy: "\n\n")[1].contains("body injected") || rendered.components(separatedBy: "\n\n").count == 2)
    }

    @Test("the body is quoted-printable: = and non-ASCII escaped, long lines softly broken, CR LF normalized")
    func quotedPrintable() {
        let qp = MailMessage.quotedPrintable("a=b ü\r\n" + String(repeating: "x", count: 200) + "\nend ")
        #expect(qp.hasPrefix("a=3Db =C3=BC\n"))
        #expect(qp.split(separator: "\n").allSatisfy { $0.count <= 76 })
        #expect(qp.hasSuffix("end=20\n"), "a trailing space is encoded")
        let unfolded = qp.replacingOccurrences(of: "=\n", with: "")
        #expect(unfolded.contains(String(repeating: "x", count: 200)))
    }

    @Test("subject and body say task, project, status, error, duration, run id and the last log lines")
    func content() {
        let delivery = NotificationDelivery(
            id: "d1", runID: "run1", taskID: "t1", taskName: "backup", project: "ops", channel: .email, target: "a@b.example",
            event: .failed, nextAttemptAt: nil, createdAt: Timestamp(seconds: 100))
        let run = TaskRun(
            id: "run1", taskID: "t1", project: "ops", module: "shell", status: .failed, scheduledAt: Timestamp(seconds: 0),
            startedAt: Timestamp(seconds: 1), finishedAt: Timestamp(microseconds: 3_500_000), updatedAt: Timestamp(seconds: 4),
            error: RunError(code: "timeout", message: "ran longer than 2 s"))
        let content = NotificationContent(delivery: delivery, run: run, logLines: (1...30).map { "line \($0)" }, publicURL: "https://orrery.example/")
        #expect(content.mailSubject == "[Orrery] backup failed (timeout) in ops")
        let body = content.mailBody
        for part in ["Project:   ops", "Status:    failed", "Error:     timeout: ran longer than 2 s", "Duration:  2.5 s",
                     "Run:       run1", "Dashboard: https://orrery.example/runs/run1", "  line 30", "  line 11"] {
            #expect(body.contains(part), "\(part)")
        }
        #expect(!body.contains("  line 10\n"), "at most 20 log lines")
        let hook = content.webhookBody
        #expect(hook["type"] == .string("run.failed"))
        #expect(hook["data"]?["task_name"] == .string("backup") && hook["data"]?["task_id"] == .string("t1"))
        #expect(hook["data"]?["error"]?["code"] == .string("timeout") && hook["data"]?["duration_ms"] == .int(2500))
    }
}
