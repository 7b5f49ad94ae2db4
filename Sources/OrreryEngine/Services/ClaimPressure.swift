import OrreryCore
import Synchronization

/// Whether the `Dispatcher` is claiming due runs back to back (a burst: more are due than
/// one claim takes, and slots are free). While it is, the `RunRecorder` holds its group
/// commits back — at most `maxDefer`, longer than claiming 20,000 due runs takes — so that
/// on a store with one writer (SQLite) starting due work goes before recording ended work:
/// at the top of the hour 20,000 runs start within a second instead of waiting behind the
/// ends of the first ones.
final class ClaimPressure: Sendable {
    /// How long the recorder may hold ends back; past it, it writes anyway.
    let maxDefer: Duration
    private let claiming = Mutex(false)
    private let eased = Doorbell()

    init(maxDefer: Duration = .seconds(2)) { self.maxDefer = maxDefer }

    /// The dispatcher is about to claim again at once (true), or is going to wait (false).
    func set(_ backToBack: Bool) {
        let was = claiming.withLock { c in
            defer { c = backToBack }
            return c
        }
        if was && !backToBack { eased.ring() }
    }

    var isClaiming: Bool { claiming.withLock { $0 } }

    /// Returns when the dispatcher stops claiming back to back, or after `maxDefer`.
    func wait(clock: any EngineClock) async {
        guard isClaiming else { return }
        let deadline = clock.now().adding(maxDefer)
        while isClaiming && clock.now() < deadline && !Task.isCancelled {
            await eased.wait(until: deadline, clock: clock)
        }
    }
}
