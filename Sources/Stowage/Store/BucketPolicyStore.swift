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

/// A bucket's PublicAccessBlock (`meta["publicaccessblock/" ‖ bucket]`: `u8` version 1,
/// `u8` flags — bit 0 BlockPublicAcls, 1 IgnorePublicAcls, 2 BlockPublicPolicy,
/// 3 RestrictPublicBuckets). The S3 layer applies it.
public struct PublicAccessBlock: Sendable, Equatable {
    public var blockPublicAcls = false
    public var ignorePublicAcls = false
    public var blockPublicPolicy = false
    public var restrictPublicBuckets = false

    public init(blockPublicAcls: Bool = false, ignorePublicAcls: Bool = false, blockPublicPolicy: Bool = false,
                restrictPublicBuckets: Bool = false) {
        self.blockPublicAcls = blockPublicAcls
        self.ignorePublicAcls = ignorePublicAcls
        self.blockPublicPolicy = blockPublicPolicy
        self.restrictPublicBuckets = restrictPublicBuckets
    }

    var flags: UInt8 {
        (blockPublicAcls ? 1 : 0) | (ignorePublicAcls ? 2 : 0) | (blockPublicPolicy ? 4 : 0) | (restrictPublicBuckets ? 8 : 0)
    }

    init?(flags: UInt8) {
        guard flags & ~0x0F == 0 else { return nil }
        self.init(blockPublicAcls: flags & 1 != 0, ignorePublicAcls: flags & 2 != 0, blockPublicPolicy: flags & 4 != 0,
                  restrictPublicBuckets: flags & 8 != 0)
    }
}

extension ObjectStore {
    static func publicAccessBlockKey(_ bucket: String) -> [UInt8] { Array("publicaccessblock/".utf8) + Array(bucket.utf8) }

    /// The bucket's PublicAccessBlock; nil when it has none.
    public func publicAccessBlock(_ bucket: String) throws(StoreError) -> PublicAccessBlock? {
        try Validation.checkBucketName(bucket)
        return try read { txn in
            try index.requireBucket(txn, bucket)
            return try publicAccessBlock(txn, bucket)
        }
    }

    func publicAccessBlock(_ txn: borrowing some IndexReading & ~Copyable, _ bucket: String) throws -> PublicAccessBlock? {
        try txn.withValue(index.meta, Self.publicAccessBlockKey(bucket)) { bytes throws(RecordError) in
            var r = try RecordReader(bytes, record: "public access block", expectedVersion: 1)
            let flags = try r.u8()
            try r.finish()
            guard let block = PublicAccessBlock(flags: flags) else {
                throw RecordError(record: "public access block", reason: "unknown flags \(flags)")
            }
            return block
        }
    }

    /// PutPublicAccessBlock; nil deletes it.
    public func setPublicAccessBlock(_ bucket: String, _ block: PublicAccessBlock?) async throws(StoreError) {
        try Validation.checkBucketName(bucket)
        var w = RecordWriter(version: 1)
        w.u8(block?.flags ?? 0)
        let encoded = w.bytes
        try await mutate { [index] txn in
            try index.requireBucket(txn, bucket)
            if block != nil {
                _ = try txn.put(index.meta, Self.publicAccessBlockKey(bucket), encoded, noOverwrite: false)
            } else {
                _ = try txn.delete(index.meta, Self.publicAccessBlockKey(bucket))
            }
        }
    }
}
