import OrreryCore
import Synchronization

/// Wakes a sleeping loop early: `wait(until:)` returns at the deadline, when `ring()` is
/// called, or when the waiting task is canceled. A ring with nobody waiting is remembered,
/// so a ring between "look for work" and "wait" is never lost.
final class Doorbell: Sendable {
    private struct State {
        var rung = false
        var waiter: CheckedContinuation<Void, Never>?
        var sleeper: Task<Void, Never>?
        var generation: UInt64 = 0
    }

    private let state = Mutex(State())

    func ring() {
        let (waiter, sleeper) = state.withLock { s -> (CheckedContinuation<Void, Never>?, Task<Void, Never>?) in
            guard let waiter = s.waiter else {
                s.rung = true
                return (nil, nil)
            }
            s.waiter = nil
            defer { s.sleeper = nil }
            return (waiter, s.sleeper)
        }
        sleeper?.cancel()
        waiter?.resume()
    }

    /// Waits for a ring, or until `deadline` on `clock` when one is given.
    func wait(until deadline: Timestamp?, clock: any EngineClock) async {
        if state.withLock({ s in
            if s.rung { s.rung = false; return true }
            return false
        }) { return }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s -> Bool in
                    if s.rung || Task.isCancelled {
                        s.rung = false
                        return true
                    }
                    s.generation &+= 1
                    s.waiter = continuation
                    if let deadline {
                        let generation = s.generation
                        s.sleeper = Task {
                            try? await clock.sleep(until: deadline)
                            guard !Task.isCancelled else { return }
                            self.timeOut(generation)
                        }
                    }
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            self.timeOut(nil)
        }
    }

    private func timeOut(_ generation: UInt64?) {
        let (waiter, sleeper) = state.withLock { s -> (CheckedContinuation<Void, Never>?, Task<Void, Never>?) in
            guard s.waiter != nil, generation == nil || generation == s.generation else { return (nil, nil) }
            defer { s.waiter = nil; s.sleeper = nil }
            return (s.waiter, s.sleeper)
        }
        if generation == nil { sleeper?.cancel() }
        waiter?.resume()
    }
}
