import Glibc

/// The engine's one error type. Every failure a caller can see is a `StoreError` with a
/// named `code`; the S3 layer maps codes to S3 error codes in one table.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    /// Every code the engine reports. An enum, so the S3 layer's mapping (a `switch`) is
    /// exhaustive by construction: a new code does not compile until it is mapped.
    public enum Code: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
        // Buckets
        case noSuchBucket = "NoSuchBucket"
        /// The bucket's state forbids the request (Object Lock without versioning, suspending
        /// versioning under Object Lock).
        case invalidBucketState = "InvalidBucketState"
        case objectLockConfigurationNotFound = "ObjectLockConfigurationNotFoundError"
        case noSuchObjectLockConfiguration = "NoSuchObjectLockConfiguration"
        case noSuchLifecycleConfiguration = "NoSuchLifecycleConfiguration"
        /// GetBucketCors of a bucket without CORS rules.
        case noSuchCORSConfiguration = "NoSuchCORSConfiguration"
        /// GetBucketEncryption of a bucket without default encryption.
        case noSuchEncryptionConfiguration = "ServerSideEncryptionConfigurationNotFoundError"
        /// SSE-KMS with a key id the key store does not have.
        case kmsKeyNotFound = "KMS.NotFoundException"
        /// An ACL sent to a bucket whose ownership (BucketOwnerEnforced) disables ACLs.
        case accessControlListNotSupported = "AccessControlListNotSupported"
        /// A bucket ACL beside BucketOwnerEnforced (at CreateBucket or when switching to it).
        case invalidBucketAclWithObjectOwnership = "InvalidBucketAclWithObjectOwnership"
        /// GetBucketOwnershipControls of a bucket without them.
        case ownershipControlsNotFound = "OwnershipControlsNotFoundError"
        // Users (the admin API)
        case noSuchUser = "NoSuchEntity"
        /// The user or key exists already, still has keys or buckets, or has too many keys.
        case userConflict = "EntityConflict"
        case invalidTag = "InvalidTag"
        /// GetBucketTagging of a bucket without tags.
        case noSuchTagSet = "NoSuchTagSet"
        /// Refused by Object Lock: a version under retention or legal hold.
        case accessDenied = "AccessDenied"
        case bucketAlreadyExists = "BucketAlreadyOwnedByYou"
        /// CreateBucket of a name another owner has.
        case bucketOwnedByAnother = "BucketAlreadyExists"
        case bucketNotEmpty = "BucketNotEmpty"
        case invalidBucketName = "InvalidBucketName"
        // Keys and requests
        case noSuchKey = "NoSuchKey"
        case noSuchVersion = "NoSuchVersion"
        /// A GET or HEAD of a delete marker by its version id (405; `object` is the marker).
        case methodNotAllowed = "MethodNotAllowed"
        case keyTooLong = "KeyTooLongError"
        case invalidKey = "InvalidKey"
        case invalidArgument = "InvalidArgument"
        case invalidRequest = "InvalidRequest"
        case invalidRange = "InvalidRange"
        case invalidPartNumber = "InvalidPartNumber"
        case noSuchUpload = "NoSuchUpload"
        case invalidPart = "InvalidPart"
        case invalidPartOrder = "InvalidPartOrder"
        case entityTooSmall = "EntityTooSmall"
        case notImplemented = "NotImplemented"
        case badDigest = "BadDigest"
        case incompleteBody = "IncompleteBody"
        case entityTooLarge = "EntityTooLarge"
        // Conditions
        case preconditionFailed = "PreconditionFailed"
        case notModified = "NotModified"
        case conditionalRequestConflict = "ConditionalRequestConflict"
        case idempotencyParameterMismatch = "IdempotencyParameterMismatch"
        // The machine
        case integrity = "IntegrityError"
        case diskFull = "DiskFull"
        case indexFull = "IndexFull"
        case io = "IOError"
        case index = "IndexError"
        case corrupt = "CorruptRecord"
        case alreadyOpen = "AlreadyOpen"
        case closed = "StoreClosed"
        /// A cluster backend (etcd, RADOS) cannot be reached, or did not answer whether it
        /// applied a change: nothing is promised; retry.
        case unavailable = "ServiceUnavailable"
        /// A change larger than the index backend takes in one transaction (etcd's
        /// `--max-txn-ops`, `--max-request-bytes`): nothing was changed.
        case transactionTooLarge = "TransactionTooLarge"

        public var name: String { rawValue }
        public var description: String { rawValue }
    }

    public let code: Code
    public let message: String
    /// For `preconditionFailed`: the condition header that failed (`If-Match`, …).
    public let condition: String?
    public let cause: (any Error & Sendable)?
    /// For `notModified`: the object, whose ETag and Last-Modified a 304 carries. For
    /// `noSuchKey` whose latest version is a delete marker, and `methodNotAllowed`: the
    /// marker (`x-amz-delete-marker`, its version id).
    public var object: ObjectInfo?

    public init(_ code: Code, _ message: String, condition: String? = nil,
                cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.condition = condition
        self.cause = cause
    }

    public var description: String {
        var text = "\(code): \(message)"
        if let condition { text += " [\(condition)]" }
        if let cause { text += " (cause: \(cause))" }
        return text
    }

    static func precondition(_ condition: String) -> StoreError {
        StoreError(.preconditionFailed,
                   "At least one of the pre-conditions you specified did not hold",
                   condition: condition)
    }
}
