/// Every record of the index, decoded in one transaction (a read snapshot for verify, the
/// write transaction itself for repair). A record that does not decode becomes an
/// `undecodableRecord` finding and the walk goes on.
struct IndexSnapshot {
    /// A current object, or a noncurrent object version (`name.versionID` set): each
    /// holds a reference on its blob (V2). Delete markers hold none and are not listed.
    struct Object {
        let name: ObjectName
        let blobID: UInt64
        let size: UInt64
        var isCurrent: Bool { name.versionID == nil }
    }

    struct Part {
        let uploadID: String
        let number: Int
        let record: PartRecord
    }

    var buckets: Set<String> = []
    var objects: [Object] = []
    /// Delete markers, and noncurrent object versions (also in `objects`).
    var deleteMarkers = 0
    var noncurrentVersions = 0
    var blobs: [UInt64: BlobRecord] = [:]
    var undecodableBlobs: Set<UInt64> = []
    var segments: [UInt64: SegmentRecord] = [:]
    var undecodableSegments: Set<UInt64> = []
    var uploads: [String: UploadRecord] = [:]
    var parts: [Part] = []
    var tokens = 0
    var expiredTokens = 0
    var completions = 0
    var undecodableTokenKeys: [[UInt8]] = []
    var quarantine: [UInt64: QuarantineRecord] = [:]
    /// `meta["next-blob"]`; nil when it does not decode.
    var nextBlobID: UInt64? = 1
    var findings: [Finding] = []

    /// Walks every table of `index` inside `txn`.
    static func load(_ txn: borrowing some IndexReading & ~Copyable, _ index: Index, nowMilliseconds: Int64) throws -> IndexSnapshot {
        var s = IndexSnapshot()
        try s.loadMeta(txn, index)
        try s.loadBuckets(txn, index)
        try s.loadObjects(txn, index)
        try s.loadVersions(txn, index)
        try s.loadBlobs(txn, index)
        try s.loadSegments(txn, index)
        try s.loadUploads(txn, index)
        try s.loadTokens(txn, index, nowMilliseconds: nowMilliseconds)
        return s
    }

    private mutating func undecodable(_ table: String, _ error: Error, bucket: String? = nil, key: String? = nil,
                                      blobID: UInt64? = nil, segmentID: UInt64? = nil, uploadID: String? = nil,
                                      partNumber: Int? = nil) {
        findings.append(Finding(.undecodableRecord, "\(error)", bucket: bucket, key: key, blobID: blobID,
                                segmentID: segmentID, uploadID: uploadID, partNumber: partNumber, table: table))
    }

    private mutating func loadMeta(_ txn: borrowing some IndexReading & ~Copyable, _ index: Index) throws {
        do { nextBlobID = try index.nextBlobID(txn) } catch {
            nextBlobID = nil
            undecodable("meta", error, key: "next-blob")
        }
        let prefix = QuarantineRecord.keyPrefix
        try txn.scan(index.meta, from: prefix) { rawKey, value in
            guard rawKey.starts(with: prefix) else { return false }
            let idBytes = UnsafeRawBufferPointer(rebasing: rawKey[prefix.count...])
            guard let id = IndexKey.decodeID(idBytes) else {
                undecodable("meta", RecordError(record: "quarantine", reason: "bad key length \(rawKey.count)"),
                            key: Self.printable(rawKey))
                return true
            }
            do { quarantine[id] = try QuarantineRecord(decoding: value) } catch {
                undecodable("meta", error, key: Self.printable(rawKey), blobID: id)
            }
            return true
        }
    }

    private mutating func loadBuckets(_ txn: borrowing some IndexReading & ~Copyable, _ index: Index) throws {
        try txn.scan(index.buckets, from: []) { rawKey, value in
            let name = String(decoding: rawKey, as: UTF8.self)
            do {
                _ = try BucketRecord(decoding: value)
                buckets.insert(name)
            } catch {
                undecodable("buckets", error, bucket: name)
            }
            return true
        }
    }

    /// Walks the objects table through `Index.expand`, so long keys in group slots count.
    private mutating func loadObjects(_ txn: borrowing some IndexReading & ~Copyable, _ index: Index) throws {
        try txn.scan(index.objects, from: []) { rawKey, value in
            guard let separator = rawKey.firstIndex(of: 0) else {
                undecodable("objects", RecordError(record: "object", reason: "key without a bucket separator"),
                            key: Self.printable(rawKey))
                return true
            }
            let bucket = String(decoding: rawKey[..<separator], as: UTF8.self)
            do {
                _ = try Index.expand(rawKey, value, bucketPrefixCount: separator + 1) { key, record in
                    objects.append(Object(name: ObjectName(bucket: bucket, key: String(decoding: key, as: UTF8.self)),
                                          blobID: record.blobID, size: record.size))
                    return true
                }
            } catch {
                undecodable("objects", error, bucket: bucket, key: Self.printable(rawKey[(separator + 1)...]))
            }
            return true
        }
    }

    /// Walks the versions table: noncurrent object versions join `objects` (their blob
    /// references count); a key without a current object must have a delete marker as its
    /// newest version (V1), and no version id twice (V3).
    private mutating func loadVersions(_ txn: borrowing some IndexReading & ~Copyable, _ index: Index) throws {
        var current = Set<ObjectName>()
        for object in objects { current.insert(object.name) }
        try txn.scan(index.versions, from: []) { rawKey, value in
            guard let separator = rawKey.firstIndex(of: 0) else {
                undecodable("versions", RecordError(record: "versions", reason: "key without a bucket separator"),
                            key: Self.printable(rawKey))
                return true
            }
            let bucket = String(decoding: rawKey[..<separator], as: UTF8.self)
            do {
                for entry in try VersionGroupRecord(decoding: value).entries {
                    let key = String(decoding: entry.key, as: UTF8.self)
                    if !current.contains(ObjectName(bucket: bucket, key: key)), entry.history.first?.isDeleteMarker == false {
                        findings.append(Finding(.inconsistentVersions, "the key has no current object but its newest version is not a delete marker",
                                                bucket: bucket, key: key))
                    }
                    if Set(entry.history.map(\.versionID)).count != entry.history.count {
                        findings.append(Finding(.inconsistentVersions, "the key's history has a version id twice",
                                                bucket: bucket, key: key))
                    }
                    for version in entry.history {
                        if version.isDeleteMarker {
                            deleteMarkers += 1
                            continue
                        }
                        noncurrentVersions += 1
                        objects.append(Object(name: ObjectName(bucket: bucket, key: key, versionID: version.versionID),
                                              blobID: version.record.blobID, size: version.record.size))
                    }
                }
            } catch {
                undecodable("versions", error, bucket: bucket, key: Self.printable(rawKey[(separator + 1)...]))
            }
            return true
        }
    }

    private mutating func loadBlobs(_ txn: borrowing some IndexReading & ~Copyable, _ index: Index) throws {
        try txn.scan(index.blobs, from: []) { rawKey, value in
            guard let id = IndexKey.decodeID(rawKey) else {
                undecodable("blobs", RecordError(record: "blob", reason: "bad key length \(rawKey.count)"),
                            key: Self.printable(rawKey))
                return true
            }
            do { blobs[id] = try BlobRecord(decoding: value) } catch {
                undecodableBlobs.insert(id)
                undecodable("blobs", error, blobID: id)
            }
            return true
        }
    }

    private mutating func loadSegments(_ txn: borrowing some IndexReading & ~Copyable, _ index: Index) throws {
        try txn.scan(index.segments, from: []) { rawKey, value in
            guard let id = IndexKey.decodeID(rawKey) else {
                undecodable("segments", RecordError(record: "segment", reason: "bad key length \(rawKey.count)"),
                            key: Self.printable(rawKey))
                return true
            }
            do { segments[id] = try SegmentRecord(decoding: value) } catch {
                undecodableSegments.insert(id)
                undecodable("segments", error, segmentID: id)
            }
            return true
        }
    }

    /// Upload records (32-byte ids) and part records (id ‖ 0x00 ‖ BE u32 number).
    private mutating func loadUploads(_ txn: borrowing some IndexReading & ~Copyable, _ index: Index) throws {
        let idLength = ObjectStore.uploadIDLength
        try txn.scan(index.uploads, from: []) { rawKey, value in
            let uploadID = String(decoding: rawKey.prefix(idLength), as: UTF8.self)
            if rawKey.count == idLength {
                do { uploads[uploadID] = try UploadRecord(decoding: value) } catch {
                    undecodable("uploads", error, uploadID: uploadID)
                }
            } else if rawKey.count == idLength + 5, rawKey[idLength] == 0 {
                let number = Int(UInt32(bigEndian: UnsafeRawBufferPointer(rebasing: rawKey[(idLength + 1)...]).loadUnaligned(as: UInt32.self)))
                do { parts.append(Part(uploadID: uploadID, number: number, record: try PartRecord(decoding: value))) } catch {
                    undecodable("uploads", error, uploadID: uploadID, partNumber: number)
                }
            } else {
                undecodable("uploads", RecordError(record: "upload", reason: "unexpected key of \(rawKey.count) bytes"),
                            key: Self.printable(rawKey))
            }
            return true
        }
    }

    private mutating func loadTokens(_ txn: borrowing some IndexReading & ~Copyable, _ index: Index, nowMilliseconds: Int64) throws {
        try txn.scan(index.tokens, from: []) { rawKey, value in
            do {
                let record = try TokenRecord(decoding: value)
                if rawKey.first == 0 {
                    // A kept CompleteMultipartUpload answer (`IndexKey.completion`).
                    _ = try record.fingerprint.withUnsafeBytes { try CompletionRecord(decoding: $0) }
                    completions += 1
                } else {
                    tokens += 1
                }
                if record.expiresMilliseconds <= nowMilliseconds { expiredTokens += 1 }
            } catch {
                undecodableTokenKeys.append(Array(rawKey))
                undecodable("tokens", error, key: Self.printable(rawKey))
            }
            return true
        }
    }

    /// UTF-8 text when the bytes are, hex otherwise.
    static func printable<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> String {
        if let text = String(validating: Array(bytes), as: UTF8.self) { return text }
        return "0x" + bytes.map { String($0, radix: 16).leftPadded(2) }.joined()
    }
}
