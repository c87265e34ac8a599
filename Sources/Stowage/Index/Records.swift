import StowageChecksums

/// The records stored in the index tables. Layouts are documented byte by byte in
/// docs/ARCHITECTURE.md; `RecordLayoutTests` pins their sizes.

/// `buckets`: bucket name → created time, flags and Object Lock's default retention.
struct BucketRecord: Equatable {
    /// 1: created time and flags; 2: the same, then the default retention; 3: created
    /// time, flags, `u8` 0/1 and the default retention when 1, then the owner (a user's
    /// name). An owner-less record (formats 1 and 2) belongs to the administrator.
    static let version: UInt8 = 1
    static let withDefaultRetention: UInt8 = 2
    static let ownedFormat: UInt8 = 3
    var createdMilliseconds: Int64
    /// Bits 0–1: versioning (0 never enabled, 1 Enabled, 2 Suspended); bit 2: Object Lock
    /// enabled (never turned off); other bits 0. Versioning never returns to "never
    /// enabled", so a non-zero state is also the durable record that the bucket was
    /// versioned (RenameObject is refused from then on).
    var flags: UInt32 = 0
    /// Object Lock's default retention for new object versions.
    var defaultRetention: DefaultRetention?
    /// The user that created it; empty: the administrator (the server's own credentials).
    var owner = ""

    static let versioningMask: UInt32 = 0b11
    static let objectLockFlag: UInt32 = 0b100

    var objectLockEnabled: Bool {
        get { flags & Self.objectLockFlag != 0 }
        set { flags = newValue ? flags | Self.objectLockFlag : flags & ~Self.objectLockFlag }
    }

    var versioning: VersioningState {
        get { VersioningState(rawValue: flags & Self.versioningMask) ?? .enabled }
        set { flags = (flags & ~Self.versioningMask) | newValue.rawValue }
    }

    func encoded() -> [UInt8] {
        let format = !owner.isEmpty ? Self.ownedFormat : defaultRetention == nil ? Self.version : Self.withDefaultRetention
        var w = RecordWriter(version: format)
        w.i64(createdMilliseconds)
        w.u32(flags)
        if format == Self.ownedFormat { w.u8(defaultRetention == nil ? 0 : 1) }
        if let retention = defaultRetention {
            w.u8(retention.mode.rawValue)
            w.u8(retention.inYears ? 1 : 0)
            w.u32(retention.period)
        }
        if format == Self.ownedFormat { w.string(owner) }
        return w.bytes
    }

    init(createdMilliseconds: Int64, flags: UInt32 = 0) {
        self.createdMilliseconds = createdMilliseconds
        self.flags = flags
    }

    init(decoding bytes: UnsafeRawBufferPointer) throws(RecordError) {
        var r = try RecordReader(bytes, record: "bucket", acceptedVersions: Self.version...Self.ownedFormat)
        createdMilliseconds = try r.i64()
        flags = try r.u32()
        var hasRetention = r.version == Self.withDefaultRetention
        if r.version == Self.ownedFormat { hasRetention = try r.u8() == 1 }
        if hasRetention {
            let mode = try r.u8()
            let unit = try r.u8()
            let period = try r.u32()
            guard let mode = RetentionMode(rawValue: mode), unit <= 1, period > 0 else {
                throw RecordError(record: "bucket", reason: "bad default retention")
            }
            defaultRetention = DefaultRetention(mode: mode, period: period, inYears: unit == 1)
        }
        if r.version == Self.ownedFormat {
            owner = try r.string()
            guard !owner.isEmpty else { throw RecordError(record: "bucket", reason: "format 3 with no owner") }
        }
        try r.finish()
        guard flags & ~(Self.versioningMask | Self.objectLockFlag) == 0, flags & Self.versioningMask != 3 else {
            throw RecordError(record: "bucket", reason: "unknown flags \(flags)")
        }
    }
}

/// `objects`: bucket ‖ 0x00 ‖ key → the key's record. Small: rename moves only this.
struct ObjectRecord: Equatable {
    /// 1: no version id (the `null` version) and no Object Lock; 2: the same fields, then
    /// the version id (optstring), the retention mode (u8: 0 none, 1 GOVERNANCE,
    /// 2 COMPLIANCE), retain-until (i64 ms) and the legal hold (u8 0/1).
    /// 3: format 2's fields, then u16 T = tag count and T × (string key, string value).
    /// 4 (an object with an ACL of its own): format 2's fields, u16 T (0 too) and the tags,
    /// then the ACL (`RecordWriter.acl`).
    static let version: UInt8 = 1
    static let versionedFormat: UInt8 = 2
    static let taggedFormat: UInt8 = 3
    static let aclFormat: UInt8 = 4
    var blobID: UInt64
    var size: UInt64
    var etag: String
    var lastModifiedMilliseconds: Int64
    /// 0 for a single-part object.
    var partCount: UInt32
    var attributes: ObjectAttributes
    /// The version id a write to a versioning-enabled bucket gave it; nil is the `null`
    /// version (unversioned and suspended writes).
    var versionID: String?
    /// Object Lock: retention and legal hold of this version.
    var lock = ObjectLock()
    /// Tags (PutObjectTagging, `x-amz-tagging`), in the order given.
    var tags: [ObjectTag] = []
    /// The version's ACL (PutObjectAcl, `x-amz-acl`, `x-amz-grant-*`); nil: `private`,
    /// owned by the bucket's owner — what every object of a BucketOwnerEnforced bucket is.
    var acl: AccessControlList?

    func encoded() -> [UInt8] {
        let extended = versionID != nil || lock != ObjectLock() || !tags.isEmpty || acl != nil
        var w = RecordWriter(version: acl != nil ? Self.aclFormat : !tags.isEmpty ? Self.taggedFormat
                             : extended ? Self.versionedFormat : Self.version)
        w.u64(blobID)
        w.u64(size)
        w.string(etag)
        w.i64(lastModifiedMilliseconds)
        w.u32(partCount)
        w.attributes(attributes)
        if extended {
            w.optionalString(versionID)
            w.u8(lock.mode?.rawValue ?? 0)
            w.i64(lock.retainUntilMilliseconds)
            w.u8(lock.legalHold ? 1 : 0)
        }
        if let acl {
            w.tagList(tags)
            w.acl(acl)
        } else {
            w.tags(tags)
        }
        return w.bytes
    }

    init(blobID: UInt64, size: UInt64, etag: String, lastModifiedMilliseconds: Int64,
         partCount: UInt32, attributes: ObjectAttributes, versionID: String? = nil) {
        self.blobID = blobID
        self.size = size
        self.etag = etag
        self.lastModifiedMilliseconds = lastModifiedMilliseconds
        self.partCount = partCount
        self.attributes = attributes
        self.versionID = versionID
    }

    init(decoding bytes: UnsafeRawBufferPointer) throws(RecordError) {
        var r = try RecordReader(bytes, record: "object", acceptedVersions: Self.version...Self.aclFormat)
        blobID = try r.u64()
        size = try r.u64()
        etag = try r.string()
        lastModifiedMilliseconds = try r.i64()
        partCount = try r.u32()
        attributes = try r.attributes()
        if r.version >= Self.versionedFormat {
            versionID = try r.optionalString()
            let mode = try r.u8()
            guard mode == 0 || RetentionMode(rawValue: mode) != nil else {
                throw RecordError(record: "object", reason: "unknown retention mode \(mode)")
            }
            lock.mode = RetentionMode(rawValue: mode)
            lock.retainUntilMilliseconds = try r.i64()
            let hold = try r.u8()
            guard hold <= 1 else { throw RecordError(record: "object", reason: "bad legal hold \(hold)") }
            lock.legalHold = hold == 1
        }
        if r.version == Self.taggedFormat { tags = try r.tags() }
        if r.version == Self.aclFormat {
            tags = try r.tagList()
            acl = try r.acl()
        }
        try r.finish()
    }

    func info(key: String) -> ObjectInfo {
        var info = ObjectInfo(key: key, size: size, etag: etag, lastModifiedMilliseconds: lastModifiedMilliseconds,
                              attributes: attributes, partCount: partCount == 0 ? nil : Int(partCount),
                              lock: lock == ObjectLock() ? nil : lock, tags: tags)
        info.owner = acl?.owner
        return info
    }

    /// As `info`, with the version id S3 shows for it: none in a bucket never versioned,
    /// `null` for the null version of a versioned one.
    func info(key: String, versioning: VersioningState) -> ObjectInfo {
        var info = info(key: key)
        if versioning != .never { info.versionID = versionID ?? VersionID.null }
        return info
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

/// A byte range of a data blob, as a composite blob (a completed multipart upload) or an
/// upload part holds it. Each piece holds one reference on its blob.
struct BlobPiece: Equatable, Sendable {
    var blobID: UInt64
    var offsetBytes: UInt64
    var lengthBytes: UInt64
}

/// `blobs`: blob id (big-endian u64) → where the bytes are.
///
/// A *data* blob owns extents in segment files, with an XXH3 per chunk. A *composite*
/// blob (a completed multipart upload) owns no bytes: it lists pieces of data blobs and
/// the sizes of the parts it was made of. Either way, `referenceCount` counts the keys
/// (and, for data blobs, the composite pieces and upload parts) that point at it.
struct BlobRecord: Equatable {
    /// 1: plain; 2: version 1's fields, then the sealed data key of an encrypted data blob
    /// (`u8` scheme, `string` key id, `bytes` salt, `bytes` sealed key).
    static let version: UInt8 = 1
    static let encryptedFormat: UInt8 = 2
    var referenceCount: UInt32
    var size: UInt64
    /// Data blobs: bytes per XXH3 chunk, and the extents. Empty for a composite.
    var chunkSizeBytes: UInt32
    var extents: [Extent]
    /// Composite blobs: the pieces, in order, and the part sizes. Empty for a data blob.
    var pieces: [BlobPiece] = []
    var partSizes: [UInt64] = []
    /// An encrypted data blob's own key, sealed (SSE-S3, SSE-KMS, SSE-C); nil: plain bytes.
    var dataKey: SealedDataKey?

    var isComposite: Bool { !pieces.isEmpty }

    /// The blob containers its bytes lie in (for the durability barrier, I3).
    var containers: Set<UInt64> { Set(extents.map(\.segmentID)) }

    func encoded() -> [UInt8] {
        var w = RecordWriter(version: dataKey == nil ? Self.version : Self.encryptedFormat)
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
        w.pieces(pieces)
        w.u32(UInt32(partSizes.count))
        for part in partSizes { w.u64(part) }
        if let dataKey {
            w.u8(dataKey.scheme.rawValue)
            w.string(dataKey.keyID)
            w.blob(dataKey.salt)
            w.blob(dataKey.sealed)
        }
        return w.bytes
    }

    init(referenceCount: UInt32, size: UInt64, chunkSizeBytes: UInt32, extents: [Extent]) {
        self.referenceCount = referenceCount
        self.size = size
        self.chunkSizeBytes = chunkSizeBytes
        self.extents = extents
    }

    init(compositeOf pieces: [BlobPiece], partSizes: [UInt64]) {
        self.referenceCount = 1
        self.size = pieces.reduce(0) { $0 + $1.lengthBytes }
        self.chunkSizeBytes = 0
        self.extents = []
        self.pieces = pieces
        self.partSizes = partSizes
    }

    init(decoding bytes: UnsafeRawBufferPointer) throws(RecordError) {
        var r = try RecordReader(bytes, record: "blob", acceptedVersions: Self.version...Self.encryptedFormat)
        referenceCount = try r.u32()
        size = try r.u64()
        chunkSizeBytes = try r.u32()
        let extentCount = Int(try r.u32())
        extents = []
        for _ in 0..<extentCount { extents.append(try Self.decodeExtent(&r, chunkSizeBytes: chunkSizeBytes)) }
        pieces = try r.pieces()
        let partCount = Int(try r.u32())
        for _ in 0..<partCount { partSizes.append(try r.u64()) }
        if r.version == Self.encryptedFormat {
            let scheme = try r.u8()
            let keyID = try r.string()
            let salt = try r.blob()
            let sealed = try r.blob()
            guard let scheme = SealedDataKey.Scheme(rawValue: scheme), salt.count == SealedDataKey.saltBytes,
                  sealed.count == SealedDataKey.sealedBytes else {
                throw RecordError(record: "blob", reason: "bad sealed data key")
            }
            dataKey = SealedDataKey(scheme: scheme, keyID: keyID, salt: salt, sealed: sealed)
        }
        try r.finish()
        guard dataKey == nil || pieces.isEmpty else {
            throw RecordError(record: "blob", reason: "a composite blob with a data key")
        }
        guard extents.isEmpty || pieces.isEmpty else {
            throw RecordError(record: "blob", reason: "both extents and pieces")
        }
        let lengths = extents.map(\.lengthBytes) + pieces.map(\.lengthBytes)
        guard try Self.checkedSum(lengths) == size else {
            throw RecordError(record: "blob", reason: "extent or piece lengths do not add up to size \(size)")
        }
        let partTotal = try Self.checkedSum(partSizes)
        guard partSizes.isEmpty || partTotal == size else {
            throw RecordError(record: "blob", reason: "part sizes do not add up to size \(size)")
        }
    }

    private static func decodeExtent(_ r: inout RecordReader, chunkSizeBytes: UInt32) throws(RecordError) -> Extent {
        guard chunkSizeBytes > 0 else { throw RecordError(record: "blob", reason: "extents with chunk size 0") }
        let segmentID = try r.u64()
        let offset = try r.u64()
        let length = try r.u64()
        let hashCount = Int(try r.u32())
        let chunk = UInt64(chunkSizeBytes)
        let expected = length / chunk + (length % chunk == 0 ? 0 : 1)
        guard UInt64(hashCount) == expected else {
            throw RecordError(record: "blob", reason: "extent of \(length) bytes has \(hashCount) chunk hashes, expected \(expected)")
        }
        guard !offset.addingReportingOverflow(length).overflow else {
            throw RecordError(record: "blob", reason: "extent end overflows")
        }
        guard hashCount <= r.remaining / 8 else {
            throw RecordError(record: "blob", reason: "\(hashCount) chunk hashes but \(r.remaining) bytes left")
        }
        var hashes = [UInt64]()
        hashes.reserveCapacity(hashCount)
        for _ in 0..<hashCount { hashes.append(try r.u64()) }
        return Extent(segmentID: segmentID, offsetBytes: offset, lengthBytes: length, chunkHashes: hashes)
    }

    private static func checkedSum(_ values: [UInt64]) throws(RecordError) -> UInt64 {
        var total: UInt64 = 0
        for value in values {
            let (sum, overflow) = total.addingReportingOverflow(value)
            guard !overflow else { throw RecordError(record: "blob", reason: "sizes overflow") }
            total = sum
        }
        return total
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

/// A finished CompleteMultipartUpload, kept in the token table (under
/// `IndexKey.completion`, as a `TokenRecord` whose fingerprint is this record) for as long
/// as client tokens, so that a retry whose first answer was lost gets the same answer
/// instead of NoSuchUpload. Its lifetime and sweeping are the tokens'.
struct CompletionRecord: Equatable {
    static let version: UInt8 = 1
    var bucket: String
    var key: String
    /// The part list the request named: a retry must name the same one.
    var parts: [PartChoice]
    var size: UInt64
    var etag: String
    var lastModifiedMilliseconds: Int64
    var partCount: Int
    var checksums: [ChecksumValue]
    /// The version id S3 showed (format 2; nil: none, or `null`'s absence).
    var versionID: String?

    struct PartChoice: Equatable {
        var number: Int
        var etag: String
    }

    struct ChecksumValue: Equatable {
        var algorithm: String
        var value: String
    }

    func encoded() -> [UInt8] {
        var w = RecordWriter(version: versionID == nil ? Self.version : 2)
        w.string(bucket)
        w.string(key)
        w.u32(UInt32(parts.count))
        for part in parts {
            w.u32(UInt32(part.number))
            w.string(part.etag)
        }
        w.u64(size)
        w.string(etag)
        w.i64(lastModifiedMilliseconds)
        w.u32(UInt32(partCount))
        w.u32(UInt32(checksums.count))
        for checksum in checksums {
            w.string(checksum.algorithm)
            w.string(checksum.value)
        }
        if let versionID { w.string(versionID) }
        return w.bytes
    }

    init(bucket: String, key: String, parts: [PartChoice], size: UInt64, etag: String,
         lastModifiedMilliseconds: Int64, partCount: Int, checksums: [ChecksumValue], versionID: String? = nil) {
        self.bucket = bucket
        self.key = key
        self.parts = parts
        self.size = size
        self.etag = etag
        self.lastModifiedMilliseconds = lastModifiedMilliseconds
        self.partCount = partCount
        self.checksums = checksums
        self.versionID = versionID
    }

    init(decoding bytes: UnsafeRawBufferPointer) throws(RecordError) {
        var r = try RecordReader(bytes, record: "completion", acceptedVersions: Self.version...2)
        bucket = try r.string()
        key = try r.string()
        let partTotal = try r.u32()
        guard partTotal <= UInt32(Limits.maxPartNumber) else { throw RecordError(record: "completion", reason: "\(partTotal) parts") }
        parts = []
        for _ in 0..<partTotal {
            let number = Int(try r.u32())
            parts.append(PartChoice(number: number, etag: try r.string()))
        }
        size = try r.u64()
        etag = try r.string()
        lastModifiedMilliseconds = try r.i64()
        partCount = Int(try r.u32())
        let checksumTotal = try r.u32()
        guard checksumTotal <= 16 else { throw RecordError(record: "completion", reason: "\(checksumTotal) checksums") }
        checksums = []
        for _ in 0..<checksumTotal {
            let algorithm = try r.string()
            checksums.append(ChecksumValue(algorithm: algorithm, value: try r.string()))
        }
        versionID = r.version == 2 ? try r.string() : nil
        try r.finish()
    }
}

/// Key encodings.
enum IndexKey {
    /// A completion's key in the token table: a zero byte (no client token has one: they
    /// are ASCII 33–126), `complete/`, the upload id.
    static func completion(uploadID: String) -> [UInt8] {
        [0] + Array("complete/".utf8) + Array(uploadID.utf8)
    }

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

extension RecordWriter {
    /// Eight optional strings (content type, encoding, disposition, language, cache
    /// control, expires, storage class, SSE), u16 metadata count + (name, value) strings,
    /// u8 checksum count + (algorithm, value) strings.
    mutating func attributes(_ a: ObjectAttributes) {
        for field in [a.contentType, a.contentEncoding, a.contentDisposition, a.contentLanguage,
                      a.cacheControl, a.expires, a.storageClass, a.serverSideEncryption] {
            optionalString(field)
        }
        u16(UInt16(a.userMetadata.count))
        for (name, value) in a.userMetadata {
            string(name)
            string(value)
        }
        u8(UInt8(a.checksums.count))
        for (algorithm, value) in a.checksums {
            string(algorithm)
            string(value)
        }
    }

    mutating func pieces(_ pieces: [BlobPiece]) {
        u32(UInt32(pieces.count))
        for piece in pieces {
            u64(piece.blobID)
            u64(piece.offsetBytes)
            u64(piece.lengthBytes)
        }
    }
}

extension RecordReader {
    mutating func attributes() throws(RecordError) -> ObjectAttributes {
        var a = ObjectAttributes()
        a.contentType = try optionalString()
        a.contentEncoding = try optionalString()
        a.contentDisposition = try optionalString()
        a.contentLanguage = try optionalString()
        a.cacheControl = try optionalString()
        a.expires = try optionalString()
        a.storageClass = try optionalString()
        a.serverSideEncryption = try optionalString()
        let metadataCount = Int(try u16())
        for _ in 0..<metadataCount { a.userMetadata.append((try string(), try string())) }
        let checksumCount = Int(try u8())
        for _ in 0..<checksumCount { a.checksums.append((try string(), try string())) }
        return a
    }

    mutating func pieces() throws(RecordError) -> [BlobPiece] {
        let count = Int(try u32())
        var result: [BlobPiece] = []
        for _ in 0..<count {
            result.append(BlobPiece(blobID: try u64(), offsetBytes: try u64(), lengthBytes: try u64()))
        }
        return result
    }
}

/// `uploads`: upload id → a multipart upload in progress.
struct UploadRecord: Equatable {
    /// 1: as below without `lock`; 2: then the Object Lock headers of the Create: u8 mode
    /// (0 none), i64 retain-until ms, u8 legal hold (0/1), u8 1 when a legal hold was given.
    /// 3: format 2's fields (its lock fields all 0 when none was given), then u16 T and
    /// T × (string, string): the tags of the Create.
    /// 4 (written when the upload has a checksum type): format 2's fields, then u8 checksum
    /// type (1 COMPOSITE, 2 FULL_OBJECT), then the tags as in 3 when there are any (none:
    /// the record ends).
    static let version: UInt8 = 1
    static let withLock: UInt8 = 2
    static let withTags: UInt8 = 3
    static let withChecksumType: UInt8 = 4
    /// 5 (an upload given an ACL): format 2's fields, u8 checksum type (0 none, 1, 2),
    /// u16 T (0 too) and the tags, then the ACL the completed object gets.
    static let withACL: UInt8 = 5
    var bucket: String
    var key: String
    var initiatedMilliseconds: Int64
    var attributes: ObjectAttributes
    /// `x-amz-checksum-algorithm` given at Create: parts must carry it; Complete stores the
    /// composite checksum.
    var checksumAlgorithm: String?
    /// The key's ETag when the upload began, if it existed (for the 409 rules of Complete).
    var etagAtStart: String?
    /// Object Lock headers of the Create, applied to the completed version.
    var lock: ObjectLock?
    /// `x-amz-tagging` of the Create: the completed version's tags.
    var tags: [ObjectTag] = []
    /// How Complete makes the object's checksum (format 4; nil in older records, whose
    /// uploads are all COMPOSITE).
    var checksumType: S3ChecksumType?
    /// The ACL of the Create (format 5): the completed object's.
    var acl: AccessControlList?

    func encoded() -> [UInt8] {
        let version = acl != nil ? Self.withACL : checksumType != nil ? Self.withChecksumType
            : !tags.isEmpty ? Self.withTags : lock == nil ? Self.version : Self.withLock
        var w = RecordWriter(version: version)
        w.string(bucket)
        w.string(key)
        w.i64(initiatedMilliseconds)
        w.attributes(attributes)
        w.optionalString(checksumAlgorithm)
        w.optionalString(etagAtStart)
        if version >= Self.withLock {
            let lock = lock ?? ObjectLock()
            w.u8(lock.mode?.rawValue ?? 0)
            w.i64(lock.retainUntilMilliseconds)
            w.u8(lock.legalHold ? 1 : 0)
        }
        if let acl {
            w.u8(checksumType.map { $0 == .composite ? 1 : 2 } ?? 0)
            w.tagList(tags)
            w.acl(acl)
            return w.bytes
        }
        if let checksumType { w.u8(checksumType == .composite ? 1 : 2) }
        w.tags(tags)
        return w.bytes
    }

    init(bucket: String, key: String, initiatedMilliseconds: Int64, attributes: ObjectAttributes,
         checksumAlgorithm: String?, etagAtStart: String?, lock: ObjectLock? = nil, tags: [ObjectTag] = [],
         checksumType: S3ChecksumType? = nil, acl: AccessControlList? = nil) {
        self.acl = acl
        self.lock = lock
        self.tags = tags
        self.checksumType = checksumType
        self.bucket = bucket
        self.key = key
        self.initiatedMilliseconds = initiatedMilliseconds
        self.attributes = attributes
        self.checksumAlgorithm = checksumAlgorithm
        self.etagAtStart = etagAtStart
    }

    init(decoding bytes: UnsafeRawBufferPointer) throws(RecordError) {
        var r = try RecordReader(bytes, record: "upload", acceptedVersions: Self.version...Self.withACL)
        bucket = try r.string()
        key = try r.string()
        initiatedMilliseconds = try r.i64()
        attributes = try r.attributes()
        checksumAlgorithm = try r.optionalString()
        etagAtStart = try r.optionalString()
        if r.version >= Self.withLock {
            let mode = try r.u8()
            let until = try r.i64()
            let hold = try r.u8()
            guard mode == 0 || RetentionMode(rawValue: mode) != nil, hold <= 1 else {
                throw RecordError(record: "upload", reason: "bad Object Lock fields")
            }
            let given = ObjectLock(mode: RetentionMode(rawValue: mode), retainUntilMilliseconds: until, legalHold: hold == 1)
            lock = r.version == Self.withLock || given != ObjectLock() ? given : nil
        }
        if r.version >= Self.withChecksumType {
            switch try r.u8() {
            case 0 where r.version == Self.withACL: checksumType = nil
            case 1: checksumType = .composite
            case 2: checksumType = .fullObject
            case let other: throw RecordError(record: "upload", reason: "checksum type \(other)")
            }
        }
        if r.version == Self.withTags || (r.version == Self.withChecksumType && r.remaining > 0) { tags = try r.tags() }
        if r.version == Self.withACL {
            tags = try r.tagList()
            acl = try r.acl()
        }
        try r.finish()
    }
}

/// `uploads`: upload id ‖ 0x00 ‖ part number (big-endian u32) → one uploaded part. Its
/// pieces hold references on their data blobs until Complete hands them to the object's
/// composite blob, or Abort (or being left out of Complete) releases them.
struct PartRecord: Equatable {
    static let version: UInt8 = 1
    var size: UInt64
    /// MD5 hex of the part's bytes.
    var etag: String
    var lastModifiedMilliseconds: Int64
    var pieces: [BlobPiece]
    /// Raw digest of the upload's checksum algorithm over this part (empty if none).
    var checksum: [UInt8]

    func encoded() -> [UInt8] {
        var w = RecordWriter(version: Self.version)
        w.u64(size)
        w.string(etag)
        w.i64(lastModifiedMilliseconds)
        w.pieces(pieces)
        w.blob(checksum)
        return w.bytes
    }

    init(size: UInt64, etag: String, lastModifiedMilliseconds: Int64, pieces: [BlobPiece], checksum: [UInt8]) {
        self.size = size
        self.etag = etag
        self.lastModifiedMilliseconds = lastModifiedMilliseconds
        self.pieces = pieces
        self.checksum = checksum
    }

    init(decoding bytes: UnsafeRawBufferPointer) throws(RecordError) {
        var r = try RecordReader(bytes, record: "part", expectedVersion: Self.version)
        size = try r.u64()
        etag = try r.string()
        lastModifiedMilliseconds = try r.i64()
        pieces = try r.pieces()
        checksum = try r.blob()
        try r.finish()
    }
}
