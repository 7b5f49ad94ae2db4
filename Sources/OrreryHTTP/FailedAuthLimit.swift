public import Hummingbird
import HTTPTypes
import NIOCore
public import OrreryCore
import Synchronization

/// Limits failed authentications per client address (SPEC §6, issue 17): after `failures`
/// 401 answers within `window`, that address gets 429 with `Retry-After` until the window
/// ends, whatever it presents — guessing tokens stays slow on every surface (native API,
/// profiles, dashboard), while callers with valid tokens elsewhere are unaffected.
public final class FailedAuthLimiter: Sendable {
    public struct Configuration: Sendable {
        public var failures: Int
        public var window: Duration
        /// Addresses remembered at most (the oldest window is forgotten first): bounded memory.
        public var maxAddresses: Int = 10_000
        public init(failures: Int = 30, window: Duration = .seconds(60)) {
            self.failures = failures
            self.window = window
        }
    }

    let configuration: Configuration
    let clock: any EngineClock
    private let windows = Mutex<[String: (start: Timestamp, failures: Int)]>([:])

    public init(configuration: Configuration, clock: any EngineClock) {
        self.configuration = configuration
        self.clock = clock
    }

    /// Seconds to wait when `address` is blocked now; nil when it may try.
    func blocked(_ address: String) -> Int64? {
        let now = clock.now()
        return windows.withLock { w in
            guard let entry = w[address] else { return nil }
            let end = entry.start.adding(configuration.window)
            if end <= now { w[address] = nil; return nil }
            guard entry.failures >= configuration.failures else { return nil }
            return max(1, (end.microseconds - now.microseconds + 999_999) / 1_000_000)
        }
    }

    func recordFailure(_ address: String) {
        let now = clock.now()
        windows.withLock { w in
            if let entry = w[address], entry.start.adding(configuration.window) > now {
                w[address] = (entry.start, entry.failures + 1)
                return
            }
            if w.count >= configuration.maxAddresses, let oldest = w.min(by: { $0.value.start < $1.value.start })?.key {
                w[oldest] = nil
            }
            w[address] = (now, 1)
        }
    }
}

/// Applies a `FailedAuthLimiter` to every request: the outermost middleware, so it sees the
/// final answer of whichever surface refused the token.
struct FailedAuthLimitMiddleware: RouterMiddleware {
    typealias Context = OrreryRequestContext
    let limiter: FailedAuthLimiter

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let address = context.remoteAddress?.ipAddress ?? "unknown"
        if let wait = limiter.blocked(address) {
            var headers = HTTPFields()
            headers[.retryAfter] = String(wait)
            throw ProblemError(
                status: .tooManyRequests, code: "too_many_failed_authentications", title: "Too many failed authentications",
                detail: "too many invalid tokens from this address; retry after \(wait) s", field: nil, headers: headers)
        }
        do {
            let response = try await next(request, context)
            if response.status == .unauthorized { limiter.recordFailure(address) }
            return response
        } catch let error as any HTTPResponseError where error.status == .unauthorized {
            limiter.recordFailure(address)
            throw error
        }
    }
}
