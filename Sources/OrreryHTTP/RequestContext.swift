public import Hummingbird
public import NIOCore
public import OrreryEngine
import Logging

/// The per-request context: Hummingbird's core storage plus the authenticated caller.
public struct OrreryRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The client's address (failed authentications are limited per address).
    public let remoteAddress: SocketAddress?
    /// Set by `AuthMiddleware` for every `/v1` request that passed it.
    public var caller: TaskService.Caller?

    public init(source: Source) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
        self.caller = nil
    }

    /// Bodies above this size are refused with 413 before they are read whole.
    public var maxUploadSize: Int { 1 << 20 }

    func requireCaller() throws -> TaskService.Caller {
        guard let caller else { throw OrreryErrorBridge.unauthorized }
        return caller
    }
}

enum OrreryErrorBridge {
    static let unauthorized = ProblemError(status: .unauthorized, code: "unauthorized", title: "Unauthorized", detail: "a valid bearer token is required", field: nil)
}
