import Foundation
import HTTPTypes
import Stowage

/// Who may do what, before a handler runs. The administrator (the server's own
/// credentials) may do everything. A user may act on the buckets it owns — every
/// operation on them and their objects — and on no other: each bucket a request touches
/// (its own, and a copy's source bucket) must be the user's, else 403 AccessDenied with
/// nothing read or written. ListBuckets shows a user its own buckets; a bucket a user
/// creates is its own. (Bucket policies, user policies and ACLs, which can grant more,
/// are not built yet: they are refused on the wire.)
enum Authorization {
    static func check(_ operation: S3Operation, _ s3: S3Request, user: String?, store: ObjectStore) async throws {
        guard let user else { return }
        var buckets: [String] = []
        if let bucket = s3.bucket, operation != .createBucket { buckets.append(bucket) }
        if operation == .copyObject || operation == .uploadPartCopy, let source = s3.header("x-amz-copy-source"),
           let (sourceBucket, _, _) = try? Handlers.copySource(source), !buckets.contains(sourceBucket) {
            buckets.append(sourceBucket)
        }
        for bucket in buckets {
            guard case .some(let owner) = try await Self.owner(of: bucket, store: store) else { continue }
            guard owner == user else { throw S3Error(.forbidden, "AccessDenied", "Access Denied") }
        }
    }

    /// A bucket's owner: `.some(nil)` the administrator, `.some(name)` a user; nil when
    /// the bucket does not exist (the handler then answers 404 or 400, as for anyone).
    private static func owner(of bucket: String, store: ObjectStore) async throws -> String?? {
        do {
            return .some(try await store.offLoop { try $0.bucketOwner(bucket) })
        } catch {
            if error.code == .noSuchBucket || error.code == .invalidBucketName { return nil }
            throw error
        }
    }
}
