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
        var lifecyclePasses = 0
        var lifecycle = LifecycleReport()
    }
    let totals = Mutex(Totals())
    /// One pass at a time.
    let turn = Turnstile()
    let background = Mutex<Task<Void, Never>?>(nil)
    /// The lifecycle pass's loop (`startLifecycle`).
    let lifecycle = Mutex<Task<Void, Never>?>(nil)

    /// Cancels the background loops and waits for their passes to end.
    func stopBackground() {
        let tasks = [background.withLock { t -> Task<Void, Never>? in defer { t = nil }; return t },
                     lifecycle.withLock { t -> Task<Void, Never>? in defer { t = nil }; return t }]
        for case let task? in tasks {
            task.cancel()
            let done = DispatchSemaphore(value: 0)
            Task.detached { await task.value; done.signal() }
            done.wait()
        }
    }
}
