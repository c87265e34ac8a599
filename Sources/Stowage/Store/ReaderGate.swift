import Dispatch
import Synchronization

/// Tells compaction — and `close()` — when every index reader that might still see the
/// index as it was is gone.
///
/// A reader enters before it begins its read transaction and leaves after it has pinned
/// the mappings it will serve from (I6). After compaction commits the transaction that
/// moves extents out of a segment, it advances the epoch and waits for the readers of
/// earlier epochs: any reader that entered later began its transaction after that commit
/// and cannot see the old extents, and every earlier one holds its mapping (which stays
/// valid after the unlink) or never will. Waiters are woken by the last reader that
/// leaves, never by polling.
final class ReaderGate: Sendable {
    private struct Waiter {
        let boundary: UInt64
        let wake: @Sendable () -> Void
    }

    private struct State {
        var epoch: UInt64 = 0
        var active: [UInt64: Int] = [:]
        var waiters: [Waiter] = []

        func hasReaders(before boundary: UInt64) -> Bool {
            active.keys.contains { $0 < boundary }
        }
    }
    private let state = Mutex(State())

    /// Registers a reader; pass the result to `leave`.
    func enter() -> UInt64 {
        state.withLock { s in
            s.active[s.epoch, default: 0] += 1
            return s.epoch
        }
    }

    func leave(_ epoch: UInt64) {
        let woken = state.withLock { s -> [Waiter] in
            let count = s.active[epoch, default: 1] - 1
            s.active[epoch] = count > 0 ? count : nil
            guard count == 0 else { return [] }
            let state = s
            let ready = s.waiters.filter { !state.hasReaders(before: $0.boundary) }
            s.waiters.removeAll { !state.hasReaders(before: $0.boundary) }
            return ready
        }
        for waiter in woken { waiter.wake() }
    }

    /// Starts a new epoch and waits until no reader of an earlier one remains.
    func drain() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            wait { continuation.resume() }
        }
    }

    /// `drain`, blocking the calling thread (for `close()`).
    func drainBlocking() {
        let done = DispatchSemaphore(value: 0)
        wait { done.signal() }
        done.wait()
    }

    private func wait(_ wake: @escaping @Sendable () -> Void) {
        let ready = state.withLock { s -> Bool in
            s.epoch += 1
            guard s.hasReaders(before: s.epoch) else { return true }
            s.waiters.append(Waiter(boundary: s.epoch, wake: wake))
            return false
        }
        if ready { wake() }
    }
}
