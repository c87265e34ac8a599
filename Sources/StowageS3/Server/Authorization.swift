import Foundation
import HTTPTypes
import NIOCore
import Stowage

/// Who may do what, before a handler runs (S3's evaluation, for what is built):
///
/// 1. The administrator (the server's own credentials) may do everything.
/// 2. For each bucket the request touches (its own; a copy's source too), the bucket's
///    policy is read: a matching `Deny` refuses (403), whoever asks — the owner too.
/// 3. The bucket's owner (the user that created it) may do everything else on it.
/// 4. Anyone else — another user, or an unsigned request — needs a matching `Allow`.
///
/// RenameObject needs `s3:PutObject` on the destination and `s3:DeleteObject` on the
/// source; a copy `s3:GetObject` on its source. The policy itself (Put/Get/Delete,
/// GetBucketPolicyStatus) is its owner's alone. Refusals are 403 AccessDenied with nothing
/// read or written.
/// 5. Failing an `Allow`, the bucket's ACL (bucket actions, and writes of objects) or the
///    object's ACL (reads of it, its ACL) may grant — unless the bucket's ownership is
///    BucketOwnerEnforced, where ACLs are disabled.
enum Authorization {
    /// Everything about the request that a policy may look at.
    struct Caller {
        /// nil: the administrator.
        var principal: BucketPolicy.Principal?
        var sourceIP: String?
        var secure: Bool
    }

    static func check(_ operation: S3Operation, _ s3: S3Request, caller: Caller, store: ObjectStore) async throws {
        guard let principal = caller.principal else { return }
        // A user's own policies (`stowage admin policy attach`): they grant and deny too.
        var userPolicy: BucketPolicy?
        if case .user(let name) = principal { userPolicy = try await Self.userPolicy(of: name, store: store) }
        if operation == .listBuckets || operation == .createBucket {
            // A user lists (its own) buckets and creates buckets unless its policy denies it;
            // nobody unsigned does.
            if principal == .anonymous { throw denied }
            let request = BucketPolicy.Request(
                principal: principal, action: operation == .listBuckets ? "s3:ListAllMyBuckets" : "s3:CreateBucket",
                resource: operation == .listBuckets ? "arn:aws:s3:::*" : "arn:aws:s3:::" + (s3.bucket ?? ""),
                context: context(s3, caller: caller))
            if userPolicy?.decide(request) == .deny { throw denied }
            return
        }
        guard let bucket = s3.bucket else { throw denied }
        let policyOperations: Set<S3Operation> = [.putBucketPolicy, .getBucketPolicy, .deleteBucketPolicy, .getBucketPolicyStatus,
                                                  .putPublicAccessBlock, .getPublicAccessBlock, .deletePublicAccessBlock]
        // One snapshot per bucket the request touches (a rename's two checks share one).
        var authorities: [String: ObjectStore.BucketAuthority?] = [:]
        let requestContext = context(s3, caller: caller)
        for check in requiredPermissions(operation, s3, bucket: bucket) {
            if authorities[check.bucket] == nil { authorities[check.bucket] = try await Self.authority(of: check.bucket, store: store) }
            guard case .some(.some(let authority)) = authorities[check.bucket] else {
                // No such bucket: a signed request learns it (404); an unsigned one, nothing.
                if principal == .anonymous { throw denied }
                continue
            }
            let owner = authority.access.owner
            let isOwner = !owner.isEmpty && principal == .user(owner)
            if policyOperations.contains(operation) {
                guard isOwner else { throw denied }
                continue
            }
            let policy = try Self.policy(authority.policy, of: check.bucket)
            var request = BucketPolicy.Request(principal: principal, action: check.action, resource: check.resource,
                                               context: requestContext)
            if policy?.mentionsExistingObjectTags == true || userPolicy?.mentionsExistingObjectTags == true, let key = check.key {
                for tag in (try? await store.offLoop { try $0.objectTagging(bucket: check.bucket, key: key).tags }) ?? [] {
                    request.context["s3:existingobjecttag/" + tag.key.lowercased()] = [tag.value]
                }
            }
            var decisions = [policy?.decide(request), userPolicy?.decide(request)]
            if decisions.contains(.deny) { throw denied }
            // RestrictPublicBuckets: a public policy grants nothing to unsigned requests.
            if principal == .anonymous, policy?.isPublic == true, authority.publicAccessBlock?.restrictPublicBuckets == true {
                decisions = []
            }
            if isOwner || decisions.contains(.allow) { continue }
            guard try await aclAllows(check, s3, principal: principal, authority: authority, store: store) else { throw denied }
        }
    }

    /// The ACL permission an action needs, and whether the bucket's ACL or the object's
    /// answers it (S3's mapping of ACL permissions to actions).
    static func aclPermission(for action: String) -> (onObject: Bool, permission: AccessControlList.Permission)? {
        switch action {
        case "s3:ListBucket", "s3:ListBucketVersions", "s3:ListBucketMultipartUploads": (false, .read)
        case "s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:AbortMultipartUpload",
             "s3:ListMultipartUploadParts": (false, .write)
        case "s3:GetBucketAcl": (false, .readACP)
        case "s3:PutBucketAcl": (false, .writeACP)
        case "s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectAttributes", "s3:GetObjectVersionAttributes": (true, .read)
        case "s3:GetObjectAcl", "s3:GetObjectVersionAcl": (true, .readACP)
        case "s3:PutObjectAcl", "s3:PutObjectVersionAcl": (true, .writeACP)
        default: nil
        }
    }

    /// Whether the bucket's or the object's ACL grants what `check` needs. Nothing does in a
    /// BucketOwnerEnforced bucket (ACLs disabled); IgnorePublicAcls drops the grants to
    /// AllUsers and AuthenticatedUsers.
    static func aclAllows(_ check: Permission, _ s3: S3Request, principal: BucketPolicy.Principal,
                          authority: ObjectStore.BucketAuthority, store: ObjectStore) async throws -> Bool {
        guard let (onObject, needed) = aclPermission(for: check.action) else { return false }
        let bucket = check.bucket
        let access = authority.access
        guard access.ownership.aclsEnabled else { return false }
        let ignorePublic = authority.publicAccessBlock?.ignorePublicAcls == true
        let matches = { (grantee: AccessControlList.Grantee) -> Bool in
            switch grantee {
            case .user(let name): principal == .user(name)
            case .allUsers: !ignorePublic
            case .authenticatedUsers: !ignorePublic && principal != .anonymous
            case .logDelivery: false
            }
        }
        guard onObject else { return access.acl.grants(needed, to: matches) }
        guard let key = check.key, key != "*" else { return false }
        let versionID = bucket == s3.bucket && key == s3.key ? s3.parameter("versionId") : nil
        let acl: AccessControlList
        do { acl = try await store.offLoop { try $0.objectACL(bucket: bucket, key: key, versionID: versionID).acl } } catch {
            return false   // no such object: nothing to grant (the caller learns nothing)
        }
        // An object's owner may always read and write its ACL.
        if needed == .readACP || needed == .writeACP, principal == .user(acl.owner) { return true }
        return acl.grants(needed, to: matches)
    }

    static let denied = S3Error(.forbidden, "AccessDenied", "Access Denied")

    struct Permission {
        var bucket: String
        var key: String?
        var action: String
        var resource: String { "arn:aws:s3:::" + bucket + (key.map { "/" + $0 } ?? "") }
    }

    /// The permissions an operation needs: one action on its bucket or object, and for
    /// copies and renames their sources too.
    static func requiredPermissions(_ operation: S3Operation, _ s3: S3Request, bucket: String) -> [Permission] {
        let key = s3.key
        let versioned = s3.parameter("versionId") != nil
        func object(_ action: String) -> [Permission] { [Permission(bucket: bucket, key: key ?? "", action: action)] }
        func onBucket(_ action: String) -> [Permission] { [Permission(bucket: bucket, key: nil, action: action)] }
        switch operation {
        case .getObject, .headObject: return object(versioned ? "s3:GetObjectVersion" : "s3:GetObject")
        case .getObjectAttributes: return object(versioned ? "s3:GetObjectVersionAttributes" : "s3:GetObjectAttributes")
        case .putObject, .createMultipartUpload, .uploadPart, .completeMultipartUpload: return object("s3:PutObject")
        case .deleteObject: return object(versioned ? "s3:DeleteObjectVersion" : "s3:DeleteObject")
        case .abortMultipartUpload: return object("s3:AbortMultipartUpload")
        case .listParts: return object("s3:ListMultipartUploadParts")
        case .getObjectTagging: return object(versioned ? "s3:GetObjectVersionTagging" : "s3:GetObjectTagging")
        case .putObjectTagging: return object(versioned ? "s3:PutObjectVersionTagging" : "s3:PutObjectTagging")
        case .deleteObjectTagging: return object(versioned ? "s3:DeleteObjectVersionTagging" : "s3:DeleteObjectTagging")
        case .getObjectRetention: return object("s3:GetObjectRetention")
        case .putObjectRetention: return object("s3:PutObjectRetention")
        case .getObjectLegalHold: return object("s3:GetObjectLegalHold")
        case .putObjectLegalHold: return object("s3:PutObjectLegalHold")
        case .renameObject:
            var needs = object("s3:PutObject")
            if let source = s3.header("x-amz-rename-source").map({ PercentDecoding.string($0) ?? $0 }) {
                needs.append(Permission(bucket: bucket, key: source.hasPrefix("/") ? String(source.dropFirst()) : source,
                                        action: "s3:DeleteObject"))
            }
            return needs
        case .copyObject, .uploadPartCopy:
            var needs = object("s3:PutObject")
            if let header = s3.header("x-amz-copy-source"), let (sourceBucket, sourceKey, version) = try? Handlers.copySource(header) {
                needs.append(Permission(bucket: sourceBucket, key: sourceKey,
                                        action: version == nil ? "s3:GetObject" : "s3:GetObjectVersion"))
            }
            return needs
        case .deleteObjects:
            // Each key of the list is a DeleteObject; the list is checked as the bucket's.
            return [Permission(bucket: bucket, key: "*", action: "s3:DeleteObject")]
        case .renamePrefix:
            // Every key it moves: delete at the source, put at the destination.
            return [Permission(bucket: bucket, key: "*", action: "s3:DeleteObject"),
                    Permission(bucket: bucket, key: "*", action: "s3:PutObject")]
        case .listObjects, .listObjectsV2, .headBucket: return onBucket("s3:ListBucket")
        case .listObjectVersions: return onBucket("s3:ListBucketVersions")
        case .listMultipartUploads: return onBucket("s3:ListBucketMultipartUploads")
        case .getBucketLocation: return onBucket("s3:GetBucketLocation")
        case .deleteBucket: return onBucket("s3:DeleteBucket")
        case .getBucketVersioning: return onBucket("s3:GetBucketVersioning")
        case .putBucketVersioning: return onBucket("s3:PutBucketVersioning")
        case .getObjectLockConfiguration: return onBucket("s3:GetBucketObjectLockConfiguration")
        case .putObjectLockConfiguration: return onBucket("s3:PutBucketObjectLockConfiguration")
        case .getBucketTagging: return onBucket("s3:GetBucketTagging")
        case .putBucketTagging, .deleteBucketTagging: return onBucket("s3:PutBucketTagging")
        case .getBucketLifecycleConfiguration: return onBucket("s3:GetLifecycleConfiguration")
        case .putBucketLifecycleConfiguration, .deleteBucketLifecycle: return onBucket("s3:PutLifecycleConfiguration")
        case .getBucketEncryption: return onBucket("s3:GetEncryptionConfiguration")
        case .putBucketEncryption, .deleteBucketEncryption: return onBucket("s3:PutEncryptionConfiguration")
        case .getBucketCors: return onBucket("s3:GetBucketCORS")
        case .putBucketCors, .deleteBucketCors: return onBucket("s3:PutBucketCORS")
        case .getBucketPolicy: return onBucket("s3:GetBucketPolicy")
        case .putBucketPolicy: return onBucket("s3:PutBucketPolicy")
        case .deleteBucketPolicy: return onBucket("s3:DeleteBucketPolicy")
        case .getBucketPolicyStatus: return onBucket("s3:GetBucketPolicyStatus")
        case .getPublicAccessBlock: return onBucket("s3:GetBucketPublicAccessBlock")
        case .putPublicAccessBlock, .deletePublicAccessBlock: return onBucket("s3:PutBucketPublicAccessBlock")
        case .getBucketAcl: return onBucket("s3:GetBucketAcl")
        case .putBucketAcl: return onBucket("s3:PutBucketAcl")
        case .getObjectAcl: return object(versioned ? "s3:GetObjectVersionAcl" : "s3:GetObjectAcl")
        case .putObjectAcl: return object(versioned ? "s3:PutObjectVersionAcl" : "s3:PutObjectAcl")
        case .getBucketOwnershipControls: return onBucket("s3:GetBucketOwnershipControls")
        case .putBucketOwnershipControls, .deleteBucketOwnershipControls: return onBucket("s3:PutBucketOwnershipControls")
        case .listBuckets: return []
        case .createBucket: return onBucket("s3:CreateBucket")
        }
    }

    /// The condition keys the request has (names lowercased).
    static func context(_ s3: S3Request, caller: Caller) -> [String: [String]] {
        var context: [String: [String]] = [
            "aws:securetransport": [caller.secure ? "true" : "false"],
            "aws:currenttime": [ISO8601DateFormatter().string(from: Date())],
            "aws:epochtime": [String(Int(Date().timeIntervalSince1970))],
        ]
        if let ip = caller.sourceIP { context["aws:sourceip"] = [ip] }
        if case .user(let name)? = caller.principal { context["aws:username"] = [name] }
        if let agent = s3.header("user-agent") { context["aws:useragent"] = [agent] }
        if let referer = s3.header("referer") { context["aws:referer"] = [referer] }
        for name in ["prefix", "delimiter", "max-keys"] {
            if let value = s3.parameter(name) { context["s3:" + name] = [value] }
        }
        if let version = s3.parameter("versionId") { context["s3:versionid"] = [version] }
        for header in ["x-amz-server-side-encryption", "x-amz-server-side-encryption-aws-kms-key-id", "x-amz-acl",
                       "x-amz-grant-full-control", "x-amz-grant-read", "x-amz-grant-write", "x-amz-grant-read-acp",
                       "x-amz-grant-write-acp",
                       "x-amz-copy-source", "x-amz-metadata-directive", "x-amz-storage-class", "x-amz-content-sha256"] {
            if let value = s3.header(header) { context["s3:" + header] = [value] }
        }
        return context
    }

    /// What authorization reads of a bucket, in one snapshot; nil when the bucket does not
    /// exist (the handler then answers 404 or 400, as for anyone).
    private static func authority(of bucket: String, store: ObjectStore) async throws -> ObjectStore.BucketAuthority? {
        do {
            return try await store.offLoop { try $0.bucketAuthority(bucket) }
        } catch {
            if error.code == .noSuchBucket || error.code == .invalidBucketName { return nil }
            throw error
        }
    }

    /// A bucket's policy, parsed (`PolicyCache`: parsed once per text); nil when it has
    /// none. A stored policy that no longer parses (it parsed when put) denies rather than allows.
    static func policy(_ text: [UInt8]?, of bucket: String) throws -> BucketPolicy? {
        guard let text else { return nil }
        do { return try policyCache.parsed(text, bucket: bucket) } catch { throw denied }
    }

    static let policyCache = PolicyCache()

    /// The user's policies as one: their statements together. A stored policy that no
    /// longer parses denies rather than allows.
    static func userPolicy(of user: String, store: ObjectStore) async throws -> BucketPolicy? {
        let texts = try await store.offLoop { try $0.userPolicies(user) }
        guard !texts.isEmpty else { return nil }
        var statements: [BucketPolicy.Statement] = []
        for (_, text) in texts {
            do { statements += try policyCache.parsed(text, bucket: nil).statements } catch { throw denied }
        }
        return BucketPolicy(statements: statements)
    }

    static func sourceIP(_ address: SocketAddress?) -> String? {
        address?.ipAddress
    }
}

extension BucketPolicy {
    var mentionsExistingObjectTags: Bool {
        statements.contains { $0.conditions.contains { $0.key.lowercased().hasPrefix("s3:existingobjecttag/") } }
    }
}
