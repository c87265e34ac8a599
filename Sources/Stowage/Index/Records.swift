/// The records stored in the index tables. Layouts are documented byte by byte in
/// docs/ARCHITECTURE.md; `RecordLayoutTests` pins their sizes.

/// `buckets`: bucket name → created time and flags.
struct BucketRecord: Equatable {
    static let version: UInt8 = 1
    var createdMilliseconds: Int64
    /// Reserved; versioning is never on (rename needs it off).
    var flags: UInt32 = 0

    func encoded() -> [UInt8] {
        var w = RecordWriter(version: Self.version)
        w.i64(createdMilliseconds)
        w.u32(flags)
        return w.bytes
    }

    init(createdMilliseconds: Int64, flags: UInt32 = 0) {
        self.createdMilliseconds = createdMilliseconds
        self.flags = flags
    }

    init(decoding bytes: UnsafeRawBufferPointer) throws(RecordError) {
        var r = try RecordReader(bytes, record: "bucket", expectedVersion: Self.version)
        createdMilliseconds = try r.i64()
        flags = try r.u32()
        try r.finish()
    }
}

/// `objects`: bucket ‖ 0x00 ‖ key → the key's record. Small: rename moves only this.
struct ObjectRecord: Equatable {
    static let version: UInt8 = 1
    var blobID: UInt64
    var size: UInt64
    var etag: String
    var lastModifiedMilliseconds: Int64
    /// 0 for a single-part object.
    var partCount: UInt32
    var attributes: ObjectAttributes

    func encoded() -> [UInt8] {
        var w = RecordWriter(version: Self.version)
        w.u64(blobID)
        w.u64(size)
        w.string(etag)
        w.i64(lastModifiedMilliseconds)
        w.u32(partCount)
        let a = attributes
        for field in [a.contentType, a.contentEncoding, a.contentDisposition, a.contentLanguage,
                      a.cacheControl, a.expires, a.storageClass, a.serverSideEncryption] {
            w.optionalString(field)
        }
        w.u16(UInt16(a.userMetadata.count))
        for (name, value) in a.userMetadata {
            w.string(name)
            w.string(value)
        }
        w.u8(UInt8(a.checksums.count))
        for (algorithm, value) in a.checksums {
            w.string(algorithm)
            w.string(value)
        }
        return w.bytes
    }

    init(blobID: UInt64, size: UInt64, etag: String, lastModifiedMilliseconds: Int64,
         partCount: UInt32, attributes: ObjectAttributes) {
        self.blobID = blobID
        self.size = size
        self.etag = etag
        self.lastModifiedMilliseconds = lastModifiedMilliseconds
        self.partCount = partCount
        self.attributes = attributes
    }

    init(decoding bytes: UnsafeRawBufferPointer) throws(RecordError) {
        var r = try RecordReader(bytes, record: "object", expectedVersion: Self.version)
        blobID = try r.u64()
        size = try r.u64()
        etag = try r.string()
        lastModifiedMilliseconds = try r.i64()
        partCount = try r.u32()
        var a = ObjectAttributes()
        a.contentType = try r.optionalString()
        a.contentEncoding = try r.optionalString()
        a.contentDisposition = try r.optionalString()
        a.contentLanguage = try r.optionalString()
        a.cacheControl = try r.optionalString()
        a.expires = try r.optionalString()
        a.storageClass = try r.optionalString()
        a.serverSideEncryption = try r.optionalString()
        let metadataCount = Int(try r.u16())
        for _ in 0..<metadataCount {
            a.userMetadata.append((try r.string(), try r.string()))
        }
        let checksumCount = Int(try r.u8())
        for _ in 0..<checksumCount {
            a.checksums.append((try r.string(), try r.string()))
        }
        attributes = a
        try r.finish()
    }

    func info(key: String) -> ObjectInfo {
        ObjectInfo(key: key, size: size, etag: etag, lastModifiedMilliseconds: lastModifiedMilliseconds,
                   attributes: attributes, partCount: partCount == 0 ? nil : Int(partCount))
    }
}

/// A run of object bytes in one segment file, with an XXH3 per chunk: every chunk is
/// `chunkSizeBytes` long except the extent's last, which may be shorter.
struct Extent: Equatable, Sendable {
    var segmentID: UInt64
    var offsetBytes: UInt64
    var lengthBytes: UInt64
    var chunkHashes: [UInt64]
}

/// `blobs`: blob id (big-endian u64) → the bytes' location and checksums.
struct BlobRecord: Equatable {
    static let version: UInt8 = 1
    /// Keys (and, later, upload parts) that reference this blob.
    var referenceCount: UInt32
    var size: UInt64
    var chunkSizeBytes: UInt32
    var extents: [Extent]

    func encoded() -> [UInt8] {
        var w = RecordWriter(version: Self.version)
        w.u32(referenceCount)
        w.u64(size)
        w.u32(chunkSizeBytes)
        w.u32(UInt32(extents.count))
        for extent in extents {
            w.u64(extent.segmentID)
            w.u64(extent.offsetBytes)
            w.u64(extent.lengthBytes)
            w.u32(UInt32(extent.chunkHashes.count))
            for hash in extent.chunkHashes { w.u64(hash) }
        }
        return w.bytes
    }

    init(referenceCount: UInt32, size: UInt64, chunkSizeBytes: UInt32, extents: [Extent]) {
        self.referenceCount = referenceCount
        self.size = size
        self.chunkSizeBytes = chunkSizeBytes
        self.extents = extents
    }

    init(decoding bytes: UnsafeRawBufferPointer) throws(RecordError) {
        var r = try RecordReader(bytes, record: "blob", expectedVersion: Self.version)
        referenceCount = try r.u32()
        size = try r.u64()
        chunkSizeBytes = try r.u32()
        guard chunkSizeBytes > 0 else { throw RecordError(record: "blob", reason: "chunk size 0") }
        let extentCount = Int(try r.u32())
        extents = []
        for _ in 0..<extentCount {
            let segmentID = try r.u64()
            let offset = try r.u64()
            let length = try r.u64()
            let hashCount = Int(try r.u32())
            let expected = length / UInt64(chunkSizeBytes) + (length % UInt64(chunkSizeBytes) == 0 ? 0 : 1)
            guard UInt64(hashCount) == expected else {
                throw RecordError(record: "blob", reason: "extent of \(length) bytes has \(hashCount) chunk hashes, expected \(expected)")
            }
            var hashes = [UInt64]()
            hashes.reserveCapacity(hashCount)
            for _ in 0..<hashCount { hashes.append(try r.u64()) }
            extents.append(Extent(segmentID: segmentID, offsetBytes: offset, lengthBytes: length, chunkHashes: hashes))
        }
        try r.finish()
        var total: UInt64 = 0
        for extent in extents {
            let (sum, overflow) = total.addingReportingOverflow(extent.lengthBytes)
            let (_, beyond) = extent.offsetBytes.addingReportingOverflow(extent.lengthBytes)
            guard !overflow, !beyond else { throw RecordError(record: "blob", reason: "extent sizes overflow") }
            total = sum
        }
        guard total == size else {
            throw RecordError(record: "blob", reason: "extent lengths do not add up to size \(size)")
        }
    }
}

/// `segments`: segment id (big-endian u64) → space accounting (I7).
struct SegmentRecord: Equatable {
    static let version: UInt8 = 1
    enum State: UInt8 { case open = 0, sealed = 1, retiring = 2 }

    var capacityBytes: UInt64
    /// End of the highest committed extent: appends resume here after a restart.
    var highWaterBytes: UInt64
    var liveBytes: UInt64
    var deadBytes: UInt64
    var state: State

    func encoded() -> [UInt8] {
        var w = RecordWriter(version: Self.version)
        w.u64(capacityBytes)
        w.u64(highWaterBytes)
        w.u64(liveBytes)
        w.u64(deadBytes)
        w.u8(state.rawValue)
        return w.bytes
    }

    init(capacityBytes: UInt64, highWaterBytes: UInt64 = 0, liveBytes: UInt64 = 0,
         deadBytes: UInt64 = 0, state: State = .open) {
        self.capacityBytes = capacityBytes
        self.highWaterBytes = highWaterBytes
        self.liveBytes = liveBytes
        self.deadBytes = deadBytes
        self.state = state
    }

    init(decoding bytes: UnsafeRawBufferPointer) throws(RecordError) {
        var r = try RecordReader(bytes, record: "segment", expectedVersion: Self.version)
        capacityBytes = try r.u64()
        highWaterBytes = try r.u64()
        liveBytes = try r.u64()
        deadBytes = try r.u64()
        let raw = try r.u8()
        guard let state = State(rawValue: raw) else {
            throw RecordError(record: "segment", reason: "unknown state \(raw)")
        }
        self.state = state
        try r.finish()
    }
}

/// `tokens`: client token → the rename it answered, kept at least `tokenLifetime`.
struct TokenRecord: Equatable {
    static let version: UInt8 = 1
    var expiresMilliseconds: Int64
    /// The canonical encoding of the rename's parameters (`RenameRequest.fingerprint`).
    var fingerprint: [UInt8]

    func encoded() -> [UInt8] {
        var w = RecordWriter(version: Self.version)
        w.i64(expiresMilliseconds)
        w.blob(fingerprint)
        return w.bytes
    }

    init(expiresMilliseconds: Int64, fingerprint: [UInt8]) {
        self.expiresMilliseconds = expiresMilliseconds
        self.fingerprint = fingerprint
    }

    init(decoding bytes: UnsafeRawBufferPointer) throws(RecordError) {
        var r = try RecordReader(bytes, record: "token", expectedVersion: Self.version)
        expiresMilliseconds = try r.i64()
        fingerprint = try r.blob()
        try r.finish()
    }
}

/// Key encodings.
enum IndexKey {
    static func object(bucket: String, key: String) -> [UInt8] {
        var bytes = Array(bucket.utf8)
        bytes.append(0)
        bytes.append(contentsOf: key.utf8)
        return bytes
    }

    /// The first possible object key of `bucket` (for range scans).
    static func objectPrefix(bucket: String) -> [UInt8] {
        var bytes = Array(bucket.utf8)
        bytes.append(0)
        return bytes
    }

    static func id(_ value: UInt64) -> [UInt8] {
        withUnsafeBytes(of: value.bigEndian) { Array($0) }
    }

    static func decodeID(_ bytes: UnsafeRawBufferPointer) -> UInt64? {
        guard bytes.count == 8 else { return nil }
        return UInt64(bigEndian: bytes.loadUnaligned(as: UInt64.self))
    }
}
