import Foundation
import HTTPTypes
import Stowage

/// What the server does with every request header and query parameter of the S3
/// operations it answers — the one place that decides. A header either is honoured (read
/// and acted on, or pure metadata stored and returned), honoured for some values only, or
/// refused with S3's error for a feature that is not built, before anything is read or
/// stored. A request is never accepted with a promise the server does not keep (an
/// encryption, a lock, an ACL grant, tags).
///
/// Rows name the operations they apply to (`nil`: every operation). A header that no row
/// names for an operation is not part of that operation's input and has no effect, as on
/// S3. `stowage headers --json` prints the table; Tests/e2e/test_wire_promises.py walks it
/// against botocore's S3 service model.
public enum WirePromises {
    public enum Location: String, Sendable { case header, query }

    /// Why a request is refused: an S3 error.
    public struct Refusal: Sendable {
        public let status: HTTPResponse.Status
        public let code: String
        public let message: String

        static func notImplemented(_ feature: String) -> Refusal {
            Refusal(status: .notImplemented, code: "NotImplemented", message: "\(feature) is not implemented by this server")
        }

        func error(naming name: String, value: String) -> S3Error {
            let what = value.isEmpty ? name : "\(name): \(value)"
            return S3Error(status, code, "\(message) (\(what))")
        }
    }

    public enum Disposition: Sendable {
        /// Read and acted on, or stored and returned as the object's metadata.
        case honoured
        /// Honoured for these values (compared case-insensitively); refused for any other.
        case honouredValues([String], otherwise: Refusal)
        /// Not built: refused wherever it is sent.
        case refused(Refusal)
    }

    public struct Rule: Sendable {
        public let name: String
        public let location: Location
        /// True when `name` is a prefix (`x-amz-meta-`).
        public let isPrefix: Bool
        /// The operations the row applies to; nil: all of them.
        public let operations: Set<S3Operation>?
        public let disposition: Disposition
        /// What the server does with it, for `stowage headers` and the README.
        public let note: String

        func matches(_ field: String, _ operation: S3Operation) -> Bool {
            (isPrefix ? field.hasPrefix(name) : field == name) && (operations?.contains(operation) ?? true)
        }
    }

    /// The owner id every bucket has (ListBuckets and listings show it).
    public static let ownerID = UserDirectory.administratorID

    private static func header(_ name: String, _ operations: Set<S3Operation>?, _ disposition: Disposition,
                               _ note: String, prefix: Bool = false) -> Rule {
        Rule(name: name, location: .header, isPrefix: prefix, operations: operations, disposition: disposition, note: note)
    }

    private static func query(_ name: String, _ operations: Set<S3Operation>?, _ disposition: Disposition,
                              _ note: String) -> Rule {
        Rule(name: name, location: .query, isPrefix: false, operations: operations, disposition: disposition, note: note)
    }

    private static let writes = S3Operation.objectWrites
    /// The writes that choose an encryption (UploadPart follows its upload's).
    private static let encryptedWrites: Set<S3Operation> = [.putObject, .copyObject, .createMultipartUpload]
    /// The requests that carry an SSE-C key.
    private static let customerKeyed: Set<S3Operation> = [.putObject, .copyObject, .createMultipartUpload, .uploadPart,
                                                          .uploadPartCopy, .completeMultipartUpload, .getObject,
                                                          .headObject, .getObjectAttributes, .listParts]
    private static let bodies: Set<S3Operation> = [.putObject, .uploadPart]
    private static let xmlBodies: Set<S3Operation> = [.createBucket, .deleteObjects, .renamePrefix, .putBucketVersioning,
                                                      .putObjectLockConfiguration, .putObjectRetention, .putObjectLegalHold,
                                                      .putBucketLifecycleConfiguration, .putObjectTagging, .putBucketTagging,
                                                      .putBucketEncryption, .putBucketPolicy, .putBucketCors,
                                                      .putPublicAccessBlock, .putBucketAcl, .putObjectAcl,
                                                      .putBucketOwnershipControls]
    /// XML bodies whose model lets SDKs send a flexible checksum of them.
    private static let checksummedXML: Set<S3Operation> = [.deleteObjects, .putBucketVersioning, .putObjectLockConfiguration,
                                                           .putObjectRetention, .putObjectLegalHold,
                                                           .putBucketLifecycleConfiguration, .putObjectTagging, .putBucketTagging,
                                                           .putBucketEncryption, .putBucketPolicy, .putBucketCors,
                                                           .putPublicAccessBlock, .putBucketAcl, .putObjectAcl,
                                                           .putBucketOwnershipControls]
    /// Writes that take Object Lock headers for the version they make (a multipart upload's
    /// at Create, applied at Complete).
    private static let lockedWrites: Set<S3Operation> = [.putObject, .copyObject, .createMultipartUpload]
    /// Operations on one version's Object Lock state.
    private static let versionLocks: Set<S3Operation> = [.getObjectRetention, .putObjectRetention, .getObjectLegalHold,
                                                         .putObjectLegalHold, .getObjectTagging, .putObjectTagging,
                                                         .deleteObjectTagging]
    private static let reads: Set<S3Operation> = [.getObject, .headObject]
    /// The requests that take an ACL in headers.
    private static let acls: Set<S3Operation> = writes.union([.createBucket, .putBucketAcl, .putObjectAcl])
    private static let copies: Set<S3Operation> = [.copyObject, .uploadPartCopy]
    private static let deletes: Set<S3Operation> = [.deleteObject, .deleteObjects]
    private static let lists: Set<S3Operation> = [.listObjects, .listObjectsV2, .listObjectVersions]

    /// Checksum algorithms the model knows and the server computes; the others are refused.
    static let checksumAlgorithms = ["crc32", "crc32c", "crc64nvme", "sha1", "sha256"]
    static let unbuiltChecksums = ["sha512", "md5", "xxhash64", "xxhash3", "xxhash128"]

    public static let rules: [Rule] = {
        var rules: [Rule] = [
            // Framing and integrity.
            header("content-length", nil, .honoured, "the body's length"),
            header("content-md5", bodies.union(xmlBodies).union([.completeMultipartUpload]), .honoured,
                   "the body's MD5, checked (BadDigest)"),
            header("x-amz-sdk-checksum-algorithm", bodies.union(checksummedXML), .honoured,
                   "the algorithm of the checksum header or trailer sent, which is checked"),
            // Content headers and metadata, stored and returned.
            header("cache-control", writes, .honoured, "stored, returned on GET/HEAD"),
            header("content-disposition", writes, .honoured, "stored, returned on GET/HEAD"),
            header("content-encoding", writes, .honoured, "stored (without aws-chunked), returned on GET/HEAD"),
            header("content-language", writes, .honoured, "stored, returned on GET/HEAD"),
            header("content-type", writes, .honoured, "stored, returned on GET/HEAD"),
            header("expires", writes, .honoured, "stored, returned on GET/HEAD"),
            header("x-amz-meta-", writes, .honoured, "user metadata, stored and returned", prefix: true),
            header("x-amz-storage-class", writes, .honoured, "stored and returned (one tier of storage serves them all)"),
            header("x-amz-metadata-directive", [.copyObject], .honoured, "COPY or REPLACE"),
            // Conditions.
            header("if-match", [.putObject, .copyObject, .completeMultipartUpload, .getObject, .headObject,
                                .renameObject, .deleteObject], .honoured, "condition on the ETag"),
            header("if-none-match", [.putObject, .copyObject, .completeMultipartUpload, .getObject, .headObject,
                                     .renameObject], .honoured, "condition on the ETag"),
            header("if-modified-since", [.getObject, .headObject, .renameObject], .honoured, "condition on Last-Modified"),
            header("if-unmodified-since", [.getObject, .headObject, .renameObject], .honoured, "condition on Last-Modified"),
            header("range", reads, .honoured, "a byte range"),
            header("x-amz-checksum-mode", reads, .honoured, "ENABLED returns the stored checksums"),
            // Copies.
            header("x-amz-copy-source", copies, .honoured, "the source object, or with ?versionId= that version of it"),
            header("x-amz-copy-source-if-match", copies, .honoured, "condition on the source"),
            header("x-amz-copy-source-if-none-match", copies, .honoured, "condition on the source"),
            header("x-amz-copy-source-if-modified-since", copies, .honoured, "condition on the source"),
            header("x-amz-copy-source-if-unmodified-since", copies, .honoured, "condition on the source"),
            header("x-amz-copy-source-range", [.uploadPartCopy], .honoured, "the part's range of the source"),
            header("x-amz-checksum-algorithm", [.createMultipartUpload], .honoured, "the parts' checksum algorithm"),
            header("x-amz-checksum-algorithm", [.copyObject], .honoured,
                   "the copy keeps the source's checksum; an algorithm the source has no checksum in is refused (NotImplemented)"),
            header("x-amz-checksum-type", [.createMultipartUpload], .honoured,
                   "COMPOSITE (a checksum of the parts' checksums) or FULL_OBJECT (of the whole object, CRCs only)"),
            header("x-amz-checksum-type", [.completeMultipartUpload], .honoured,
                   "checked against the Create's type (BadDigest)"),
            // Renames.
            header("x-amz-rename-source", [.renameObject], .honoured, "the source key"),
            header("x-amz-rename-source", [.putObject, .copyObject], .refused(.notImplemented("x-amz-rename-source without ?renameObject")),
                   "refused: a PUT that names a rename source is never stored as an object"),
            header("x-amz-rename-source-if-match", [.renameObject], .honoured, "condition on the source"),
            header("x-amz-rename-source-if-none-match", [.renameObject], .honoured, "condition on the source"),
            header("x-amz-rename-source-if-modified-since", [.renameObject], .honoured, "condition on the source"),
            header("x-amz-rename-source-if-unmodified-since", [.renameObject], .honoured, "condition on the source"),
            header("x-amz-client-token", [.renameObject], .honoured, "idempotency token, kept 24 h"),
            // Ownership and billing: one owner, no charges.
            header("x-amz-expected-bucket-owner", nil, .honoured,
                   "checked against the bucket owner's canonical id (a user's name; \(ownerID) for the administrator's buckets)"),
            header("x-amz-source-expected-bucket-owner", copies, .honoured,
                   "checked against the source bucket owner's canonical id"),
            header("x-amz-request-payer", nil, .honoured, "nothing is charged"),
            header("x-amz-optional-object-attributes", lists, .honoured, "no object is archived, so there is no restore status"),
            // Waivers of protections no object has.
            header("x-amz-bypass-governance-retention", deletes.union([.putObjectRetention]), .honoured,
                   "true lets a version under GOVERNANCE retention be deleted, or its retention shortened or removed"),
            header("x-amz-mfa", deletes, .honoured, "no bucket has MFA delete"),
            header("x-amz-mfa", [.putBucketVersioning], .refused(.notImplemented("MFA delete")), "refused: MFA delete is not built"),
            // ACLs (where the bucket's ownership enables them) and Object Ownership.
            header("x-amz-acl", acls, .honoured,
                   "a canned ACL, stored and evaluated; a BucketOwnerEnforced bucket takes only private and bucket-owner-full-control (AccessControlListNotSupported)"),
            header("x-amz-object-ownership", [.createBucket], .honoured,
                   "BucketOwnerEnforced (the default: ACLs disabled), BucketOwnerPreferred or ObjectWriter"),
            header("x-amz-bucket-object-lock-enabled", [.createBucket], .honoured,
                   "true creates the bucket with Object Lock (and versioning) on"),
            header("x-amz-transition-default-minimum-object-size", [.putBucketLifecycleConfiguration], .honoured,
                   "accepted: it only shapes transitions, which are refused"),
            header("x-amz-bucket-object-lock-token", [.putObjectLockConfiguration],
                   .refused(.notImplemented("Object Lock tokens")), "refused: no token is needed here"),
            header("x-amz-tagging", writes, .honoured, "the new version's tags (URL query form), at most 10"),
            header("x-amz-tagging-directive", [.copyObject], .honoured, "COPY keeps the source's tags, REPLACE takes x-amz-tagging's"),
            // Not built: refused wherever they are sent.
            header("x-amz-bucket-namespace", nil, .refused(.notImplemented("Bucket namespaces")), "refused"),
            header("x-amz-server-side-encryption", encryptedWrites, .honoured,
                   "AES256 (SSE-S3) or aws:kms (SSE-KMS): the bytes are encrypted at rest under a data key of their own"),
            header("x-amz-server-side-encryption-aws-kms-key-id", encryptedWrites, .honoured,
                   "the key store's key that seals the data key (default: stowage-default)"),
            header("x-amz-server-side-encryption-context", nil, .refused(.notImplemented("An SSE-KMS encryption context")), "refused"),
            header("x-amz-server-side-encryption-bucket-key-enabled", encryptedWrites, .honoured,
                   "accepted: the key store is local, so there is no KMS traffic for a bucket key to save"),
            header("x-amz-confirm-remove-self-bucket-access", [.putBucketPolicy], .honouredValues(["false"],
                   otherwise: .notImplemented("x-amz-confirm-remove-self-bucket-access")),
                   "false only: a bucket's owner is never locked out of its policy"),
            header("x-amz-website-redirect-location", nil, .refused(.notImplemented("Website redirects")), "refused"),
            header("x-amz-write-offset-bytes", nil, .refused(.notImplemented("Appending to an object")), "refused"),
            header("x-amz-object-lock-mode", lockedWrites, .honoured,
                   "GOVERNANCE or COMPLIANCE retention of the new version (a bucket without Object Lock refuses it)"),
            header("x-amz-object-lock-retain-until-date", lockedWrites, .honoured, "the retention's end"),
            header("x-amz-object-lock-legal-hold", lockedWrites, .honoured, "ON puts the new version under a legal hold"),
            header("x-amz-if-match-last-modified-time", nil, .refused(.notImplemented("Delete conditions on time")), "refused"),
            header("x-amz-if-match-size", nil, .refused(.notImplemented("Delete conditions on size")), "refused"),
            header("x-amz-if-match-initiated-time", nil, .refused(.notImplemented("Abort conditions on time")), "refused"),
            header("x-amz-mp-object-size", nil, .refused(.notImplemented("x-amz-mp-object-size")), "refused"),
            // Query parameters with values that could make a promise.
            header("x-amz-object-attributes", [.getObjectAttributes], .honoured,
                   "which of ETag, Checksum, ObjectParts, StorageClass, ObjectSize to answer"),
            header("x-amz-max-parts", [.getObjectAttributes], .honoured, "page size of ObjectParts"),
            header("x-amz-part-number-marker", [.getObjectAttributes], .honoured, "page start of ObjectParts"),
            query("versionId", versionLocks.union([.getObject, .headObject, .deleteObject, .getObjectAttributes, .getObjectAcl,
                                                   .putObjectAcl]), .honoured,
                  "that version (null: the null version); NoSuchVersion when the key has no such version"),
            query("partNumber", [.getObject, .headObject, .uploadPart, .uploadPartCopy], .honoured, "the part"),
            query("uploadId", [.uploadPart, .uploadPartCopy, .completeMultipartUpload, .abortMultipartUpload, .listParts],
                  .honoured, "the upload"),
            query("max-parts", [.listParts], .honoured, "page size"),
            query("part-number-marker", [.listParts], .honoured, "page start"),
            query("prefix", lists.union([.listMultipartUploads, .listBuckets]), .honoured, "filter"),
            query("delimiter", lists.union([.listMultipartUploads]), .honoured, "grouping into common prefixes"),
            query("encoding-type", lists.union([.listMultipartUploads]), .honoured, "url"),
            query("max-keys", lists, .honoured, "page size, at most 1,000"),
            query("marker", [.listObjects], .honoured, "page start"),
            query("continuation-token", [.listObjectsV2, .listBuckets], .honoured, "page start"),
            query("start-after", [.listObjectsV2], .honoured, "page start"),
            query("fetch-owner", [.listObjectsV2], .honoured, "owners in the listing"),
            query("key-marker", [.listObjectVersions, .listMultipartUploads], .honoured, "page start"),
            query("version-id-marker", [.listObjectVersions], .honoured, "page start within the key-marker's versions"),
            query("upload-id-marker", [.listMultipartUploads], .honoured, "page start"),
            query("max-uploads", [.listMultipartUploads], .honoured, "page size"),
            query("max-buckets", [.listBuckets], .honoured, "page size, 1 to 10,000"),
            query("bucket-region", [.listBuckets], .honoured, "every bucket is in the server's region"),
        ]
        for name in ["cache-control", "content-disposition", "content-encoding", "content-language", "content-type", "expires"] {
            rules.append(query("response-" + name, reads, .honoured, "overrides the stored header in the answer"))
        }
        for suffix in ["full-control", "read", "read-acp", "write", "write-acp"] {
            rules.append(header("x-amz-grant-" + suffix, acls, .honoured, "grants (id=, uri=), stored and evaluated"))
        }
        for suffix in ["algorithm", "key", "key-md5"] {
            rules.append(header("x-amz-server-side-encryption-customer-" + suffix, customerKeyed, .honoured,
                                "SSE-C: the customer's AES-256 key (over TLS only); only its MD5 is kept"))
            rules.append(header("x-amz-copy-source-server-side-encryption-customer-" + suffix, [.copyObject, .uploadPartCopy],
                                .honoured, "SSE-C: the copy source's key"))
        }
        for algorithm in checksumAlgorithms {
            rules.append(header("x-amz-checksum-" + algorithm, bodies.union(checksummedXML), .honoured,
                                "checked against the body (BadDigest) and stored"))
            rules.append(header("x-amz-checksum-" + algorithm, [.completeMultipartUpload], .honoured,
                                "checked against the object's checksum in the upload's algorithm and type (BadDigest)"))
        }
        for algorithm in unbuiltChecksums {
            rules.append(header("x-amz-checksum-" + algorithm, nil,
                                .refused(.notImplemented("The \(algorithm.uppercased()) checksum")), "refused"))
        }
        return rules
    }()

    /// The rule for one header or query parameter of one operation, or nil when the
    /// operation takes no such input.
    public static func rule(for name: String, _ location: Location, _ operation: S3Operation) -> Rule? {
        let lowered = location == .header ? name.lowercased() : name
        return byName[Key(location: location, name: lowered)]?.first { $0.matches(lowered, operation) }
            ?? prefixRules.first { $0.location == location && $0.matches(lowered, operation) }
    }

    private struct Key: Hashable {
        var location: Location
        var name: String
    }

    /// The rules by exact name, so a request's check is a lookup per header, not a walk of
    /// the table; prefix rows (`x-amz-meta-`) apart.
    private static let byName: [Key: [Rule]] = Dictionary(grouping: rules.filter { !$0.isPrefix }) {
        Key(location: $0.location, name: $0.name)
    }
    private static let prefixRules = rules.filter(\.isPrefix)

    /// Refuses the request when any header or query parameter asks for what is not built.
    /// Runs after authentication and before anything is read or stored.
    static func check(_ operation: S3Operation, _ s3: S3Request) throws(S3Error) {
        for field in s3.headers {
            try check(field.name.canonicalName, field.value, .header, operation)
        }
        for (name, value) in s3.query {
            try check(name, value, .query, operation)
        }
    }

    private static func check(_ name: String, _ value: String, _ location: Location,
                              _ operation: S3Operation) throws(S3Error) {
        guard let rule = rule(for: name, location, operation) else { return }
        switch rule.disposition {
        case .honoured:
            return
        case .honouredValues(let values, let otherwise):
            let trimmed = value.trimmingCharacters(in: .whitespaces)
            guard values.contains(where: { $0.caseInsensitiveCompare(trimmed) == .orderedSame }) else {
                throw otherwise.error(naming: name, value: trimmed)
            }
        case .refused(let refusal):
            throw refusal.error(naming: name, value: "")
        }
    }
}
