import Foundation

/// The single writer: one dedicated thread owns every LMDB write transaction.
///
/// Callers queue mutations; the thread takes everything queued, `fdatasync`s the segments
/// those mutations wrote (I3), applies each mutation in a nested transaction of one shared
/// write transaction — so each is checked against its own preconditions, in order, and a
/// failing one leaves the others untouched — commits once, and then answers them all
/// (group commit: one index sync for the whole batch).
final class IndexWriter: @unchecked Sendable {
    // `queue` and `stopping` are guarded by `condition`; the rest is immutable.
    private let condition = NSCondition()
    private var queue: [PendingMutation] = []
    private var stopping = false
    private var thread: Thread?
    private let finished = DispatchSemaphore(value: 0)

    private let environment: LMDBEnvironment
    private let extents: ExtentStore
    private let syncData: Bool

    /// Most mutations applied in one transaction; the rest wait for the next batch.
    static let maxBatchCount = 1024

    init(environment: LMDBEnvironment, extents: ExtentStore, syncData: Bool) {
        self.environment = environment
        self.extents = extents
        self.syncData = syncData
        let thread = Thread { [unowned self] in self.run() }
        thread.name = "stowage-index-writer"
        self.thread = thread
        thread.start()
    }

    /// Applies `body` in the next group commit and returns its result once that commit is
    /// durable. `dataSegments` are the segments whose newly written bytes the mutation
    /// will reference: they are synced before the commit.
    func submit<R: Sendable>(dataSegments: Set<UInt64> = [],
                             _ body: @escaping @Sendable (borrowing Transaction) throws -> R) async throws -> R {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<R, Error>) in
            let pending = PendingMutation(dataSegments: dataSegments, body: body, continuation: continuation)
            condition.lock()
            if stopping {
                condition.unlock()
                continuation.resume(throwing: StoreError(.closed, "The store is closed"))
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
        let wasRunning = !stopping
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

    private func nextBatch() -> [PendingMutation]? {
        condition.lock()
        defer { condition.unlock() }
        while queue.isEmpty && !stopping { condition.wait() }
        if queue.isEmpty { return nil }
        let count = min(queue.count, Self.maxBatchCount)
        let batch = Array(queue.prefix(count))
        queue.removeFirst(count)
        return batch
    }

    private func commit(_ batch: [PendingMutation]) {
        do {
            try syncSegments(of: batch)
            try environment.write { txn in
                for mutation in batch { mutation.apply(txn) }
            }
            for mutation in batch { mutation.answer(commitError: nil) }
        } catch {
            let failure = StoreError.wrapping(error, "group commit")
            for mutation in batch { mutation.answer(commitError: failure) }
        }
    }

    /// I3: object data is on disk before the index transaction that references it commits.
    private func syncSegments(of batch: [PendingMutation]) throws {
        guard syncData else { return }
        var segments = Set<UInt64>()
        for mutation in batch { segments.formUnion(mutation.dataSegments) }
        for id in segments.sorted() {
            do { try extents.segment(id).sync() } catch { throw error.storeError }
        }
    }
}

/// One queued mutation and the caller waiting for it.
private final class PendingMutation: @unchecked Sendable {
    // Touched only by the writer thread between `apply` and `answer`.
    let dataSegments: Set<UInt64>
    private let body: @Sendable (borrowing Transaction) throws -> Any
    private let deliver: (Result<Any, Error>) -> Void
    private var outcome: Result<Any, Error>?

    init<R: Sendable>(dataSegments: Set<UInt64>, body: @escaping @Sendable (borrowing Transaction) throws -> R,
                      continuation: CheckedContinuation<R, Error>) {
        self.dataSegments = dataSegments
        self.body = { txn in try body(txn) }
        self.deliver = { result in
            // Force casts are safe: `body` produced this value as an R.
            continuation.resume(with: result.map { $0 as! R })
        }
    }

    func apply(_ txn: borrowing Transaction) {
        do {
            let value = try txn.nested { child in try body(child) }
            outcome = .success(value)
        } catch {
            outcome = .failure(StoreError.wrapping(error, "index update"))
        }
    }

    func answer(commitError: StoreError?) {
        if let commitError {
            deliver(.failure(commitError))
        } else {
            deliver(outcome ?? .failure(StoreError(.index, "mutation was never applied")))
        }
    }
}

extension StoreError {
    /// Passes a `StoreError` through; names LMDB, I/O and record errors.
    static func wrapping(_ error: Error, _ context: String) -> StoreError {
        switch error {
        case let error as StoreError:
            return error
        case let error as LMDBError where error.code == ENOSPC || error.code == EDQUOT:
            return StoreError(.diskFull, "No space left on the device holding the index during \(context)", cause: error)
        case let error as LMDBError where error.code == LMDBError.mapFull:
            return StoreError(.indexFull, "The index is full (LMDB map size reached) during \(context); raise the map size", cause: error)
        case let error as LMDBError:
            return StoreError(.index, "\(context): \(error)", cause: error)
        case let error as IOError:
            return error.storeError
        case let error as RecordError:
            return StoreError(.corrupt, "\(context): \(error)", cause: error)
        default:
            return StoreError(.io, "\(context): \(error)")
        }
    }
}
