import HTTPTypes

/// The S3 operations the server answers, named as botocore's service model names them
/// (RenamePrefix is Stowage's own). The router decides the operation once; the wire
/// promises (`WirePromises`) and the handler both key on it.
public enum S3Operation: String, Sendable, CaseIterable, Hashable {
    case listBuckets = "ListBuckets"
    case createBucket = "CreateBucket"
    case headBucket = "HeadBucket"
    case deleteBucket = "DeleteBucket"
    case getBucketLocation = "GetBucketLocation"
    case getBucketVersioning = "GetBucketVersioning"
    case putBucketVersioning = "PutBucketVersioning"
    case getObjectLockConfiguration = "GetObjectLockConfiguration"
    case putObjectLockConfiguration = "PutObjectLockConfiguration"
    case getObjectRetention = "GetObjectRetention"
    case putObjectRetention = "PutObjectRetention"
    case getObjectLegalHold = "GetObjectLegalHold"
    case putObjectLegalHold = "PutObjectLegalHold"
    case getObjectAttributes = "GetObjectAttributes"
    case getObjectTagging = "GetObjectTagging"
    case putObjectTagging = "PutObjectTagging"
    case deleteObjectTagging = "DeleteObjectTagging"
    case getBucketTagging = "GetBucketTagging"
    case putBucketTagging = "PutBucketTagging"
    case deleteBucketTagging = "DeleteBucketTagging"
    case getBucketLifecycleConfiguration = "GetBucketLifecycleConfiguration"
    case putBucketLifecycleConfiguration = "PutBucketLifecycleConfiguration"
    case deleteBucketLifecycle = "DeleteBucketLifecycle"
    case getBucketEncryption = "GetBucketEncryption"
    case putBucketPolicy = "PutBucketPolicy"
    case getBucketPolicy = "GetBucketPolicy"
    case deleteBucketPolicy = "DeleteBucketPolicy"
    case getBucketPolicyStatus = "GetBucketPolicyStatus"
    case putPublicAccessBlock = "PutPublicAccessBlock"
    case getPublicAccessBlock = "GetPublicAccessBlock"
    case deletePublicAccessBlock = "DeletePublicAccessBlock"
    case putBucketEncryption = "PutBucketEncryption"
    case deleteBucketEncryption = "DeleteBucketEncryption"
    case getBucketCors = "GetBucketCors"
    case putBucketCors = "PutBucketCors"
    case deleteBucketCors = "DeleteBucketCors"
    case getBucketAcl = "GetBucketAcl"
    case putBucketAcl = "PutBucketAcl"
    case getBucketOwnershipControls = "GetBucketOwnershipControls"
    case putBucketOwnershipControls = "PutBucketOwnershipControls"
    case deleteBucketOwnershipControls = "DeleteBucketOwnershipControls"
    case getObjectAcl = "GetObjectAcl"
    case putObjectAcl = "PutObjectAcl"
    case listObjects = "ListObjects"
    case listObjectsV2 = "ListObjectsV2"
    case listObjectVersions = "ListObjectVersions"
    case listMultipartUploads = "ListMultipartUploads"
    case deleteObjects = "DeleteObjects"
    case renamePrefix = "RenamePrefix"
    case renameObject = "RenameObject"
    case putObject = "PutObject"
    case copyObject = "CopyObject"
    case uploadPart = "UploadPart"
    case uploadPartCopy = "UploadPartCopy"
    case createMultipartUpload = "CreateMultipartUpload"
    case completeMultipartUpload = "CompleteMultipartUpload"
    case abortMultipartUpload = "AbortMultipartUpload"
    case listParts = "ListParts"
    case getObject = "GetObject"
    case headObject = "HeadObject"
    case deleteObject = "DeleteObject"

    /// The operation a request names by method, addressing and sub-resources; nil when the
    /// server has no such operation (answered 501, never taken for another one).
    static func of(_ s3: S3Request) -> S3Operation? {
        let subresources = s3.subresources
        let named = subresources.isEmpty ? "" : Set(subresources).sorted().joined(separator: "&")
        guard s3.bucket != nil else {
            return s3.method == .get && named.isEmpty ? .listBuckets : nil
        }
        guard s3.key != nil else {
            switch (s3.method, named) {
            case (.put, ""): return .createBucket
            case (.head, ""): return .headBucket
            case (.delete, ""): return .deleteBucket
            case (.get, "location"): return .getBucketLocation
            case (.get, "versioning"): return .getBucketVersioning
            case (.put, "versioning"): return .putBucketVersioning
            case (.get, "object-lock"): return .getObjectLockConfiguration
            case (.put, "object-lock"): return .putObjectLockConfiguration
            case (.get, "lifecycle"): return .getBucketLifecycleConfiguration
            case (.put, "lifecycle"): return .putBucketLifecycleConfiguration
            case (.delete, "lifecycle"): return .deleteBucketLifecycle
            case (.get, "tagging"): return .getBucketTagging
            case (.get, "encryption"): return .getBucketEncryption
            case (.put, "policy"): return .putBucketPolicy
            case (.get, "policy"): return .getBucketPolicy
            case (.delete, "policy"): return .deleteBucketPolicy
            case (.get, "policyStatus"): return .getBucketPolicyStatus
            case (.put, "publicAccessBlock"): return .putPublicAccessBlock
            case (.get, "publicAccessBlock"): return .getPublicAccessBlock
            case (.delete, "publicAccessBlock"): return .deletePublicAccessBlock
            case (.put, "encryption"): return .putBucketEncryption
            case (.delete, "encryption"): return .deleteBucketEncryption
            case (.put, "tagging"): return .putBucketTagging
            case (.get, "cors"): return .getBucketCors
            case (.put, "cors"): return .putBucketCors
            case (.delete, "cors"): return .deleteBucketCors
            case (.delete, "tagging"): return .deleteBucketTagging
            case (.get, "acl"): return .getBucketAcl
            case (.put, "acl"): return .putBucketAcl
            case (.get, "ownershipControls"): return .getBucketOwnershipControls
            case (.put, "ownershipControls"): return .putBucketOwnershipControls
            case (.delete, "ownershipControls"): return .deleteBucketOwnershipControls
            case (.get, ""): return s3.parameter("list-type") == "2" ? .listObjectsV2 : .listObjects
            case (.get, "versions"): return .listObjectVersions
            case (.get, "uploads"): return .listMultipartUploads
            case (.post, "delete"): return .deleteObjects
            case (.post, "renamePrefix"): return .renamePrefix
            default: return nil
            }
        }
        let copies = s3.header("x-amz-copy-source") != nil
        switch (s3.method, named) {
        case (.put, "renameObject"): return .renameObject
        case (.get, "retention"): return .getObjectRetention
        case (.get, "attributes"): return .getObjectAttributes
        case (.get, "tagging"): return .getObjectTagging
        case (.get, "acl"): return .getObjectAcl
        case (.put, "acl"): return .putObjectAcl
        case (.put, "tagging"): return .putObjectTagging
        case (.delete, "tagging"): return .deleteObjectTagging
        case (.put, "retention"): return .putObjectRetention
        case (.get, "legal-hold"): return .getObjectLegalHold
        case (.put, "legal-hold"): return .putObjectLegalHold
        case (.put, ""): return copies ? .copyObject : .putObject
        case (.put, "partNumber&uploadId"): return copies ? .uploadPartCopy : .uploadPart
        case (.post, "uploads"): return .createMultipartUpload
        case (.post, "uploadId"): return .completeMultipartUpload
        case (.delete, "uploadId"): return .abortMultipartUpload
        case (.get, "uploadId"): return .listParts
        case (.get, ""), (.get, "partNumber"): return .getObject
        case (.head, ""), (.head, "partNumber"): return .headObject
        case (.delete, ""): return .deleteObject
        default: return nil
        }
    }

    /// POST Object (a browser form upload): `POST /bucket` with no sub-resource. Not an
    /// `S3Operation`: it is authenticated and authorized from its form (a PutObject of the
    /// key the form names), by its handler.
    static func isPostObject(_ s3: S3Request) -> Bool {
        s3.method == .post && s3.bucket != nil && s3.key == nil && s3.subresources.isEmpty
    }

    /// Operations that write an object (or a part) whose attributes come from the request.
    static let objectWrites: Set<S3Operation> = [.putObject, .copyObject, .createMultipartUpload]
}
