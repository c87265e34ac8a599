/// What a bucket, or the whole store, holds: counted by walking the index in one read
/// snapshot (the index keeps no running totals), so the cost grows with the number of
/// keys — about a microsecond per object from LMDB, one page of 1,000 keys per etcd
/// round trip in cluster mode. The admin views use it, never the S3 request path.
public struct BucketUsage: Sendable, Equatable, Codable {
    public var objects = 0
    /// Sum of the current objects' sizes.
    public var bytes: UInt64 = 0
    /// Every version: current objects, noncurrent object versions and delete markers.
    public var versions = 0
    public var deleteMarkers = 0
    /// Sum of the noncurrent object versions' sizes (space kept for older versions).
    public var noncurrentBytes: UInt64 = 0
    public var uploadsInProgress = 0
    public var uploadedParts = 0
    /// Sum of the uploaded parts' sizes (space the uploads hold until completed or aborted).
    public var uploadedPartBytes: UInt64 = 0

    public init() {}
}

public struct StoreUsage: Sendable, Equatable, Codable {
    public var buckets = 0
    public var objects = 0
    public var bytes: UInt64 = 0
    public var uploadsInProgress = 0
    public var uploadedPartBytes: UInt64 = 0

    public init() {}
}

extension ObjectStore {
    /// One bucket's objects, bytes, versions and uploads in progress; NoSuchBucket if none.
    public func usage(of bucket: String) throws(StoreError) -> BucketUsage {
        try Validation.checkBucketName(bucket)
        return try read { txn in
            try index.requireBucket(txn, bucket)
            var usage = BucketUsage()
            try countObjects(txn, bucket: bucket) { size in
                usage.objects += 1
                usage.bytes += size
            }
            usage.versions = usage.objects
            try countHistories(txn, bucket: bucket) { entry in
                usage.versions += 1
                if entry.isDeleteMarker { usage.deleteMarkers += 1 } else { usage.noncurrentBytes += entry.record.size }
            }
            try countUploads(txn) { uploadBucket, parts, bytes in
                guard uploadBucket == bucket else { return }
                usage.uploadsInProgress += 1
                usage.uploadedParts += parts
                usage.uploadedPartBytes += bytes
            }
            return usage
        }
    }

    /// Every bucket's totals together.
    public func usage() throws(StoreError) -> StoreUsage {
        try read { txn in
            var usage = StoreUsage()
            var names: [String] = []
            try txn.scan(index.buckets, from: []) { key, _ in
                names.append(String(decoding: key, as: UTF8.self))
                return true
            }
            usage.buckets = names.count
            for name in names {
                try countObjects(txn, bucket: name) { size in
                    usage.objects += 1
                    usage.bytes += size
                }
            }
            try countUploads(txn) { _, _, bytes in
                usage.uploadsInProgress += 1
                usage.uploadedPartBytes += bytes
            }
            return usage
        }
    }

    private func countObjects(_ txn: borrowing some IndexReading & ~Copyable, bucket: String,
                              _ each: (UInt64) -> Void) throws {
        let prefix = IndexKey.objectPrefix(bucket: bucket)
        try txn.scan(index.objects, from: prefix) { rawKey, value in
            guard rawKey.starts(with: prefix) else { return false }
            return try Index.expand(rawKey, value, bucketPrefixCount: prefix.count) { _, record in
                each(record.size)
                return true
            }
        }
    }

    private func countHistories(_ txn: borrowing some IndexReading & ~Copyable, bucket: String,
                                _ each: (VersionEntry) -> Void) throws {
        let prefix = IndexKey.objectPrefix(bucket: bucket)
        try txn.scan(index.versions, from: prefix) { rawKey, value in
            guard rawKey.starts(with: prefix) else { return false }
            for entry in try VersionGroupRecord(decoding: value).entries { entry.history.forEach(each) }
            return true
        }
    }

    /// Each upload in progress with its bucket, part count and part bytes. An upload's
    /// record (key: its id) sorts just before its parts (id, 0, part number).
    private func countUploads(_ txn: borrowing some IndexReading & ~Copyable,
                              _ each: (_ bucket: String, _ parts: Int, _ bytes: UInt64) -> Void) throws {
        var current: (bucket: String, parts: Int, bytes: UInt64)?
        try txn.scan(index.uploads, from: []) { key, value in
            if key.count == Self.uploadIDLength {
                if let done = current { each(done.bucket, done.parts, done.bytes) }
                current = (try UploadRecord(decoding: value).bucket, 0, 0)
            } else if current != nil {
                current!.parts += 1
                current!.bytes += try PartRecord(decoding: value).size
            }
            return true
        }
        if let done = current { each(done.bucket, done.parts, done.bytes) }
    }
}
