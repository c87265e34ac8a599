import Dispatch
import Glibc
import Synchronization

/// Runs blocking file work — hashing and writing a chunk, loading and verifying one,
/// compaction's copies, `shutDown` — on a Dispatch thread, never on a cooperative (or NIO)
/// thread, and never more than `limit` jobs at once: a job over the limit waits for a
/// permit without holding a thread, so a burst of slow disk work cannot make the global
/// pool grow a thread for every blocked job.
///
/// The threads are Dispatch's: two designs with threads of our own were measured slower
/// (docs/ARCHITECTURE.md §7) — a fixed pool on a condition variable made a 4 KiB GET in
/// process 6 → 15 µs, and round-robin serial queues did not win it back. Here the bound
/// costs one uncontended lock on each side of the hop.
enum BlockingIO {
    /// Jobs running at once: enough to keep a disk queue full (and the two lanes of each
    /// PUT's chunk busy), far below the point where threads cost more than they wait.
    static let limit = max(16, 8 * Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))

    private struct Permits {
        var running = 0
        var waiting: [CheckedContinuation<Void, Never>] = []
        var highWater = 0
    }
    private static let permits = Mutex(Permits())

    static func run<R: Sendable>(_ body: @escaping @Sendable () throws -> R) async throws -> R {
        await acquire()
        return try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                let result = Result { try body() }
                release()
                continuation.resume(with: result)
            }
        }
    }

    /// The most jobs that ran at once since start (tests check the bound).
    static var highWater: Int { permits.withLock { $0.highWater } }

    private static func acquire() async {
        let granted = permits.withLock { p -> Bool in
            guard p.running < limit else { return false }
            p.running += 1
            p.highWater = max(p.highWater, p.running)
            return true
        }
        if granted { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = permits.withLock { p -> Bool in
                // A permit may have come free between the two locks.
                guard p.running >= limit else {
                    p.running += 1
                    p.highWater = max(p.highWater, p.running)
                    return true
                }
                p.waiting.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    /// Hands the permit to the oldest waiter, or gives it back.
    private static func release() {
        let next = permits.withLock { p -> CheckedContinuation<Void, Never>? in
            if p.waiting.isEmpty {
                p.running -= 1
                return nil
            }
            return p.waiting.removeFirst()
        }
        next?.resume()
    }
}
