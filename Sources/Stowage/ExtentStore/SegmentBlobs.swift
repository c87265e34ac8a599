/// Segment files as the blob seam's embedded backend (Seams/BlobSeam.swift): a container
/// is a segment file, a pin is its mapping (unmapped when the last reader lets go, I6),
/// and released bytes are counted dead in the segment's record for compaction to reclaim.
extension ExtentStore: BlobBackend {
    func reserve(maxLength: UInt64, chunkBytes: UInt64) throws -> BlobSpace {
        let granted = try reserveSpace(maxLength: maxLength, chunkBytes: chunkBytes)
        return BlobSpace(container: granted.segment.id, offsetBytes: granted.offsetBytes, lengthBytes: granted.lengthBytes)
    }

    func reserveWithoutWaiting(maxLength: UInt64) -> BlobSpace? {
        // Granted whole or not at all: a short grant would have the writer ask again.
        guard let granted = grant(maxLength: maxLength, chunkBytes: maxLength) else { return nil }
        return BlobSpace(container: granted.segment.id, offsetBytes: granted.offsetBytes, lengthBytes: granted.lengthBytes)
    }

    func write(_ bytes: UnsafeRawBufferPointer, container: UInt64, at offsetBytes: UInt64) throws {
        try segment(container).write(bytes, at: offsetBytes)
    }

    /// A write under `SegmentFile.directMinimumBytes` is buffered: `pwrite` copies it into
    /// the page cache and returns; the disk is waited on by the commit's `fdatasync`, on
    /// the index writer's thread.
    var smallWritesReturnAtOnce: Bool { true }

    func giveBack(_ unused: BlobSpace) {
        release(segmentID: unused.container, offsetBytes: unused.offsetBytes, lengthBytes: unused.lengthBytes)
    }

    func makeDurable(_ containers: Set<UInt64>) throws {
        for id in containers.sorted() { try segment(id).sync() }
    }

    func pin(_ container: UInt64) throws -> any BlobPin {
        try segment(container).mapped()
    }

    // Space (I7): live bytes and the high-water mark on commit; dead bytes on release.

    func committed(_ txn: borrowing WriteTransaction, _ extents: [Extent]) throws {
        for extent in extents {
            try SegmentAccounts.adjust(txn, extent.segmentID, capacity: { try self.segment($0).capacityBytes }) { record in
                record.liveBytes += extent.lengthBytes
                record.highWaterBytes = max(record.highWaterBytes, extent.offsetBytes + extent.lengthBytes)
            }
        }
    }

    func released(_ txn: borrowing WriteTransaction, _ extents: [Extent]) throws {
        for extent in extents {
            try SegmentAccounts.adjust(txn, extent.segmentID, capacity: { _ in 0 }) { segment in
                segment.liveBytes -= min(segment.liveBytes, extent.lengthBytes)
            }
        }
    }
}

extension Mapping: BlobPin {
    var lengthBytes: UInt64 { UInt64(length) }

    func load(offsetBytes: UInt64, count: Int) throws -> BlobBytes {
        BlobBytes(owner: self, start: bytes(offset: offsetBytes, count: count).baseAddress ?? base, count: count)
    }

    /// A served chunk's pages leave the process (a long GET's resident set stays one chunk),
    /// but not a small one's: each `madvise(MADV_DONTNEED)` flushes the TLB on every core,
    /// which cost 6 % of the CPU of a 4 KiB GET load (perf, release, strict) to drop a page
    /// or two of clean page cache the kernel reclaims by itself.
    func finished(offsetBytes: UInt64, count: Int) {
        guard count >= Self.smallestDroppedChunk else { return }
        dropResidency(offset: offsetBytes, count: count)
    }

    static let smallestDroppedChunk = 64 << 10

    func isResident(offsetBytes: UInt64, count: Int) -> Bool { isResident(offset: offsetBytes, count: count) }
}
