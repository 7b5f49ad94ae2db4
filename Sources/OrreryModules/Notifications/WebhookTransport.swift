import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
public import OrreryCore
public import OrreryEngine

/// POSTs notifications as JSON, signed as Standard Webhooks do: `webhook-id` (the delivery
/// id, the same on every retry), `webhook-timestamp` (unix seconds) and `webhook-signature:
/// v1,<base64 HMAC-SHA256 of "id.timestamp.body">`. A 2xx answer is delivered; anything
/// else (a redirect included: none is followed) is retried by the `Notifier`.
///
/// The http module's SSRF guard applies: loopback, link-local and private targets are
/// refused unless the guard allows them, and the connection goes to the address checked.
public struct WebhookTransport: NotificationTransport {
    public var addressGuard: AddressGuard
    public var timeout: Duration

    public var channel: NotificationDelivery.Channel { .webhook }

    public init(addressGuard: AddressGuard = AddressGuard(), timeout: Duration = .seconds(10)) {
        self.addressGuard = addressGuard
        self.timeout = timeout
    }

    /// The three Standard Webhooks headers for `body` sent as delivery `id` at `timestamp`.
    public static func signatureHeaders(id: String, timestamp: Int64, body: String, secret: String) -> [(String, String)]? {
        guard let key = NotifyPolicy.signingKey(secret) else { return nil }
        let mac = HMAC<SHA256>.authenticationCode(for: Data("\(id).\(timestamp).\(body)".utf8), using: SymmetricKey(data: key))
        return [
            ("webhook-id", id), ("webhook-timestamp", String(timestamp)),
            ("webhook-signature", "v1,\(Data(mac).base64EncodedString())"),
        ]
    }

    public func send(_ content: NotificationContent, now: Timestamp) async -> NotificationSendResult {
        let delivery = content.delivery
        guard let url = URL(string: delivery.target), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme),
              let host = url.host, !host.isEmpty
        else { return .failed("\(delivery.target) is not an http:// or https:// URL") }
        let address: String
        do {
            address = try addressGuard.pin(host: host, port: url.port ?? (scheme == "https" ? 443 : 80))
        } catch AddressGuard.GuardError.forbidden(let host, let address) {
            return .failed("refusing to connect to \(host) (\(address)): loopback, link-local and private addresses are not allowed")
        } catch {
            return .failed("cannot resolve host \(host)")
        }
        let body = content.webhookBody.jsonText
        guard let signature = Self.signatureHeaders(
            id: delivery.id, timestamp: now.microseconds / 1_000_000, body: body, secret: delivery.secret ?? "")
        else { return .failed("the webhook's secret is not valid base64 after whsec_") }

        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        if address != host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")) { configuration.dnsOverride = [host: address] }
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        defer { Task { try? await client.shutdown() } }
        var request = HTTPClientRequest(url: delivery.target)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "Orrery-Webhooks/1")
        for (name, value) in signature { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(string: body))
        do {
            let response = try await client.execute(request, timeout: .milliseconds(timeout.microseconds / 1000))
            let status = Int(response.status.code)
            // The answer's body is not needed: read a little of it so the connection closes cleanly.
            _ = try? await response.body.collect(upTo: 64 * 1024)
            return (200..<300).contains(status) ? NotificationSendResult(statusCode: status) : .failed("answered \(status)", statusCode: status)
        } catch {
            return .failed("POST \(delivery.target) failed: \(error)")
        }
    }
}
