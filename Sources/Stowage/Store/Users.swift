import Crypto
import Foundation

/// A user, as the admin views list it.
public struct UserInfo: Sendable, Equatable {
    public var name: String
    public var createdMilliseconds: Int64
    /// Its access key ids.
    public var accessKeys: [String]
}

/// A new access key: the secret is shown once, here, and kept only sealed.
public struct NewAccessKey: Sendable, Equatable {
    public var user: String
    public var accessKeyID: String
    public var secretKey: String
}

/// Users and their access keys, kept in the index (so every gateway of a cluster sees the
/// same): `meta["users/" ‖ name]` and `meta["keys/" ‖ access key id]`. A key's secret is
/// sealed by the master key (AES-256-GCM, `Seal`; the key id and the user authenticated
/// with it), so the index — an etcd dump, a copied LMDB file — does not reveal it. The
/// administrator is not a user: it is the server's own credentials (`serve --access-key`,
/// its credentials file), which own every bucket without an owner.
public enum UserDirectory {
    static let userPrefix = Array("users/".utf8)
    static let keyPrefix = Array("keys/".utf8)
    static func userKey(_ name: String) -> [UInt8] { userPrefix + Array(name.utf8) }
    static func accessKey(_ id: String) -> [UInt8] { keyPrefix + Array(id.utf8) }
    static let secretInfo = "stowage/access-key/v1"
    /// At most this many keys per user (IAM allows 2; a little room for rotation).
    public static let maxKeysPerUser = 4

    /// IAM's user names: 1–64 of letters, digits and `+=,.@_-`.
    /// The administrator's canonical id (ACLs, owners in listings): no user may have it.
    public static let administratorID = "stowage"

    public static func isValidUserName(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count) && name.utf8.allSatisfy { c in
            (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
                || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || "+=,.@_-".utf8.contains(c)
        }
    }

    static func randomString(_ count: Int, alphabet: String) -> String {
        let symbols = Array(alphabet)
        var rng = SystemRandomNumberGenerator()
        return String((0..<count).map { _ in symbols[Int(rng.next(upperBound: UInt64(symbols.count)))] })
    }
}

/// `meta["users/" ‖ name]`: version 1, `i64` created (ms).
struct UserRecord {
    static let version: UInt8 = 1
    var createdMilliseconds: Int64

    func encoded() -> [UInt8] {
        var w = RecordWriter(version: Self.version)
        w.i64(createdMilliseconds)
        return w.bytes
    }

    init(createdMilliseconds: Int64) { self.createdMilliseconds = createdMilliseconds }

    init(decoding bytes: UnsafeRawBufferPointer) throws(RecordError) {
        var r = try RecordReader(bytes, record: "user", expectedVersion: Self.version)
        createdMilliseconds = try r.i64()
        try r.finish()
    }
}

/// `meta["keys/" ‖ access key id]`: version 1, `string` user, `i64` created (ms), `bytes`
/// salt (16), `bytes` the sealed secret (its UTF-8 bytes, then GCM's 16-byte tag).
struct AccessKeyRecord {
    static let version: UInt8 = 1
    var user: String
    var createdMilliseconds: Int64
    var salt: [UInt8]
    var sealedSecret: [UInt8]

    func encoded() -> [UInt8] {
        var w = RecordWriter(version: Self.version)
        w.string(user)
        w.i64(createdMilliseconds)
        w.blob(salt)
        w.blob(sealedSecret)
        return w.bytes
    }

    init(user: String, createdMilliseconds: Int64, salt: [UInt8], sealedSecret: [UInt8]) {
        self.user = user
        self.createdMilliseconds = createdMilliseconds
        self.salt = salt
        self.sealedSecret = sealedSecret
    }

    init(decoding bytes: UnsafeRawBufferPointer) throws(RecordError) {
        var r = try RecordReader(bytes, record: "access key", expectedVersion: Self.version)
        user = try r.string()
        createdMilliseconds = try r.i64()
        salt = try r.blob()
        sealedSecret = try r.blob()
        try r.finish()
    }

    static func associatedData(accessKeyID: String, user: String) -> [UInt8] {
        Array(accessKeyID.utf8) + [0] + Array(user.utf8)
    }
}

extension ObjectStore {
    /// Creates a user with no keys.
    public func createUser(_ name: String) async throws(StoreError) {
        _ = try requireMasterKey("Users")
        guard UserDirectory.isValidUserName(name) else {
            throw StoreError(.invalidArgument, "A user name is 1 to 64 letters, digits or +=,.@_-")
        }
        guard name != UserDirectory.administratorID else {
            throw StoreError(.invalidArgument, "\(name) is the administrator's canonical id, not a user name")
        }
        let encoded = UserRecord(createdMilliseconds: Self.nowMilliseconds()).encoded()
        try await mutate { [index] txn in
            guard try txn.put(index.meta, UserDirectory.userKey(name), encoded, noOverwrite: true) else {
                throw StoreError(.userConflict, "The user \(name) already exists")
            }
        }
    }

    /// Deletes a user that has no access keys and owns no bucket (delete those first, as
    /// IAM asks): nothing is left that names a user who is gone.
    public func deleteUser(_ name: String) async throws(StoreError) {
        try await mutate { [index, self] txn in
            guard try txn.delete(index.meta, UserDirectory.userKey(name)) else {
                throw StoreError(.noSuchUser, "The user \(name) does not exist")
            }
            if let key = try keyIDs(txn, of: name).first {
                throw StoreError(.userConflict, "The user \(name) still has the access key \(key): delete it first")
            }
            var owned: String?
            try txn.scan(index.buckets, from: []) { key, value in
                if try BucketRecord(decoding: value).owner == name {
                    owned = String(decoding: key, as: UTF8.self)
                    return false
                }
                return true
            }
            if let owned {
                throw StoreError(.userConflict, "The user \(name) still owns the bucket \(owned): delete it first")
            }
            // Its policies go with it.
            for policy in try userPolicies(txn, name) {
                _ = try txn.delete(index.meta, Self.userPolicyPrefix(name) + Array(policy.name.utf8))
            }
        }
    }

    /// Every user, by name, with its key ids.
    public func users() throws(StoreError) -> [UserInfo] {
        try read { txn in
            var users: [UserInfo] = []
            try txn.scan(index.meta, from: UserDirectory.userPrefix) { key, value in
                guard key.starts(with: UserDirectory.userPrefix) else { return false }
                let name = String(decoding: key.dropFirst(UserDirectory.userPrefix.count), as: UTF8.self)
                users.append(UserInfo(name: name, createdMilliseconds: try UserRecord(decoding: value).createdMilliseconds,
                                      accessKeys: []))
                return true
            }
            for i in users.indices { users[i].accessKeys = try keyIDs(txn, of: users[i].name) }
            return users
        }
    }

    private func keyIDs(_ txn: borrowing some IndexReading & ~Copyable, of user: String) throws -> [String] {
        var ids: [String] = []
        try txn.scan(index.meta, from: UserDirectory.keyPrefix) { key, value in
            guard key.starts(with: UserDirectory.keyPrefix) else { return false }
            if try AccessKeyRecord(decoding: value).user == user {
                ids.append(String(decoding: key.dropFirst(UserDirectory.keyPrefix.count), as: UTF8.self))
            }
            return true
        }
        return ids
    }

    /// A new access key for `user`: a 20-character id and a 40-character secret, drawn at
    /// random; the secret is returned once and stored sealed.
    public func createAccessKey(for user: String) async throws(StoreError) -> NewAccessKey {
        let master = try requireMasterKey("Users")
        let id = "STW" + UserDirectory.randomString(17, alphabet: "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        let secret = UserDirectory.randomString(40, alphabet: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        let (salt, sealed) = Seal.seal(Array(secret.utf8), key: master.key, info: UserDirectory.secretInfo,
                                       associatedData: AccessKeyRecord.associatedData(accessKeyID: id, user: user))
        let encoded = AccessKeyRecord(user: user, createdMilliseconds: Self.nowMilliseconds(), salt: salt,
                                      sealedSecret: sealed).encoded()
        try await mutate { [index, self] txn in
            guard try txn.withValue(index.meta, UserDirectory.userKey(user), { _ in true }) != nil else {
                throw StoreError(.noSuchUser, "The user \(user) does not exist")
            }
            guard try keyIDs(txn, of: user).count < UserDirectory.maxKeysPerUser else {
                throw StoreError(.userConflict, "The user \(user) has \(UserDirectory.maxKeysPerUser) access keys already")
            }
            guard try txn.put(index.meta, UserDirectory.accessKey(id), encoded, noOverwrite: true) else {
                throw StoreError(.userConflict, "An access key id was drawn twice; retry")
            }
        }
        return NewAccessKey(user: user, accessKeyID: id, secretKey: secret)
    }

    public func deleteAccessKey(_ id: String) async throws(StoreError) {
        try await mutate { [index] txn in
            guard try txn.delete(index.meta, UserDirectory.accessKey(id)) else {
                throw StoreError(.noSuchUser, "The access key \(id) does not exist")
            }
        }
    }

    /// The user and secret of an access key id; nil when there is no such key (or no
    /// master key to open it with).
    public func accessKeySecret(_ id: String) throws(StoreError) -> (user: String, secret: String)? {
        guard let master = options.masterKey, id.utf8.count <= 128 else { return nil }
        let record = try read { txn in
            try txn.withValue(index.meta, UserDirectory.accessKey(id)) { try AccessKeyRecord(decoding: $0) }
        }
        guard let record else { return nil }
        guard let secret = Seal.open(record.sealedSecret, salt: record.salt, key: master.key, info: UserDirectory.secretInfo,
                                     associatedData: AccessKeyRecord.associatedData(accessKeyID: id, user: record.user)) else {
            throw StoreError(.integrity, "The access key \(id) does not open with this server's master key (fingerprint \(master.fingerprint))")
        }
        return (record.user, String(decoding: secret, as: UTF8.self))
    }

    /// The bucket's owner: a user's name, or nil for the administrator.
    /// Whether `name` is a user (one index read; an ACL grant names users by it).
    public func userExists(_ name: String) throws(StoreError) -> Bool {
        try read { txn in try txn.withValue(index.meta, UserDirectory.userKey(name)) { _ in true } ?? false }
    }

    public func bucketOwner(_ name: String) throws(StoreError) -> String? {
        try Validation.checkBucketName(name)
        let owner = try read { txn in try index.bucketRecord(txn, name).owner }
        return owner.isEmpty ? nil : owner
    }
}

/// Users' own policies (IAM identity policies): `meta["userpolicy/" ‖ user ‖ 0x00 ‖ name]`,
/// the JSON text as attached (the S3 layer checks and evaluates it). They go with the user.
extension ObjectStore {
    static func userPolicyPrefix(_ user: String) -> [UInt8] { Array("userpolicy/".utf8) + Array(user.utf8) + [0] }

    /// Attaches (or replaces) the policy `name` of `user`.
    public func attachUserPolicy(user: String, name: String, text: [UInt8]) async throws(StoreError) {
        guard UserDirectory.isValidUserName(name) else {
            throw StoreError(.invalidArgument, "A policy name is 1 to 64 letters, digits or +=,.@_-")
        }
        let key = Self.userPolicyPrefix(user) + Array(name.utf8)
        try await mutate { [index] txn in
            guard try txn.withValue(index.meta, UserDirectory.userKey(user), { _ in true }) != nil else {
                throw StoreError(.noSuchUser, "The user \(user) does not exist")
            }
            _ = try txn.put(index.meta, key, text, noOverwrite: false)
        }
    }

    public func detachUserPolicy(user: String, name: String) async throws(StoreError) {
        let key = Self.userPolicyPrefix(user) + Array(name.utf8)
        try await mutate { [index] txn in
            guard try txn.delete(index.meta, key) else {
                throw StoreError(.noSuchUser, "The user \(user) has no policy \(name)")
            }
        }
    }

    /// The user's policies, by name.
    public func userPolicies(_ user: String) throws(StoreError) -> [(name: String, text: [UInt8])] {
        try read { txn in try userPolicies(txn, user) }
    }

    func userPolicies(_ txn: borrowing some IndexReading & ~Copyable, _ user: String) throws -> [(name: String, text: [UInt8])] {
        let prefix = Self.userPolicyPrefix(user)
        var policies: [(name: String, text: [UInt8])] = []
        try txn.scan(index.meta, from: prefix) { key, value in
            guard key.starts(with: prefix) else { return false }
            policies.append((String(decoding: key.dropFirst(prefix.count), as: UTF8.self), Array(value)))
            return true
        }
        return policies
    }
}
