/// ACLs and Object Ownership, above the index seam (the same in both modes):
///
/// - a bucket's ACL: `meta["acl/" ‖ bucket]` (format 1: the ACL), absent = `private`;
/// - its Object Ownership: `meta["ownership/" ‖ bucket]` (format 1: u8 `ObjectOwnership`),
///   absent = BucketOwnerEnforced, which disables ACLs;
/// - an object version's ACL: in its `ObjectRecord` (format 4), absent = `private`, owned by
///   the bucket's owner. RenameObject and prefix rename move the record, so the ACL goes
///   with the object; a copy takes the request's ACL, never the source's (as S3 does).
///
/// DeleteBucket removes both meta entries with the bucket.
extension ObjectStore {
    static func bucketACLKey(_ bucket: String) -> [UInt8] { Array("acl/".utf8) + Array(bucket.utf8) }
    static func ownershipKey(_ bucket: String) -> [UInt8] { Array("ownership/".utf8) + Array(bucket.utf8) }

    static let aclWithEnforcedOwnership = StoreError(
        .invalidBucketAclWithObjectOwnership, "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting")
    static let aclsDisabled = StoreError(.accessControlListNotSupported, "The bucket does not allow ACLs")

    /// What authorization and the write handlers need of a bucket, read at once.
    public struct BucketAccess: Sendable, Equatable {
        /// "" the administrator.
        public var owner: String
        public var ownership: ObjectOwnership
        /// True when ownership controls were set (GetBucketOwnershipControls answers them).
        public var ownershipSet: Bool
        public var acl: AccessControlList
    }

    /// The meta entries CreateBucket writes with the bucket (none for the defaults).
    static func bucketAccessSettings(_ bucket: String, ownership: ObjectOwnership?,
                                     acl: AccessControlList?) -> [([UInt8], [UInt8])] {
        var settings: [([UInt8], [UInt8])] = []
        if let ownership {
            var w = RecordWriter(version: 1)
            w.u8(ownership.rawValue)
            settings.append((ownershipKey(bucket), w.bytes))
        }
        if let acl, !acl.grantsOnlyToOwner {
            var w = RecordWriter(version: 1)
            w.acl(acl)
            settings.append((bucketACLKey(bucket), w.bytes))
        }
        return settings
    }

    /// The bucket's owner, ownership and ACL; `NoSuchBucket` when there is no such bucket.
    public func bucketAccess(_ bucket: String) throws(StoreError) -> BucketAccess {
        try Validation.checkBucketName(bucket)
        return try read { txn in try bucketAccess(txn, bucket) }
    }

    func bucketAccess(_ txn: borrowing some IndexReading & ~Copyable, _ bucket: String) throws -> BucketAccess {
        let owner = try index.bucketRecord(txn, bucket).owner
        let ownership = try txn.withValue(index.meta, Self.ownershipKey(bucket)) { bytes in
            var r = try RecordReader(bytes, record: "ownership", expectedVersion: 1)
            let raw = try r.u8()
            try r.finish()
            guard let ownership = ObjectOwnership(rawValue: raw) else {
                throw RecordError(record: "ownership", reason: "unknown ownership \(raw)")
            }
            return ownership
        }
        let acl = try txn.withValue(index.meta, Self.bucketACLKey(bucket)) { bytes in
            var r = try RecordReader(bytes, record: "bucket ACL", expectedVersion: 1)
            let acl = try r.acl()
            try r.finish()
            return acl
        }
        return BucketAccess(owner: owner, ownership: ownership ?? .bucketOwnerEnforced, ownershipSet: ownership != nil,
                            acl: acl ?? .private(owner: owner))
    }

    /// Everything authorization reads of a bucket — owner, ownership, ACL, policy text and
    /// PublicAccessBlock — in one read transaction (one snapshot; in cluster mode one etcd
    /// revision). `NoSuchBucket` when there is no such bucket.
    public struct BucketAuthority: Sendable {
        public var access: BucketAccess
        public var policy: [UInt8]?
        public var publicAccessBlock: PublicAccessBlock?
    }

    public func bucketAuthority(_ bucket: String) throws(StoreError) -> BucketAuthority {
        try Validation.checkBucketName(bucket)
        return try read { txn in
            BucketAuthority(access: try bucketAccess(txn, bucket),
                            policy: try txn.withValue(index.meta, Self.bucketPolicyKey(bucket)) { Array($0) },
                            publicAccessBlock: try publicAccessBlock(txn, bucket))
        }
    }

    /// PutBucketAcl. The ACL's owner is the bucket's; BucketOwnerEnforced accepts only an
    /// ACL that grants nothing beyond the owner (and changes nothing).
    public func setBucketACL(_ bucket: String, acl: AccessControlList) async throws(StoreError) {
        try Validation.checkBucketName(bucket)
        try await mutate { [index, self] txn in
            let access = try bucketAccess(txn, bucket)
            guard acl.owner == access.owner else {
                throw StoreError(.accessDenied, "The ACL's owner must be the bucket's owner")
            }
            if !access.ownership.aclsEnabled, !acl.grantsOnlyToOwner { throw Self.aclsDisabled }
            if acl.grantsOnlyToOwner {
                _ = try txn.delete(index.meta, Self.bucketACLKey(bucket))
            } else {
                for (key, value) in Self.bucketAccessSettings(bucket, ownership: nil, acl: acl) { try txn.put(index.meta, key, value) }
            }
        }
    }

    /// GetBucketOwnershipControls: `OwnershipControlsNotFoundError` when none were set.
    public func ownershipControls(_ bucket: String) throws(StoreError) -> ObjectOwnership {
        let access = try bucketAccess(bucket)
        guard access.ownershipSet else {
            throw StoreError(.ownershipControlsNotFound, "The bucket ownership controls were not found")
        }
        return access.ownership
    }

    /// Put (a value) or DeleteBucketOwnershipControls (nil, which means BucketOwnerEnforced).
    /// Enforcing is refused while the bucket's ACL grants beyond its owner; objects' ACLs
    /// stay stored and count again if ACLs are enabled later (as in S3).
    public func setOwnershipControls(_ bucket: String, _ ownership: ObjectOwnership?) async throws(StoreError) {
        try Validation.checkBucketName(bucket)
        try await mutate { [index, self] txn in
            let access = try bucketAccess(txn, bucket)
            if !(ownership ?? .bucketOwnerEnforced).aclsEnabled, !access.acl.grantsOnlyToOwner {
                throw Self.aclWithEnforcedOwnership
            }
            if let ownership {
                for (key, value) in Self.bucketAccessSettings(bucket, ownership: ownership, acl: nil) {
                    try txn.put(index.meta, key, value)
                }
            } else {
                _ = try txn.delete(index.meta, Self.ownershipKey(bucket))
            }
        }
    }

    /// GetObjectAcl: the version's ACL and the version id S3 shows.
    public func objectACL(bucket: String, key: String, versionID: String? = nil) throws(StoreError)
        -> (acl: AccessControlList, versionID: String?) {
        try read { txn in
            let (_, record, versioning) = try namedVersion(txn, bucket: bucket, key: key, versionID: versionID)
            let owner = try index.bucketRecord(txn, bucket).owner
            return (record.acl ?? .private(owner: owner), record.info(key: key, versioning: versioning).versionID)
        }
    }

    /// PutObjectAcl. The ACL's owner is the object's (unchanged); BucketOwnerEnforced
    /// accepts only an owner-only ACL. Returns the version id shown.
    @discardableResult
    public func setObjectACL(bucket: String, key: String, versionID: String? = nil,
                             acl: AccessControlList) async throws(StoreError) -> String? {
        try Validation.checkGrants(acl)
        return try await mutate { [index, self] txn in
            let (location, record, versioning) = try namedVersion(txn, bucket: bucket, key: key, versionID: versionID)
            let access = try bucketAccess(txn, bucket)
            let owner = record.acl?.owner ?? access.owner
            guard acl.owner == owner else { throw StoreError(.accessDenied, "The ACL's owner must be the object's owner") }
            var updated = record
            updated.acl = try Self.storedObjectACL(acl, access: access)
            try index.replaceVersionRecord(txn, bucket: bucket, key: key, at: location, with: updated)
            return record.info(key: key, versioning: versioning).versionID
        }
    }

    /// What a new object version records for `acl`: nil for the default (private, owned by
    /// the bucket's owner). Refused when the bucket's ownership disables ACLs and the ACL
    /// says more than that default.
    public static func storedObjectACL(_ acl: AccessControlList?, access: BucketAccess) throws(StoreError) -> AccessControlList? {
        guard let acl else { return nil }
        let isDefault = acl.owner == access.owner && acl.grantsOnlyToOwner
        if !access.ownership.aclsEnabled {
            // bucket-owner-full-control by another writer names the bucket owner too: the
            // same as the default once the bucket owner owns the object.
            let ownerOnly = acl.grants.allSatisfy { $0.grantee == .user(acl.owner) || $0.grantee == .user(access.owner) }
            guard isDefault || ownerOnly else { throw aclsDisabled }
            return nil
        }
        return isDefault ? nil : acl
    }

    /// Checks (in the write's transaction) and normalizes the ACL a new version gets.
    func objectACLForWrite(_ txn: borrowing some IndexReading & ~Copyable, bucket: String,
                           _ acl: AccessControlList?) throws -> AccessControlList? {
        guard let acl else { return nil }
        return try Self.storedObjectACL(acl, access: bucketAccess(txn, bucket))
    }
}

extension Validation {
    static func checkGrants(_ acl: AccessControlList) throws(StoreError) {
        guard acl.grants.count <= Limits.maxGrants else {
            throw StoreError(.invalidArgument, "An ACL has at most \(Limits.maxGrants) grants")
        }
    }
}
