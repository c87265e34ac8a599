/// S3's access control lists (ACLs) and Object Ownership, as the engine stores them.
///
/// An owner or a user grantee is a user's name; the administrator (the server's own
/// credentials) is the empty name, as in `BucketRecord.owner`. The S3 layer shows names as
/// canonical user ids.
public struct AccessControlList: Sendable, Equatable {
    public enum Grantee: Sendable, Hashable {
        /// A user (by name; "" the administrator).
        case user(String)
        /// `http://acs.amazonaws.com/groups/global/AllUsers`: anyone, signed or not.
        case allUsers
        /// `http://acs.amazonaws.com/groups/global/AuthenticatedUsers`: any signed request.
        case authenticatedUsers
        /// `http://acs.amazonaws.com/groups/s3/LogDelivery`: kept and shown; nobody is in it
        /// (Stowage delivers no access logs), so it grants nothing.
        case logDelivery

        /// A grant to everyone (signed or not): what PublicAccessBlock's ACL settings act on.
        public var isPublic: Bool { self == .allUsers || self == .authenticatedUsers }
    }

    public enum Permission: UInt8, Sendable, CaseIterable {
        case fullControl = 1, read, write, readACP, writeACP

        public var wireName: String {
            switch self {
            case .fullControl: "FULL_CONTROL"
            case .read: "READ"
            case .write: "WRITE"
            case .readACP: "READ_ACP"
            case .writeACP: "WRITE_ACP"
            }
        }

        public init?(wireName: String) {
            guard let match = Self.allCases.first(where: { $0.wireName == wireName }) else { return nil }
            self = match
        }

        /// FULL_CONTROL implies every other permission.
        public func includes(_ other: Permission) -> Bool { self == other || self == .fullControl }
    }

    public struct Grant: Sendable, Hashable {
        public var grantee: Grantee
        public var permission: Permission
        public init(_ grantee: Grantee, _ permission: Permission) {
            self.grantee = grantee
            self.permission = permission
        }
    }

    public var owner: String
    public var grants: [Grant]

    public init(owner: String, grants: [Grant]) {
        self.owner = owner
        self.grants = grants
    }

    /// `private`: the owner has FULL_CONTROL, nobody else anything.
    public static func `private`(owner: String) -> AccessControlList {
        AccessControlList(owner: owner, grants: [Grant(.user(owner), .fullControl)])
    }

    /// The canned ACLs S3 defines (and that Stowage keeps), expanded for an owner; the
    /// `bucket-owner-*` ones name the bucket's owner too. nil: not a canned ACL Stowage knows.
    public static func canned(_ name: String, owner: String, bucketOwner: String) -> AccessControlList? {
        var acl = AccessControlList.private(owner: owner)
        switch name {
        case "private": break
        case "public-read": acl.grants.append(Grant(.allUsers, .read))
        case "public-read-write": acl.grants += [Grant(.allUsers, .read), Grant(.allUsers, .write)]
        case "authenticated-read": acl.grants.append(Grant(.authenticatedUsers, .read))
        case "bucket-owner-read":
            if bucketOwner != owner { acl.grants.append(Grant(.user(bucketOwner), .read)) }
        case "bucket-owner-full-control":
            if bucketOwner != owner { acl.grants.append(Grant(.user(bucketOwner), .fullControl)) }
        case "log-delivery-write": acl.grants += [Grant(.logDelivery, .write), Grant(.logDelivery, .readACP)]
        default: return nil
        }
        return acl
    }

    /// Whether `grantee`-matching grants give `permission`: `matches` says which grantees
    /// the caller is (a user, and the groups it belongs to).
    public func grants(_ permission: Permission, to matches: (Grantee) -> Bool) -> Bool {
        grants.contains { $0.permission.includes(permission) && matches($0.grantee) }
    }

    /// Any grant to AllUsers or AuthenticatedUsers.
    public var isPublic: Bool { grants.contains { $0.grantee.isPublic } }

    /// Only the owner holds anything (what BucketOwnerEnforced requires of a bucket's ACL).
    public var grantsOnlyToOwner: Bool { grants.allSatisfy { $0.grantee == .user(owner) } }
}

/// S3 Object Ownership (`x-amz-object-ownership`, Put/Get/DeleteBucketOwnershipControls).
public enum ObjectOwnership: UInt8, Sendable, CaseIterable {
    /// ACLs are disabled: the bucket owner owns every object; only `private` and
    /// `bucket-owner-full-control` (which say the same) are accepted. A bucket without
    /// ownership controls has this, as S3's buckets have had since April 2023.
    case bucketOwnerEnforced = 1
    /// ACLs work; an object written with `bucket-owner-full-control` is owned by the
    /// bucket's owner, any other by its writer.
    case bucketOwnerPreferred = 2
    /// ACLs work; every object is owned by its writer.
    case objectWriter = 3

    public var wireName: String {
        switch self {
        case .bucketOwnerEnforced: "BucketOwnerEnforced"
        case .bucketOwnerPreferred: "BucketOwnerPreferred"
        case .objectWriter: "ObjectWriter"
        }
    }

    public init?(wireName: String) {
        guard let match = Self.allCases.first(where: { $0.wireName == wireName }) else { return nil }
        self = match
    }

    public var aclsEnabled: Bool { self != .bucketOwnerEnforced }
}
