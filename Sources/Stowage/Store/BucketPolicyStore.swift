/// A bucket's policy, kept as the JSON text it was put with (`meta["policy/" ‖ bucket]`):
/// the S3 layer parses and checks it (the engine does not know S3's actions) and answers
/// GetBucketPolicy with exactly what was sent.
extension ObjectStore {
    static func bucketPolicyKey(_ bucket: String) -> [UInt8] { Array("policy/".utf8) + Array(bucket.utf8) }

    /// The policy's text; nil when the bucket has none.
    public func bucketPolicy(_ bucket: String) throws(StoreError) -> [UInt8]? {
        try Validation.checkBucketName(bucket)
        return try read { txn in
            try index.requireBucket(txn, bucket)
            return try txn.withValue(index.meta, Self.bucketPolicyKey(bucket)) { Array($0) }
        }
    }

    /// PutBucketPolicy; nil deletes it (DeleteBucketPolicy).
    public func setBucketPolicy(_ bucket: String, _ text: [UInt8]?) async throws(StoreError) {
        try Validation.checkBucketName(bucket)
        try await mutate { [index] txn in
            try index.requireBucket(txn, bucket)
            if let text {
                _ = try txn.put(index.meta, Self.bucketPolicyKey(bucket), text, noOverwrite: false)
            } else {
                _ = try txn.delete(index.meta, Self.bucketPolicyKey(bucket))
            }
        }
    }
}
