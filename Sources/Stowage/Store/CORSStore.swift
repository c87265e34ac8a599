/// A bucket's CORS rules (Put/Get/DeleteBucketCors), in `meta["cors/" ‖ bucket]`, above the
/// index seam: the same in both modes. The S3 layer evaluates them on every request that
/// carries an `Origin` header (`corsRules`: one index read) and on each preflight.
extension ObjectStore {
    /// GetBucketCors: the rules, `NoSuchCORSConfiguration` without any.
    public func corsConfiguration(_ bucket: String) throws(StoreError) -> [CORSRule] {
        try Validation.checkBucketName(bucket)
        let record = try read { txn in
            try index.requireBucket(txn, bucket)
            return try txn.withValue(index.meta, CORSRecord.key(bucket: bucket)) { try CORSRecord(decoding: $0) }
        }
        guard let record else {
            throw StoreError(.noSuchCORSConfiguration, "The CORS configuration does not exist")
        }
        return record.rules
    }

    /// The rules a cross-origin request is matched against: one read of the meta entry,
    /// nil when there is none — no configuration, or no such bucket (DeleteBucket removes
    /// the entry with the bucket, so an entry never outlives its bucket).
    public func corsRules(_ bucket: String) throws(StoreError) -> [CORSRule]? {
        try Validation.checkBucketName(bucket)
        return try read { txn in
            try txn.withValue(index.meta, CORSRecord.key(bucket: bucket)) { try CORSRecord(decoding: $0) }
        }?.rules
    }

    /// PutBucketCors: replaces the bucket's rules.
    public func setCORSConfiguration(_ bucket: String, rules: [CORSRule]) async throws(StoreError) {
        try Validation.checkBucketName(bucket)
        try Validation.checkCORSRules(rules)
        let encoded = CORSRecord(rules: rules).encoded()
        try await mutate { [index] txn in
            try index.requireBucket(txn, bucket)
            try txn.put(index.meta, CORSRecord.key(bucket: bucket), encoded)
        }
    }

    /// DeleteBucketCors; a bucket without rules is no error (S3 answers 204 as well).
    public func deleteCORSConfiguration(_ bucket: String) async throws(StoreError) {
        try Validation.checkBucketName(bucket)
        try await mutate { [index] txn in
            try index.requireBucket(txn, bucket)
            _ = try txn.delete(index.meta, CORSRecord.key(bucket: bucket))
        }
    }
}
