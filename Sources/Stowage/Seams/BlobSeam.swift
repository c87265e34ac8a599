/// The blob seam: what the engine needs of the bytes, and nothing of where they live
/// (docs/ARCHITECTURE.md, "The seams").
///
/// Bytes live in **containers** named by a number: a segment file in the embedded engine,
/// a RADOS object in a cluster. An `Extent` (Index/Records.swift) names a run of one
/// container — `segmentID` is the container's number, whatever the backend — and carries
/// the XXH3 of each of its chunks, so every backend's bytes are verified the same way,
/// by the engine, on every read (I4).
///
/// A write goes: `reserve` space (the backend pins the container it is in against
/// reclamation), `write` each chunk into it, `giveBack` the tail not used, then the index
/// mutation that references the bytes is submitted with the containers written, and the
/// index backend calls `makeDurable` with them before it commits (I3). Afterwards, or when
/// the upload is abandoned, `unpin` once per reservation.
///
/// A read goes: inside the index read transaction that found the extents, `pin` each
/// container (so that reclamation, which waits for such readers, cannot take it), then,
/// outside the transaction and off the event loop, `load` each chunk and check its hash.
///
/// Space: when the index commits a blob its extents are `committed`, when the last
/// reference to a blob goes its extents are `released` — both **inside the mutation**, so
/// they obey the re-run rule: pure functions of the transaction, no effect outside it.
/// What "released" means is the backend's: segment files count the bytes dead and
/// compaction reclaims them later; a RADOS backend queues the container for deletion in
/// the index, in the same transaction, and deletes it once the queue entry is old enough
/// that no reader can still hold it.
protocol BlobBackend: BlobAccounting {
    /// Space for up to `maxLength` bytes of one writer. A grant shorter than asked is a
    /// whole number of `chunkBytes`, so extents break only at chunk boundaries; the writer
    /// asks again for the rest. Blocking: run it on `BlockingIO`.
    func reserve(maxLength: UInt64, chunkBytes: UInt64) throws -> BlobSpace

    /// Space for `maxLength` bytes if the backend can grant it without waiting (room in an
    /// open container: a lock and a sum), nil otherwise — then `reserve`, off the caller's
    /// thread. Nil by default.
    func reserveWithoutWaiting(maxLength: UInt64) -> BlobSpace?

    /// Writes one chunk inside a reservation. Blocking.
    func write(_ bytes: UnsafeRawBufferPointer, container: UInt64, at offsetBytes: UInt64) throws

    /// Whether `write` of at most `ObjectWriter.serialChunkBytes` returns without waiting on
    /// a device or the network (a copy into the page cache), so that a small body may be
    /// written on the request's own thread. False by default.
    var smallWritesReturnAtOnce: Bool { get }

    /// Hands back the unused tail of a reservation (the backend may reuse it or not).
    func giveBack(_ unused: BlobSpace)

    /// Ends one reservation's pin on its container: its writer has committed or given up.
    func unpin(_ container: UInt64)

    /// Makes everything written to `containers` durable. The index backend calls it
    /// before the commit that references those bytes (I3); in relaxed mode it is not called.
    func makeDurable(_ containers: Set<UInt64>) throws

    /// Makes every write durable (closing a relaxed store).
    func syncAll() throws

    /// Pins `container` for a reader: called inside the index read transaction that found
    /// the extents. `throws` when the container cannot be opened.
    func pin(_ container: UInt64) throws -> any BlobPin

    /// One cheap round trip that fails when the bytes cannot be reached (readiness). A
    /// local backend has nothing to probe.
    func probe() throws
}

extension BlobBackend {
    func probe() throws {}
    func reserveWithoutWaiting(maxLength: UInt64) -> BlobSpace? { nil }
    var smallWritesReturnAtOnce: Bool { false }
}

/// A reservation: `[offsetBytes, offsetBytes + lengthBytes)` of one container, for one writer.
struct BlobSpace: Sendable {
    let container: UInt64
    let offsetBytes: UInt64
    let lengthBytes: UInt64
}

/// A reader's hold on one container. Holding it keeps the container's bytes readable.
protocol BlobPin: Sendable {
    /// Bytes the container holds (reads past it are damage, reported before any load).
    var lengthBytes: UInt64 { get }
    /// The bytes `[offsetBytes, offsetBytes + count)`. Blocking (page faults, a network
    /// read): run it on `BlockingIO`. Not yet verified: the caller checks the XXH3.
    func load(offsetBytes: UInt64, count: Int) throws -> BlobBytes
    /// The reader is done with these bytes (a hint: mapped pages leave the process).
    func finished(offsetBytes: UInt64, count: Int)
    /// How many chunks a reader should keep loading ahead of the one it serves: 0 for
    /// memory (a mapping), a few when each load is a network round trip.
    var readAhead: Int { get }
    /// Whether `load` of these bytes would return without waiting (mapped pages in the
    /// page cache): a small chunk is then served on the caller's thread, with no hop to
    /// `BlockingIO`. False when unsure.
    func isResident(offsetBytes: UInt64, count: Int) -> Bool
}

extension BlobPin {
    var readAhead: Int { 0 }
    func isResident(offsetBytes: UInt64, count: Int) -> Bool { false }
}

/// Bytes lent by a blob backend, valid while `owner` lives: a mapping, or a buffer.
/// `@unchecked Sendable`: the bytes are immutable once lent and `owner` keeps them alive.
struct BlobBytes: @unchecked Sendable {
    let owner: AnyObject
    let start: UnsafeRawPointer
    let count: Int

    var buffer: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: start, count: count) }

    func slice(_ range: Range<Int>) -> BlobBytes {
        precondition(range.lowerBound >= 0 && range.upperBound <= count)
        return BlobBytes(owner: owner, start: start + range.lowerBound, count: range.count)
    }
}

/// What a blob backend records in the index as bytes gain or lose their last reference.
/// Both run inside a mutation: pure functions of the transaction (the re-run rule).
protocol BlobAccounting: Sendable {
    /// A new blob's extents, about to be referenced by the index.
    func committed(_ txn: borrowing WriteTransaction, _ extents: [Extent]) throws
    /// A deleted blob's extents: nothing references them any more.
    func released(_ txn: borrowing WriteTransaction, _ extents: [Extent]) throws
}
