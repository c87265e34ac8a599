import Dispatch

/// Runs blocking file work — hashing and writing a chunk, reading and verifying one,
/// compaction's copies — on a Dispatch thread, never on a cooperative (or NIO) thread.
///
/// The global Dispatch pool is not bounded. Two bounded designs were measured and not
/// kept (docs/ARCHITECTURE.md §7): a fixed pool of threads on a condition variable made a
/// 4 KiB GET in process 6 → 15 µs, and round-robin serial queues did not win it back.
enum BlockingIO {
    static func run<R: Sendable>(_ body: @escaping @Sendable () throws -> R) async throws -> R {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
        }
    }
}
