/// Object and bucket tags. An object version's tags live in its `ObjectRecord` (format 3),
/// so RenameObject and prefix rename move them with the record, a copy takes them with
/// `x-amz-tagging-directive: COPY`, and a tag change touches no byte and no ETag.
/// A bucket's tags live in `meta["tagging/" ‖ bucket]`.
extension ObjectStore {
    static func bucketTaggingKey(_ bucket: String) -> [UInt8] { Array("tagging/".utf8) + Array(bucket.utf8) }

    /// GetObjectTagging: the tags and the version id S3 shows (nil when never versioned).
    public func objectTagging(bucket: String, key: String, versionID: String? = nil) throws(StoreError) -> (tags: [ObjectTag], versionID: String?) {
        try read { txn in
            let (_, record, versioning) = try namedVersion(txn, bucket: bucket, key: key, versionID: versionID)
            return (record.tags, record.info(key: key, versioning: versioning).versionID)
        }
    }

    /// PutObjectTagging (an empty list is DeleteObjectTagging); returns the version id shown.
    @discardableResult
    public func setObjectTagging(bucket: String, key: String, versionID: String? = nil,
                                 tags: [ObjectTag]) async throws(StoreError) -> String? {
        try Validation.checkTags(tags, limit: Limits.maxObjectTags)
        return try await mutate { [index, self] txn in
            let (location, record, versioning) = try namedVersion(txn, bucket: bucket, key: key, versionID: versionID)
            var updated = record
            updated.tags = tags
            try index.replaceVersionRecord(txn, bucket: bucket, key: key, at: location, with: updated)
            return record.info(key: key, versioning: versioning).versionID
        }
    }

    /// The object version a tagging, retention or legal-hold request names (the current one
    /// without an id); a delete marker is 405, as S3 answers.
    func namedVersion(_ txn: borrowing some IndexReading & ~Copyable, bucket: String, key: String,
                               versionID: String?) throws -> (Index.VersionLocation, ObjectRecord, VersioningState) {
        try Validation.checkBucketName(bucket)
        try Validation.checkKey(key)
        let versioning = try index.versioning(txn, bucket)
        if let versionID {
            let record = try index.requireVersion(txn, bucket: bucket, key: key, versionID: versionID, versioning: versioning)
            guard let location = try index.findVersion(txn, bucket: bucket, key: key, versionID: versionID) else {
                throw StoreError(.noSuchVersion, "The specified version does not exist.")
            }
            return (location, record, versioning)
        }
        guard let current = try index.object(txn, bucket: bucket, key: key) else {
            throw StoreError(.noSuchKey, "The specified key does not exist.")
        }
        return (.current(current), current, versioning)
    }

    public func bucketTagging(_ bucket: String) throws(StoreError) -> [ObjectTag] {
        try Validation.checkBucketName(bucket)
        let tags = try read { txn in
            try index.requireBucket(txn, bucket)
            return try txn.withValue(index.meta, Self.bucketTaggingKey(bucket)) { bytes in
                var r = try RecordReader(bytes, record: "bucket tagging", expectedVersion: 1)
                let tags = try r.tags()
                try r.finish()
                return tags
            }
        }
        guard let tags else { throw StoreError(.noSuchTagSet, "The TagSet does not exist") }
        return tags
    }

    /// PutBucketTagging; an empty list deletes the tag set (DeleteBucketTagging).
    public func setBucketTagging(_ bucket: String, tags: [ObjectTag]) async throws(StoreError) {
        try Validation.checkBucketName(bucket)
        try Validation.checkTags(tags, limit: Limits.maxBucketTags)
        var w = RecordWriter(version: 1)
        w.tags(tags)
        let encoded = w.bytes
        try await mutate { [index] txn in
            try index.requireBucket(txn, bucket)
            if tags.isEmpty {
                _ = try txn.delete(index.meta, Self.bucketTaggingKey(bucket))
            } else {
                try txn.put(index.meta, Self.bucketTaggingKey(bucket), encoded)
            }
        }
    }
}
