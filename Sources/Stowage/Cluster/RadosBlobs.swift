import Glibc
import Synchronization

/// The blob seam's cluster backend (Seams/BlobSeam.swift): each container is one RADOS
/// object, `PREFIX<16 hex digits>`, written by one writer and never rewritten.
///
/// - `reserve` names a new object with a random 64-bit id (gateways share no counter;
///   a collision needs ~2³² objects alive at once) and grants at most
///   `maxContainerBytes`, below RADOS' `osd_max_object_size` (128 MiB by default); a
///   larger object spans several containers.
/// - `write` starts an asynchronous RADOS write (librados copies the bytes) and keeps up to
///   `writesInFlight` per container in flight; `makeDurable` waits for every one of them:
///   RADOS completes a write once every replica has committed it, so the index commit
///   that follows references only bytes the pool holds (I3).
/// - `pin` is a name; `load` reads the chunk into a buffer of its own.
/// - `released` queues the container for deletion in the index (`deletions` table), in
///   the same transaction that dropped the last reference; `sweep` deletes queued objects
///   once the entry has been seen for `graceSeconds`, so a reader that found the extents
///   before the release still finds their bytes (a GET that takes longer than that after
///   its object was replaced or deleted can fail mid-body — docs/ARCHITECTURE.md).
final class RadosBlobs: BlobBackend {
    /// The deletion queue: container id (big-endian u64) → empty. Not one of
    /// `Index.tables`: only this backend writes it, and only an etcd index holds it.
    static let deletions = Table(id: 32, name: "deletions")

    let pool: RadosPool
    let prefix: String

    /// A `stat` of a name no blob has: ENOENT from an OSD is an answer.
    func probe() throws {
        _ = try pool.stat(prefix + "probe")
    }
    let maxContainerBytes: UInt64
    let writesInFlight: Int
    private let pending = Mutex<[UInt64: [RadosPool.PendingWrite]]>([:])
    /// When this gateway first saw each queued deletion.
    private let firstSeen = Mutex<[UInt64: ContinuousClock.Instant]>([:])

    init(pool: RadosPool, prefix: String = "stowage.blob.", maxContainerBytes: UInt64 = 64 << 20, writesInFlight: Int = 8) {
        self.pool = pool
        self.prefix = prefix
        self.maxContainerBytes = maxContainerBytes
        self.writesInFlight = writesInFlight
    }

    func name(_ container: UInt64) -> String {
        let hex = String(container, radix: 16)
        return prefix + String(repeating: "0", count: 16 - hex.count) + hex
    }

    func container(named name: String) -> UInt64? {
        guard name.hasPrefix(prefix) else { return nil }
        return UInt64(name.dropFirst(prefix.count), radix: 16)
    }

    // MARK: Writing

    func reserve(maxLength: UInt64, chunkBytes: UInt64) throws -> BlobSpace {
        precondition(maxLength > 0 && chunkBytes > 0 && chunkBytes <= maxContainerBytes)
        var container: UInt64 = 0
        while container == 0 { container = UInt64.random(in: 1...UInt64.max) }
        let length = maxLength <= maxContainerBytes ? maxLength : maxContainerBytes / chunkBytes * chunkBytes
        return BlobSpace(container: container, offsetBytes: 0, lengthBytes: length)
    }

    func write(_ bytes: UnsafeRawBufferPointer, container: UInt64, at offsetBytes: UInt64) throws {
        let started = try pool.startWrite(name(container), bytes, offset: offsetBytes)
        let oldest = pending.withLock { p -> RadosPool.PendingWrite? in
            p[container, default: []].append(started)
            guard p[container]!.count > writesInFlight else { return nil }
            return p[container]!.removeFirst()
        }
        try oldest?.wait()
    }

    func giveBack(_ unused: BlobSpace) {}

    /// The writer is done: whatever it left in flight is waited for (an abandoned upload's
    /// writes finish; its object is an orphan for fsck to find).
    func unpin(_ container: UInt64) {
        let left = pending.withLock { $0.removeValue(forKey: container) } ?? []
        for write in left { try? write.wait() }
    }

    func makeDurable(_ containers: Set<UInt64>) throws {
        let writes = pending.withLock { p in containers.flatMap { p.removeValue(forKey: $0) ?? [] } }
        var failure: Error?
        for write in writes {
            do { try write.wait() } catch { failure = failure ?? error }
        }
        if let failure { throw failure }
    }

    func syncAll() throws {
        try makeDurable(Set(pending.withLock { Array($0.keys) }))
    }

    // MARK: Reading

    func pin(_ container: UInt64) throws -> any BlobPin {
        RadosPin(pool: pool, name: name(container))
    }

    // MARK: Space

    func committed(_ txn: borrowing WriteTransaction, _ extents: [Extent]) throws {}

    func released(_ txn: borrowing WriteTransaction, _ extents: [Extent]) throws {
        for container in Set(extents.map(\.segmentID)) {
            try txn.put(Self.deletions, IndexKey.id(container), [])
        }
    }

    /// Queued deletions: those seen for at least `grace` are removed from the pool and
    /// then from the queue, at most `limit` a pass (one `Txn` deletes their entries, and
    /// etcd's `--max-txn-ops` bounds it). Returns how many objects were deleted.
    func sweep(store: ObjectStore, grace: Duration, limit: Int, now: ContinuousClock.Instant = .now) async throws(StoreError) -> Int {
        let queued = try await store.readOffLoop { txn in
            var ids: [UInt64] = []
            try txn.scan(Self.deletions, from: []) { key, _ in
                if let id = IndexKey.decodeID(key) { ids.append(id) }
                return ids.count < 10_000
            }
            return ids
        }
        let due = firstSeen.withLock { seen -> [UInt64] in
            let current = Set(queued)
            seen = seen.filter { current.contains($0.key) }
            for id in queued where seen[id] == nil { seen[id] = now }
            return Array(queued.filter { now - seen[$0]! >= grace }.prefix(limit))
        }
        guard !due.isEmpty else { return 0 }
        do {
            try await BlockingIO.runWaiting { [self] in
                for id in due { _ = try pool.remove(name(id)) }
            }
        } catch {
            throw StoreError.wrapping(error, "deleting released RADOS objects")
        }
        try await store.mutate { txn in
            for id in due { try txn.delete(Self.deletions, IndexKey.id(id)) }
        }
        firstSeen.withLock { seen in for id in due { seen[id] = nil } }
        return due.count
    }
}

/// A reader's hold on one RADOS object: its name. Bytes come in a buffer of their own.
struct RadosPin: BlobPin {
    let pool: RadosPool
    let name: String

    /// Unknown without a round trip; `load` reports a short object instead.
    var lengthBytes: UInt64 { .max }

    func load(offsetBytes: UInt64, count: Int) throws -> BlobBytes {
        let buffer = OwnedBytes(count: count)
        let read = try pool.read(name, into: buffer.bytes, offset: offsetBytes)
        guard read == count else {
            throw RadosError(operation: "read \(name): \(read) of \(count) bytes at \(offsetBytes) (shorter than the index says)", code: EIO)
        }
        return BlobBytes(owner: buffer, start: UnsafeRawPointer(buffer.bytes.baseAddress!), count: count)
    }

    func finished(offsetBytes: UInt64, count: Int) {}

    /// Four chunks in flight per GET: RADOS serves them from different OSDs in parallel.
    var readAhead: Int { 4 }
}

/// A heap buffer that lives as long as the bytes lent from it.
final class OwnedBytes: @unchecked Sendable {
    let bytes: UnsafeMutableRawBufferPointer

    init(count: Int) {
        bytes = .allocate(byteCount: max(count, 1), alignment: 16)
    }

    deinit { bytes.deallocate() }
}
