/// The index's tables and the record-level operations every store operation is made of.
/// Each function runs inside a transaction it is lent; none of them commits.
struct Index: Sendable {
    let meta: Table
    let buckets: Table
    let objects: Table
    let blobs: Table
    let segments: Table
    let uploads: Table
    let tokens: Table
    /// Noncurrent versions and delete markers (`Index/Versions.swift`).
    let versions: Table

    /// The on-disk format this build reads and writes (`meta["format"]`).
    static let formatVersion: UInt8 = 1
    static let formatKey = Array("format".utf8)
    static let nextBlobKey = Array("next-blob".utf8)

    /// The tables, in the order backends create them (docs/ARCHITECTURE.md).
    static let tables = ["meta", "buckets", "objects", "blobs", "segments", "uploads", "tokens", "versions"].enumerated()
        .map { Table(id: $0.offset, name: $0.element) }

    /// What the blob backend records as blobs are committed and released (the blob seam).
    let accounting: any BlobAccounting

    init(accounting: any BlobAccounting) {
        (meta, buckets, objects, blobs, segments, uploads, tokens, versions) =
            (Self.tables[0], Self.tables[1], Self.tables[2], Self.tables[3], Self.tables[4], Self.tables[5], Self.tables[6],
             Self.tables[7])
        self.accounting = accounting
    }

    // MARK: Buckets and objects

    func bucket(_ txn: borrowing some IndexReading & ~Copyable, _ name: String) throws -> BucketRecord? {
        try txn.withValue(buckets, Array(name.utf8)) { try BucketRecord(decoding: $0) }
    }

    func requireBucket(_ txn: borrowing some IndexReading & ~Copyable, _ name: String) throws {
        guard try bucket(txn, name) != nil else {
            throw StoreError(.noSuchBucket, "The specified bucket does not exist")
        }
    }

    // MARK: Blobs and space (I7)

    func blob(_ txn: borrowing some IndexReading & ~Copyable, _ id: UInt64) throws -> BlobRecord? {
        try txn.withValue(blobs, IndexKey.id(id)) { try BlobRecord(decoding: $0) }
    }

    /// Stores a new blob with one reference; the blob backend accounts its extents.
    /// Blob id 0 is the empty object, which has no record and no extents.
    /// - Parameter reserved: an id taken before the mutation from a range reserved by
    ///   `reserveBlobIDs` (cluster gateways, so that concurrent writers do not all
    ///   read and write `meta/next-blob`); nil: the next id, allocated here.
    func insertBlob(_ txn: borrowing WriteTransaction, _ blob: BlobRecord, reserved: UInt64? = nil) throws -> UInt64 {
        guard !blob.extents.isEmpty || blob.isComposite else { return 0 }
        let id: UInt64
        if let reserved {
            id = reserved
        } else {
            id = try nextBlobID(txn)
            try txn.put(meta, Self.nextBlobKey, withUnsafeBytes(of: (id + 1).littleEndian) { Array($0) })
        }
        guard try txn.put(blobs, IndexKey.id(id), blob.encoded(), noOverwrite: true) else {
            throw StoreError(.corrupt, "blob id \(id) is already taken (meta next-blob is behind the blob table)")
        }
        try accounting.committed(txn, blob.extents)
        return id
    }

    /// Reserves `count` blob ids: `meta/next-blob` moves past them.
    func reserveBlobIDs(_ txn: borrowing WriteTransaction, count: UInt64) throws -> Range<UInt64> {
        let first = try nextBlobID(txn)
        try txn.put(meta, Self.nextBlobKey, withUnsafeBytes(of: (first + count).littleEndian) { Array($0) })
        return first..<(first + count)
    }

    /// `meta["next-blob"]`: 8 bytes, little-endian; 1 in a new index.
    func nextBlobID(_ txn: borrowing some IndexReading & ~Copyable) throws -> UInt64 {
        try txn.withValue(meta, Self.nextBlobKey) { bytes in
            guard bytes.count == 8 else {
                throw RecordError(record: "meta next-blob", reason: "\(bytes.count) bytes, expected 8")
            }
            return UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
        } ?? 1
    }

    /// Adds one reference to a blob (copy; later, upload parts).
    func retainBlob(_ txn: borrowing WriteTransaction, _ id: UInt64) throws {
        guard id != 0 else { return }
        guard var record = try blob(txn, id) else {
            throw StoreError(.corrupt, "blob \(id) is referenced but missing")
        }
        record.referenceCount += 1
        try txn.put(blobs, IndexKey.id(id), record.encoded())
    }

    /// Drops one reference; the last one deletes the blob and turns its bytes dead.
    func releaseBlob(_ txn: borrowing WriteTransaction, _ id: UInt64) throws {
        guard id != 0 else { return }
        guard var record = try blob(txn, id) else {
            // fsck's repair quarantined the missing blob: its keys may still be deleted.
            if try quarantine(txn, id) != nil { return }
            throw StoreError(.corrupt, "blob \(id) is referenced but missing")
        }
        if record.referenceCount > 1 {
            record.referenceCount -= 1
            try txn.put(blobs, IndexKey.id(id), record.encoded())
            return
        }
        try txn.delete(blobs, IndexKey.id(id))
        // A composite's bytes belong to its pieces' data blobs.
        for piece in record.pieces { try releaseBlob(txn, piece.blobID) }
        try accounting.released(txn, record.extents)
    }

    /// Read-modify-write of a segment's accounting (`SegmentAccounts.adjust`).
    func adjustSegment(_ txn: borrowing WriteTransaction, _ id: UInt64, capacity: (UInt64) throws -> UInt64,
                       _ change: (inout SegmentRecord) -> Void) throws {
        try SegmentAccounts.adjust(txn, id, capacity: capacity, change)
    }

    func segment(_ txn: borrowing some IndexReading & ~Copyable, _ id: UInt64) throws -> SegmentRecord? {
        try txn.withValue(segments, IndexKey.id(id)) { try SegmentRecord(decoding: $0) }
    }

    /// Every segment record, by id.
    func allSegments(_ txn: borrowing some IndexReading & ~Copyable) throws -> [(UInt64, SegmentRecord)] {
        var result: [(UInt64, SegmentRecord)] = []
        try txn.scan(segments, from: []) { key, value in
            guard let id = IndexKey.decodeID(key) else {
                throw RecordError(record: "segment", reason: "bad key length \(key.count)")
            }
            result.append((id, try SegmentRecord(decoding: value)))
            return true
        }
        return result
    }

    /// Replaces (or creates) `key` with `record`, releasing the blob it replaced.
    func replaceObject(_ txn: borrowing WriteTransaction, bucket: String, key: String,
                       existing: ObjectRecord?, with record: ObjectRecord) throws {
        try putObject(txn, bucket: bucket, key: key, record)
        if let existing { try releaseBlob(txn, existing.blobID) }
    }

    /// Deletes `key` and releases its blob; false when it was not there.
    func deleteObject(_ txn: borrowing WriteTransaction, bucket: String, key: String) throws -> Bool {
        guard let existing = try object(txn, bucket: bucket, key: key) else { return false }
        _ = try removeObjectKey(txn, bucket: bucket, key: key)
        try releaseBlob(txn, existing.blobID)
        return true
    }
}

extension Index {
    /// Data blobs with at least one extent in `segment` (a scan of the blob table).
    func blobsWithExtents(in segment: UInt64, _ txn: borrowing some IndexReading & ~Copyable) throws -> [(UInt64, BlobRecord)] {
        var result: [(UInt64, BlobRecord)] = []
        try txn.scan(blobs, from: []) { key, value in
            guard let id = IndexKey.decodeID(key) else { return true }
            let record = try BlobRecord(decoding: value)
            if record.extents.contains(where: { $0.segmentID == segment }) { result.append((id, record)) }
            return true
        }
        return result
    }
}

/// The `segments` table's space accounting (I7), for the segment blob backend, compaction
/// and repair.
enum SegmentAccounts {
    /// Read-modify-write of a segment's record. Below the high-water mark every byte is
    /// live or dead, so `dead = highWater - live` is restored after every change.
    static func adjust(_ txn: borrowing WriteTransaction, _ id: UInt64, capacity: (UInt64) throws -> UInt64,
                       _ change: (inout SegmentRecord) -> Void) throws {
        let key = IndexKey.id(id)
        let table = Index.tables[4]
        var record = try txn.withValue(table, key) { try SegmentRecord(decoding: $0) } ?? SegmentRecord(capacityBytes: try capacity(id))
        change(&record)
        record.deadBytes = record.highWaterBytes - min(record.liveBytes, record.highWaterBytes)
        try txn.put(table, key, record.encoded())
    }
}

/// Accounting for an index opened only to be read (fsck's read-only store, opening):
/// a mutation that commits or releases a blob through it is a bug.
struct ReadOnlyAccounting: BlobAccounting {
    func committed(_ txn: borrowing WriteTransaction, _ extents: [Extent]) throws {
        throw StoreError(.index, "a read-only index was asked to commit a blob")
    }
    func released(_ txn: borrowing WriteTransaction, _ extents: [Extent]) throws {
        throw StoreError(.index, "a read-only index was asked to release a blob")
    }
}
