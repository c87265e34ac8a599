import Dispatch
import Synchronization

/// The store's background work and compaction's running state. It lives with the store
/// (which holds it and stops the background task on close); compaction (Compaction/)
/// fills it in, cluster maintenance uses its background slot. Store/ knows no type of
/// Compaction/'s.
final class CompactionState: Sendable {
    struct Totals {
        var passes = 0
        var segmentsRetired = 0
        var bytesMoved: UInt64 = 0
        var bytesReclaimed: UInt64 = 0
    }
    let totals = Mutex(Totals())
    /// One pass at a time.
    let turn = Turnstile()
    let background = Mutex<Task<Void, Never>?>(nil)

    /// Cancels the background loop and waits for its pass to end.
    func stopBackground() {
        guard let task = background.withLock({ t -> Task<Void, Never>? in defer { t = nil }; return t }) else { return }
        task.cancel()
        let done = DispatchSemaphore(value: 0)
        Task.detached { await task.value; done.signal() }
        done.wait()
    }
}
