import Foundation

/// The server could not listen where its settings say. NIO's own error names the system call
/// and errno only ("bind(descriptor:ptr:bytes:): Address already in use"), which leaves a
/// user guessing which address and which setting; this one names both.
struct ListenFailure: Error, CustomStringConvertible {
    let host: String
    let port: Int
    let underlying: String

    var description: String {
        let reason = underlying.contains("errno: \(EADDRINUSE))") ? "the address is already in use (another server on port \(port)?)" : underlying
        return "cannot listen on \(host):\(port): \(reason); choose another with --host/--port (ORRERY_HOST/ORRERY_PORT)"
    }

    /// Runs the server, turning a failure to bind into one that names the address.
    static func naming(host: String, port: Int, _ run: () async throws -> Void) async throws {
        do {
            try await run()
        } catch {
            let text = String(describing: error)
            guard text.contains("bind(") else { throw error }
            throw ListenFailure(host: host, port: port, underlying: text)
        }
    }
}
