import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Hummingbird
import Logging
import NIOCore
import OrreryTesting
import ServiceLifecycle
import Synchronization

/// A real webhook receiver on a loopback port: records every request (headers and exact
/// body bytes) and answers `plan`'s status for the n-th request (then 204).
final class WebhookReceiver: Sendable {
    struct Request: Sendable {
        var headers: [String: String]
        var body: String
    }

    let requests = Mutex<[Request]>([])
    let plan: [Int]

    init(failing plan: [Int] = []) { self.plan = plan }

    var received: [Request] { requests.withLock { $0 } }

    /// Serves on `port` (0: any free one) for the length of `body` (given the port).
    func serve(port: Int = 0, _ body: (Int) async throws -> Void) async throws {
        let router = Router()
        router.post("hook") { request, _ -> Response in
            let bytes = try await request.body.collect(upTo: 1 << 20)
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            let n = self.requests.withLock { list in
                list.append(Request(headers: headers, body: String(buffer: bytes)))
                return list.count
            }
            let status = n <= self.plan.count ? self.plan[n - 1] : 204
            return Response(status: .init(code: status))
        }
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)),
            onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: Logger(label: "receiver"))
        let group = ServiceGroup(configuration: .init(services: [app], logger: Logger(label: "receiver")))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                // A server that cannot start (its port taken) ends the wait for its port with
                // its error instead of leaving it waiting for ever.
                defer { continuation.finish() }
                try await group.run()
            }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else {
                try await tasks.waitForAll()
                throw TimedOut(what: "receiver port")
            }
            do {
                try await body(port)
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    /// Checks each request's Standard Webhooks signature with the `standardwebhooks` package
    /// from PyPI (an independent implementation): one verdict per request, "ok" or the error.
    static func verify(_ requests: [Request], secret: String, python: String) throws -> [String] {
        let script = """
            import base64, json, sys
            from standardwebhooks.webhooks import Webhook
            for line in sys.stdin:
                item = json.loads(line)
                secret = item["secret"]
                # Standard Webhooks keys are base64 after whsec_; any other secret is its raw bytes.
                hook = Webhook(secret) if secret.startswith("whsec_") else Webhook(secret.encode())
                try:
                    hook.verify(item["body"], item["headers"])
                    print("ok", flush=True)
                except Exception as e:
                    print("bad: %s" % e, flush=True)
            """
        var input: [UInt8] = []
        for request in requests {
            input += try JSONSerialization.data(withJSONObject: ["secret": secret, "body": request.body, "headers": request.headers])
            input.append(UInt8(ascii: "\n"))
        }
        return try ChildProcess.run(python, ["-c", script], input: input, passErrors: true).output.split(separator: "\n").map(String.init)
    }
}

/// A `sendmail` stand-in (the only fake): a script that writes its arguments and the
/// message on stdin to a new file in `dir`, and exits with the status in `dir/exit` if any.
struct SendmailStandIn {
    let dir: TemporaryDirectory
    var path: String { dir.file("sendmail") }

    init(in dir: TemporaryDirectory) throws {
        self.dir = dir
        try FileManager.default.createDirectory(atPath: dir.file("mail"), withIntermediateDirectories: true)
        let script = """
            #!/bin/sh
            f="\(dir.file("mail"))/$(date +%s%N)-$$.eml"
            printf '%s\\n' "$*" > "$f.args"
            cat > "$f"
            if [ -f "\(dir.file("exit"))" ]; then exit "$(cat "\(dir.file("exit"))")"; fi
            exit 0
            """
        try script.write(toFile: dir.file("sendmail"), atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dir.file("sendmail"))
    }

    /// The messages written so far, oldest first, with the arguments sendmail was given.
    var messages: [(text: String, arguments: String)] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir.file("mail"))) ?? []).filter { $0.hasSuffix(".eml") }.sorted()
        return names.compactMap { name in
            guard let text = try? String(contentsOfFile: dir.file("mail/\(name)"), encoding: .utf8) else { return nil }
            let arguments = (try? String(contentsOfFile: dir.file("mail/\(name).args"), encoding: .utf8)) ?? ""
            return (text, arguments.trimmingCharacters(in: .newlines))
        }
    }
}

/// A TCP port on 127.0.0.1 held by a socket that is bound but not listening: a connection to
/// it is refused, as to a receiver that is down, and no other socket (another test's server,
/// an outgoing connection's ephemeral port) can take it until `release()`. A port found free
/// and closed again could be taken by then, and a receiver could not start on it.
final class HeldPort {
    let port: Int
    private var fd: Int32

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TimedOut(what: "a socket to hold a port") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else {
            close(fd)
            throw TimedOut(what: "a free port on 127.0.0.1")
        }
        self.fd = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    /// Frees the port for a receiver to start on it at once.
    func release() {
        if fd >= 0 { close(fd) }
        fd = -1
    }

    deinit { release() }
}
