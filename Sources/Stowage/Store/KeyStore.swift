import Crypto
import Foundation

/// A key of the local key store (SSE-KMS), as the admin views list it.
public struct KMSKeyInfo: Sendable, Equatable {
    public var keyID: String
    public var createdMilliseconds: Int64
    /// The built-in key (`KeyStore.defaultKeyID`), derived from the master key.
    public var isDefault: Bool
}

/// A bucket's default encryption (PutBucketEncryption): SSE-S3 or SSE-KMS.
public struct BucketEncryption: Sendable, Equatable {
    public var encryption: ServerSideEncryption
    public var bucketKeyEnabled: Bool

    public init(encryption: ServerSideEncryption, bucketKeyEnabled: Bool = false) {
        self.encryption = encryption
        self.bucketKeyEnabled = bucketKeyEnabled
    }
}

/// Where the keys behind SSE-S3, SSE-KMS and SSE-C come from:
/// - the master key (`StoreOptions.masterKey`, from the operator; never in the store);
/// - the key store: `meta["kms/" ‖ id]` holds each SSE-KMS key's material, sealed by the
///   master key; the built-in key `stowage-default` is derived from the master key;
/// - the customer's key, carried by each SSE-C request and never kept.
public enum KeyStore {
    public static let defaultKeyID = "stowage-default"
    static let keyPrefix = Array("kms/".utf8)
    static func key(_ id: String) -> [UInt8] { keyPrefix + Array(id.utf8) }
    static func bucketEncryptionKey(_ bucket: String) -> [UInt8] { Array("encryption/".utf8) + Array(bucket.utf8) }

    /// A key id as a request names it: the id, or a KMS key ARN ending in `key/ID`.
    public static func keyID(fromWire text: String) -> String {
        if text.hasPrefix("arn:"), let range = text.range(of: ":key/") { return String(text[range.upperBound...]) }
        return text
    }

    public static func isValidKeyID(_ id: String) -> Bool {
        (1...64).contains(id.utf8.count) && id.utf8.allSatisfy { c in
            (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
                || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "-") || c == UInt8(ascii: "_")
        }
    }
}

/// `meta["kms/" ‖ id]`: version 1, `i64` created (ms), the key's material sealed by the
/// master key as a data key is (`SealedDataKey`, scheme kms, key id = the id).
struct KMSKeyRecord {
    static let version: UInt8 = 1
    var createdMilliseconds: Int64
    var material: SealedDataKey

    func encoded() -> [UInt8] {
        var w = RecordWriter(version: Self.version)
        w.i64(createdMilliseconds)
        w.blob(material.salt)
        w.blob(material.sealed)
        return w.bytes
    }

    init(createdMilliseconds: Int64, material: SealedDataKey) {
        self.createdMilliseconds = createdMilliseconds
        self.material = material
    }

    init(decoding bytes: UnsafeRawBufferPointer, id: String) throws(RecordError) {
        var r = try RecordReader(bytes, record: "kms key", expectedVersion: Self.version)
        createdMilliseconds = try r.i64()
        let salt = try r.blob()
        let sealed = try r.blob()
        try r.finish()
        guard salt.count == SealedDataKey.saltBytes, sealed.count == SealedDataKey.sealedBytes else {
            throw RecordError(record: "kms key", reason: "bad sealed key")
        }
        material = SealedDataKey(scheme: .kms, keyID: id, salt: salt, sealed: sealed)
    }
}

extension ObjectStore {
    func requireMasterKey(_ purpose: String) throws(StoreError) -> MasterKey {
        guard let master = options.masterKey else {
            throw StoreError(.notImplemented, "\(purpose) needs a master key, and this server has none (serve --master-key-file or STOWAGE_MASTER_KEY)")
        }
        return master
    }

    /// The key that seals (and opens) data keys of `encryption`.
    func sealingKey(_ txn: borrowing some IndexReading & ~Copyable, _ encryption: ServerSideEncryption,
                    customerKey: CustomerKey?) throws -> SymmetricKey {
        switch encryption {
        case .s3:
            return try requireMasterKey("SSE-S3 (AES256)").key
        case .kms(let id):
            let master = try requireMasterKey("SSE-KMS")
            if id == KeyStore.defaultKeyID { return master.defaultKMSKey }
            guard let record = try txn.withValue(index.meta, KeyStore.key(id), { try KMSKeyRecord(decoding: $0, id: id) }) else {
                throw StoreError(.kmsKeyNotFound, "Invalid keyId \(id): the key store has no such key")
            }
            guard let material = record.material.open(master.key) else {
                throw StoreError(.integrity, "KMS key \(id) does not open with this server's master key (fingerprint \(master.fingerprint)): was the server started with another key?")
            }
            return material
        case .customer(let md5):
            guard let customerKey, customerKey.md5Base64 == md5 else {
                throw StoreError(.accessDenied, "The SSE-C key does not match the key the object was encrypted with")
            }
            return customerKey.key
        }
    }

    /// A new data key for a blob written under `encryption`, and its cipher.
    func newDataKey(_ txn: borrowing some IndexReading & ~Copyable, _ encryption: ServerSideEncryption,
                    customerKey: CustomerKey?) throws -> (BlobCipher, SealedDataKey) {
        let sealing = try sealingKey(txn, encryption, customerKey: customerKey)
        let (key, sealed) = SealedDataKey.make(scheme: encryption.scheme, keyID: encryption.keyID, sealingKey: sealing)
        return (BlobCipher(key: key), sealed)
    }

    /// The cipher that decrypts a data blob's bytes; nil for a plain blob.
    func cipher(_ txn: borrowing some IndexReading & ~Copyable, for blob: BlobRecord, customerKey: CustomerKey?,
                location: String) throws -> BlobCipher? {
        guard let sealed = blob.dataKey else { return nil }
        let encryption: ServerSideEncryption
        switch sealed.scheme {
        case .s3: encryption = .s3
        case .kms: encryption = .kms(keyID: sealed.keyID)
        case .customer:
            guard let customerKey else {
                throw StoreError(.invalidRequest, "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.")
            }
            encryption = .customer(keyMD5: customerKey.md5Base64)
        }
        let sealing = try sealingKey(txn, encryption, customerKey: customerKey)
        guard let key = sealed.open(sealing) else {
            if sealed.scheme == .customer {
                throw StoreError(.accessDenied, "The SSE-C key does not match the key the object was encrypted with")
            }
            let fingerprint = options.masterKey?.fingerprint ?? "none"
            throw StoreError(.integrity, "\(location): its data key does not open with this server's keys (master key fingerprint \(fingerprint))")
        }
        return BlobCipher(key: key)
    }

    /// S3's rules for the SSE-C headers of a read: an SSE-C version needs its key; other
    /// versions refuse one.
    static func checkCustomerKey(_ record: ObjectRecord, _ customerKey: CustomerKey?, copySource: Bool = false) throws(StoreError) {
        let encryption = ServerSideEncryption(stored: record.attributes.serverSideEncryption)
        switch (encryption, customerKey) {
        case (.customer(let md5)?, let key?):
            guard key.md5Base64 == md5 else {
                throw StoreError(.accessDenied, "The SSE-C key does not match the key the object was encrypted with")
            }
        case (.customer?, nil):
            throw StoreError(.invalidRequest, copySource
                ? "The source object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object."
                : "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.")
        case (_, .some):
            throw StoreError(.invalidRequest, "The encryption parameters are not applicable to this object.")
        default:
            break
        }
    }

    /// UploadPart (and UploadPartCopy's destination): an SSE-C upload's parts carry its key.
    static func checkPartKey(_ encryption: ServerSideEncryption?, _ customerKey: CustomerKey?) throws(StoreError) {
        switch (encryption, customerKey) {
        case (.customer(let md5)?, let key?):
            guard key.md5Base64 == md5 else {
                throw StoreError(.invalidArgument, "The provided encryption parameters did not match the ones used originally.")
            }
        case (.customer?, nil):
            throw StoreError(.invalidRequest, "The multipart upload initiate requested encryption. Subsequent part requests must include the appropriate encryption parameters.")
        case (_, .some):
            throw StoreError(.invalidRequest, "The multipart upload initiate did not request encryption with a customer key: the encryption parameters are not applicable.")
        default:
            break
        }
    }

    // MARK: The key store

    /// Creates an SSE-KMS key (random material, sealed by the master key).
    public func createKMSKey(id: String? = nil) async throws(StoreError) -> KMSKeyInfo {
        let master = try requireMasterKey("The key store")
        let id = id ?? UUID().uuidString.lowercased()
        guard KeyStore.isValidKeyID(id), id != KeyStore.defaultKeyID else {
            throw StoreError(.invalidArgument, "A key id is 1 to 64 letters, digits, '-' or '_', and not \(KeyStore.defaultKeyID)")
        }
        let (_, material) = SealedDataKey.make(scheme: .kms, keyID: id, sealingKey: master.key)
        let record = KMSKeyRecord(createdMilliseconds: Self.nowMilliseconds(), material: material)
        let encoded = record.encoded()
        try await mutate { [index] txn in
            guard try txn.put(index.meta, KeyStore.key(id), encoded, noOverwrite: true) else {
                throw StoreError(.invalidArgument, "The key store already has a key \(id)")
            }
        }
        return KMSKeyInfo(keyID: id, createdMilliseconds: record.createdMilliseconds, isDefault: false)
    }

    /// The key store's keys, the built-in one first.
    public func kmsKeys() throws(StoreError) -> [KMSKeyInfo] {
        _ = try requireMasterKey("The key store")
        var keys = [KMSKeyInfo(keyID: KeyStore.defaultKeyID, createdMilliseconds: 0, isDefault: true)]
        try read { txn in
            try txn.scan(index.meta, from: KeyStore.keyPrefix) { key, value in
                guard key.starts(with: KeyStore.keyPrefix) else { return false }
                let id = String(decoding: key.dropFirst(KeyStore.keyPrefix.count), as: UTF8.self)
                let record = try KMSKeyRecord(decoding: value, id: id)
                keys.append(KMSKeyInfo(keyID: id, createdMilliseconds: record.createdMilliseconds, isDefault: false))
                return true
            }
        }
        return keys
    }

    /// Checks that `encryption` can be written now (a master key; an existing KMS key).
    func checkUsable(_ txn: borrowing some IndexReading & ~Copyable, _ encryption: ServerSideEncryption) throws {
        if case .customer = encryption { return }
        _ = try sealingKey(txn, encryption, customerKey: nil)
    }

    // MARK: Bucket default encryption

    public func bucketEncryption(_ bucket: String) throws(StoreError) -> BucketEncryption {
        try Validation.checkBucketName(bucket)
        let found = try read { txn in
            try index.requireBucket(txn, bucket)
            return try defaultEncryption(txn, bucket)
        }
        guard let found else {
            throw StoreError(.noSuchEncryptionConfiguration, "The server side encryption configuration was not found")
        }
        return found
    }

    func defaultEncryption(_ txn: borrowing some IndexReading & ~Copyable, _ bucket: String) throws -> BucketEncryption? {
        try txn.withValue(index.meta, KeyStore.bucketEncryptionKey(bucket)) { bytes throws(RecordError) in
            var r = try RecordReader(bytes, record: "bucket encryption", expectedVersion: 1)
            let stored = try r.string()
            let bucketKey = try r.u8() == 1
            try r.finish()
            guard let encryption = ServerSideEncryption(stored: stored), !encryption.isCustomer else {
                throw RecordError(record: "bucket encryption", reason: "unknown encryption \(stored)")
            }
            return BucketEncryption(encryption: encryption, bucketKeyEnabled: bucketKey)
        }
    }

    /// PutBucketEncryption; nil deletes it (DeleteBucketEncryption).
    public func setBucketEncryption(_ bucket: String, _ configuration: BucketEncryption?) async throws(StoreError) {
        try Validation.checkBucketName(bucket)
        var record: [UInt8]?
        if let configuration {
            guard !configuration.encryption.isCustomer else {
                throw StoreError(.invalidArgument, "SSE-C cannot be a bucket's default encryption")
            }
            var w = RecordWriter(version: 1)
            w.string(configuration.encryption.stored)
            w.u8(configuration.bucketKeyEnabled ? 1 : 0)
            record = w.bytes
        }
        let encoded = record
        try await mutate { [index, self] txn in
            try index.requireBucket(txn, bucket)
            if let encoded, let configuration {
                try checkUsable(txn, configuration.encryption)
                _ = try txn.put(index.meta, KeyStore.bucketEncryptionKey(bucket), encoded, noOverwrite: false)
            } else {
                _ = try txn.delete(index.meta, KeyStore.bucketEncryptionKey(bucket))
            }
        }
    }
}
