import Foundation
public import OrreryCore
public import OrreryEngine
import Subprocess
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// Mails notifications through the local `sendmail` (as cron's MAILTO does; an installed
/// msmtp or postfix relays them): `sendmail -i -f FROM -- ADDRESS`, the RFC 5322 message
/// on stdin. Exit status 0 is delivered (to the local MTA); anything else is retried.
public struct SendmailTransport: NotificationTransport {
    public let path: String
    /// The `From:` address (and envelope sender).
    public let from: String
    /// How long sendmail may take before it is stopped and the attempt counted as failed.
    public let timeout: Duration

    public var channel: NotificationDelivery.Channel { .email }

    public static let defaultPath = "/usr/sbin/sendmail"

    public init(path: String = SendmailTransport.defaultPath, from: String? = nil, timeout: Duration = .seconds(60)) {
        self.path = path
        self.from = from ?? "orrery@\(ProcessInfo.processInfo.hostName)"
        self.timeout = timeout
    }

    /// The message for `content` to `delivery.target`.
    public func message(_ content: NotificationContent, now: Timestamp) -> MailMessage {
        MailMessage(
            from: from, to: content.delivery.target, subject: content.mailSubject, body: content.mailBody,
            date: now, messageID: "\(content.delivery.id).\(content.delivery.attempts.count + 1)")
    }

    public func send(_ content: NotificationContent, now: Timestamp) async -> NotificationSendResult {
        let address = content.delivery.target
        guard NotifyPolicy.isValidAddress(address) else { return .failed("\"\(address)\" is not an e-mail address") }
        let text = message(content, now: now).rendered
        do {
            let result = try await withThrowingTaskGroup(of: NotificationSendResult?.self) { group in
                group.addTask {
                    let run = try await Subprocess.run(
                        .path(FilePath(path)), arguments: ["-i", "-f", from, "--", address],
                        input: .string(text), output: .discarded, error: .string(limit: 4096))
                    switch run.terminationStatus {
                    case .exited(0): return NotificationSendResult(statusCode: 0)
                    case .exited(let code):
                        let stderr = (run.standardError ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
                        return .failed("sendmail exited \(code)\(stderr.isEmpty ? "" : ": \(stderr)")", statusCode: Int(code))
                    case .signaled(let signal): return .failed("sendmail was killed by signal \(signal)")
                    }
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return nil
                }
                let first = try await group.next() ?? nil
                group.cancelAll()
                return first ?? .failed("sendmail took longer than \(timeout)")
            }
            return result
        } catch {
            return .failed("cannot run \(path): \(error)")
        }
    }
}
