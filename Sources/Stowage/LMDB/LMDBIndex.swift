import Foundation

/// The LMDB index backend (`IndexBackend`): one environment, and the single writer —
/// one dedicated thread owns every LMDB write transaction.
///
/// Callers queue mutations; the thread takes everything queued, makes the data those
/// mutations reference durable (I3, one call for the batch), applies each mutation in a
/// nested transaction of one shared write transaction — so each is checked against its own
/// preconditions, in order, and a failing one leaves the others untouched — commits once,
/// and then answers them all (group commit: one index sync for the whole batch). A
/// mutation runs exactly once.
final class LMDBIndex: IndexBackend, @unchecked Sendable {
    // `queue` and `stopping` are guarded by `condition`; the rest is immutable.
    private let condition = NSCondition()
    private var queue: [any PendingMutation] = []
    private var stopping = false
    private var thread: Thread?
    private let finished = DispatchSemaphore(value: 0)

    let environment: LMDBEnvironment

    var usage: (mapBytes: UInt64, usedBytes: UInt64)? { environment.usage }
    /// Makes the given segments' written bytes durable (the blob seam's sync); set once by
    /// `start`, before the writer thread reads it.
    private var makeDurable: @Sendable (Set<UInt64>) throws -> Void = { _ in }

    /// Most mutations applied in one transaction; the rest wait for the next batch.
    static let maxBatchCount = 1024

    init(environment: LMDBEnvironment) {
        self.environment = environment
    }

    func start(makeDurable: @escaping @Sendable (Set<UInt64>) throws -> Void) {
        precondition(thread == nil, "started twice")
        self.makeDurable = makeDurable
        let thread = Thread { [unowned self] in
            // Named from inside: set from outside, Linux kept the creator's name (a Dispatch
            // worker's), so `top -H`, perf and `bench_commit.py` could not tell the writer
            // apart. 15 bytes at most.
            Thread.current.name = "stowage-writer"
            self.run()
        }
        self.thread = thread
        thread.start()
    }

    func read<R>(_ body: (borrowing ReadTransaction) throws -> R) throws -> R {
        try environment.read(body)
    }

    func setUp<R>(_ body: (borrowing WriteTransaction) throws -> R) throws -> R {
        try environment.write(body)
    }

    func sync() throws {
        try environment.sync()
    }

    func close() {
        stop()
        environment.close()
    }

    /// Applies `body` in the next group commit and returns its result once that commit is
    /// durable.
    func mutate<R: Sendable>(durable: DurabilityBarrier, _ body: @escaping Mutation<R>) async throws -> R {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<R, Error>) in
            let pending = TypedPendingMutation(segments: durable.containers, body: body, continuation: continuation)
            condition.lock()
            if stopping {
                condition.unlock()
                continuation.resume(throwing: IndexBackendError.closed)
                return
            }
            queue.append(pending)
            condition.signal()
            condition.unlock()
        }
    }

    /// Finishes every queued mutation, then stops the thread.
    func stop() {
        condition.lock()
        let wasRunning = !stopping && thread != nil
        stopping = true
        condition.signal()
        condition.unlock()
        if wasRunning { finished.wait() }
    }

    private func run() {
        while let batch = nextBatch() {
            commit(batch)
        }
        finished.signal()
    }

    private func nextBatch() -> [any PendingMutation]? {
        condition.lock()
        defer { condition.unlock() }
        while queue.isEmpty && !stopping { condition.wait() }
        if queue.isEmpty { return nil }
        let count = min(queue.count, Self.maxBatchCount)
        let batch = Array(queue.prefix(count))
        queue.removeFirst(count)
        return batch
    }

    private func commit(_ batch: [any PendingMutation]) {
        EngineMetrics.commitBatchSize.record(batch.count)
        EngineMetrics.timed(EngineMetrics.commitDuration) {
            commitTimed(batch)
        }
    }

    private func commitTimed(_ batch: [any PendingMutation]) {
        do {
            // I3: object data is on disk before the index transaction that references it commits.
            try makeDurable(batch.reduce(into: Set<UInt64>()) { $0.formUnion($1.segments) })
            try environment.write { txn in
                for mutation in batch { mutation.apply(txn) }
            }
            for mutation in batch { mutation.answer(commitError: nil) }
        } catch {
            for mutation in batch { mutation.answer(commitError: error) }
        }
    }
}

/// One queued mutation and the caller waiting for it, whatever its result's type.
private protocol PendingMutation: AnyObject, Sendable {
    /// The containers whose bytes must be durable before the commit (I3).
    var segments: Set<UInt64> { get }
    /// Runs the mutation in a nested transaction of the batch's.
    func apply(_ txn: borrowing WriteTransaction)
    /// Answers the caller once the batch committed (or failed to).
    func answer(commitError: Error?)
}

/// Generic in its result, so that the answer reaches the caller as it was made: a
/// mutation erased to `Any` boxed every result and cast it back (`tryCast`, 0.7 % of a
/// 4 KiB PUT load's event-loop CPU).
private final class TypedPendingMutation<R: Sendable>: PendingMutation, @unchecked Sendable {
    // Touched only by the writer thread between `apply` and `answer`.
    let segments: Set<UInt64>
    private let body: Mutation<R>
    private let continuation: CheckedContinuation<R, Error>
    private var outcome: Result<R, Error>?

    init(segments: Set<UInt64>, body: @escaping Mutation<R>, continuation: CheckedContinuation<R, Error>) {
        self.segments = segments
        self.body = body
        self.continuation = continuation
    }

    func apply(_ txn: borrowing WriteTransaction) {
        do {
            let scope = MutationScope.enter()
            defer { MutationScope.leave(scope) }
            let value = try txn.nested { child in try body(child) }
            outcome = .success(value)
        } catch {
            outcome = .failure(error)
        }
    }

    func answer(commitError: Error?) {
        if let commitError {
            continuation.resume(throwing: commitError)
        } else {
            continuation.resume(with: outcome ?? .failure(IndexBackendError.notApplied))
        }
    }
}
