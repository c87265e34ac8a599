import Synchronization

/// Blob ids for a gateway of a cluster, taken from ranges it reserves in the index, so
/// that concurrent writers on several gateways do not all read and write
/// `meta/next-blob` in their mutations (a hot key that makes optimistic writers conflict;
/// docs/ARCHITECTURE.md §1a). An id is decided before its mutation runs (the re-run
/// rule); one that a refused mutation does not use is skipped, never reused.
final class BlobIDRanges: Sendable {
    let rangeSize: UInt64
    private let current = Mutex<Range<UInt64>>(0..<0)
    /// One refill at a time.
    private let refill = Turnstile()

    init(rangeSize: UInt64 = 1024) {
        self.rangeSize = rangeSize
    }

    func take(reserving: () async throws(StoreError) -> Range<UInt64>) async throws(StoreError) -> UInt64 {
        if let id = next() { return id }
        await refill.acquire()
        defer { refill.release() }
        if let id = next() { return id }
        let range = try await reserving()
        return current.withLock { r in
            r = range.dropFirst()
            return range.lowerBound
        }
    }

    private func next() -> UInt64? {
        current.withLock { r in
            guard let id = r.first else { return nil }
            r = r.dropFirst()
            return id
        }
    }
}

extension ObjectStore {
    /// An id for the blob a mutation will insert, decided before it runs: from this
    /// gateway's range in cluster mode; nil embedded (the single writer allocates in the
    /// mutation, without conflicts).
    func reservedBlobID() async throws(StoreError) -> UInt64? {
        guard let blobIDRanges else { return nil }
        return try await blobIDRanges.take { () async throws(StoreError) -> Range<UInt64> in
            let count = blobIDRanges.rangeSize
            return try await mutate { [index] txn in try index.reserveBlobIDs(txn, count: count) }
        }
    }
}
