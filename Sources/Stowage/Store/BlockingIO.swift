import Dispatch
import Glibc
import NIOPosix
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

    /// Runs `body`, which waits on the network (an etcd round trip, a RADOS read or a
    /// write's acknowledgement), on `waitingThreads`: threads of its own, never Dispatch's.
    /// On Linux Dispatch's global pool also runs Swift's cooperative executor and adds
    /// threads slowly, so a frozen etcd holding 24 Dispatch threads made a request that
    /// needs no index wait 3.5 s; here it holds only threads nothing else needs, and work
    /// beyond `waitingLimit` queues without holding any.
    static func runWaiting<R: Sendable>(_ body: @escaping @Sendable () throws -> R) async throws -> R {
        try await waitingThreads.runIfActive(body)
    }

    /// Where `runWaiting` runs: `.disk` work is file I/O and hashing, `.network` waits on
    /// a remote engine.
    enum Lane: Sendable { case disk, network }

    static func run<R: Sendable>(_ lane: Lane, _ body: @escaping @Sendable () throws -> R) async throws -> R {
        switch lane {
        case .disk: return try await run(body)
        case .network: return try await runWaiting(body)
        }
    }

    /// Waits on the network at once: more than any request mix on this machine keeps
    /// busy (each waiting request holds one), few enough to cost nothing idle.
    static let waitingLimit = 64
    static let waitingThreads: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: waitingLimit)
        pool.start()
        return pool
    }()

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
