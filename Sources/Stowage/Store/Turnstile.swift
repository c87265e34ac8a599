import Synchronization

/// An async lock: one holder at a time, waiters resumed in order by `release`, no polling.
final class Turnstile: Sendable {
    private struct State {
        var held = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())

    func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let granted = state.withLock { s -> Bool in
                guard s.held else { s.held = true; return true }
                s.waiters.append(continuation)
                return false
            }
            if granted { continuation.resume() }
        }
    }

    func release() {
        let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard !s.waiters.isEmpty else { s.held = false; return nil }
            return s.waiters.removeFirst()   // stays held: the turn passes to the next waiter
        }
        next?.resume()
    }
}
