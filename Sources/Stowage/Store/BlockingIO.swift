import Foundation

/// Blocking work — hashing and writing a chunk, reading and verifying one, compaction's
/// copies — runs here: a fixed pool of threads, never a cooperative (or NIO) thread, and
/// never an unbounded number of them (the global Dispatch pool grows a thread for every
/// blocked one). Work waits in a FIFO queue when every thread is busy.
enum BlockingIO {
    /// One thread per core, and at least two (one may hash while another writes).
    static let threadCount = max(2, ProcessInfo.processInfo.activeProcessorCount)
    private static let pool = BlockingPool(threads: threadCount)

    static func run<R: Sendable>(_ body: @escaping @Sendable () throws -> R) async throws -> R {
        try await withCheckedThrowingContinuation { continuation in
            pool.submit { continuation.resume(with: Result { try body() }) }
        }
    }
}

/// A fixed set of threads taking work from one queue.
/// `@unchecked Sendable`: `queue` is guarded by `condition`; the threads are immutable.
private final class BlockingPool: @unchecked Sendable {
    private let condition = NSCondition()
    private var queue: [@Sendable () -> Void] = []
    private var head = 0

    init(threads: Int) {
        for number in 0..<threads {
            let thread = Thread { [self] in self.work() }
            thread.name = "stowage-blocking-\(number)"
            thread.start()
        }
    }

    func submit(_ work: @escaping @Sendable () -> Void) {
        condition.lock()
        queue.append(work)
        condition.signal()
        condition.unlock()
    }

    private func work() {
        while true {
            condition.lock()
            while head == queue.count { condition.wait() }
            let next = queue[head]
            head += 1
            if head > 1024 && head * 2 > queue.count {
                queue.removeFirst(head)
                head = 0
            }
            condition.unlock()
            next()
        }
    }
}
