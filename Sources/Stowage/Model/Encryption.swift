import Crypto
import Foundation
import _CryptoExtras

/// How a version's bytes are encrypted at rest, as S3 names it (SSE-S3, SSE-KMS, SSE-C).
/// Kept in `ObjectAttributes.serverSideEncryption` in its `stored` form; what actually
/// encrypts the bytes is each data blob's `SealedDataKey` (docs/ARCHITECTURE.md §2).
public enum ServerSideEncryption: Sendable, Hashable {
    /// `x-amz-server-side-encryption: AES256`: a data key sealed by the master key.
    case s3
    /// `aws:kms`: a data key sealed by a key of the local key store.
    case kms(keyID: String)
    /// SSE-C: a data key sealed by the customer's key, of which only the MD5 is kept.
    case customer(keyMD5: String)

    public var stored: String {
        switch self {
        case .s3: "AES256"
        case .kms(let keyID): "aws:kms " + keyID
        case .customer(let md5): "SSE-C " + md5
        }
    }

    /// Nil for nothing stored, or for a value no build of Stowage encrypted under.
    public init?(stored: String?) {
        guard let stored else { return nil }
        if stored == "AES256" {
            self = .s3
        } else if stored.hasPrefix("aws:kms "), stored.count > 8 {
            self = .kms(keyID: String(stored.dropFirst(8)))
        } else if stored.hasPrefix("SSE-C "), stored.count > 6 {
            self = .customer(keyMD5: String(stored.dropFirst(6)))
        } else {
            return nil
        }
    }

    var scheme: SealedDataKey.Scheme {
        switch self {
        case .s3: .s3
        case .kms: .kms
        case .customer: .customer
        }
    }

    var keyID: String {
        if case .kms(let id) = self { return id }
        return ""
    }

    public var isCustomer: Bool {
        if case .customer = self { return true }
        return false
    }
}

/// An SSE-C key as a request carries it (256 bits). Never stored, never logged.
/// `@unchecked Sendable`: `SymmetricKey` is immutable but not marked Sendable.
public struct CustomerKey: @unchecked Sendable {
    let key: SymmetricKey
    /// base64 of the key's MD5: what S3 echoes and what the version keeps.
    public let md5Base64: String

    public init?(bytes: [UInt8]) {
        guard bytes.count == 32 else { return nil }
        key = SymmetricKey(data: bytes)
        md5Base64 = Data(Insecure.MD5.hash(data: bytes)).base64EncodedString()
    }
}

/// The master key (32 bytes): it seals SSE-S3 data keys and the key store's keys, and is
/// never stored in the data directory or the index.
/// `@unchecked Sendable`: as `CustomerKey`.
public struct MasterKey: @unchecked Sendable {
    let key: SymmetricKey
    /// Identifies the key without revealing it (first 8 bytes of an HMAC-SHA256), so a
    /// server started with another key says so instead of failing to decrypt.
    public let fingerprint: String

    public init?(bytes: [UInt8]) {
        guard bytes.count == 32 else { return nil }
        key = SymmetricKey(data: bytes)
        let mac = HMAC<SHA256>.authenticationCode(for: Array("stowage master key fingerprint".utf8), using: key)
        fingerprint = Data(mac).prefix(8).map { String(format: "%02x", $0) }.joined()
    }

    /// A key file's or variable's text: 32 raw bytes, or 64 hex digits, or base64 of 32
    /// bytes (surrounding whitespace ignored).
    public init?(text bytes: [UInt8]) {
        if bytes.count == 32, let key = MasterKey(bytes: bytes) {
            self = key
            return
        }
        let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if text.count == 64, let raw = Self.hex(text), let key = MasterKey(bytes: raw) {
            self = key
        } else if let data = Data(base64Encoded: text), let key = MasterKey(bytes: Array(data)) {
            self = key
        } else {
            return nil
        }
    }

    private static func hex(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        var pending: UInt8?
        for c in text.utf8 {
            let v: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): v = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): v = c - UInt8(ascii: "A") + 10
            default: return nil
            }
            if let high = pending { out.append(high << 4 | v); pending = nil } else { pending = v }
        }
        return out
    }

    /// The material of the built-in KMS key (`KeyStore.defaultKeyID`): derived, not stored.
    var defaultKMSKey: SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: key, info: Array("stowage/kms-default/v1".utf8), outputByteCount: 32)
    }
}

/// A small secret sealed (AES-256-GCM) under a key derived (HKDF-SHA256) from `key`, a fresh
/// random 128-bit salt and `info`: each derived key seals one value, so GCM's all-zero
/// nonce is never reused under a key. `associatedData` is authenticated, not encrypted.
enum Seal {
    static func seal(_ plain: [UInt8], key: SymmetricKey, info: String, associatedData: [UInt8]) -> (salt: [UInt8], sealed: [UInt8]) {
        var salt = [UInt8](repeating: 0, count: SealedDataKey.saltBytes)
        var rng = SystemRandomNumberGenerator()
        for i in salt.indices { salt[i] = rng.next() }
        // A 12-byte nonce and a 256-bit key cannot fail.
        let box = try! AES.GCM.seal(plain, using: derive(key, salt, info), nonce: zeroNonce, authenticating: associatedData)
        return (salt, Array(box.ciphertext) + Array(box.tag))
    }

    /// The plain value, or nil when `key` (or the associated data) is not the one it was
    /// sealed with.
    static func open(_ sealed: [UInt8], salt: [UInt8], key: SymmetricKey, info: String, associatedData: [UInt8]) -> [UInt8]? {
        guard sealed.count >= 16,
              let box = try? AES.GCM.SealedBox(nonce: zeroNonce, ciphertext: sealed.dropLast(16), tag: sealed.suffix(16)),
              let plain = try? AES.GCM.open(box, using: derive(key, salt, info), authenticating: associatedData) else {
            return nil
        }
        return Array(plain)
    }

    private static var zeroNonce: AES.GCM.Nonce { try! AES.GCM.Nonce(data: [UInt8](repeating: 0, count: 12)) }

    private static func derive(_ key: SymmetricKey, _ salt: [UInt8], _ info: String) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: key, salt: salt, info: Array(info.utf8), outputByteCount: 32)
    }
}

/// A data blob's own AES-256 key, sealed (AES-256-GCM) under a key-encryption key that is
/// derived (HKDF-SHA256) from the sealing key and a fresh random 128-bit salt — so each
/// derived key seals exactly one data key and its all-zero GCM nonce never repeats under
/// it. The associated data binds the scheme and the key id, not the object's name: the
/// blob can change names (rename, copy) without being touched.
struct SealedDataKey: Equatable, Sendable {
    enum Scheme: UInt8, Sendable { case s3 = 1, kms = 2, customer = 3 }
    var scheme: Scheme
    /// The key store's key id (SSE-KMS); empty otherwise.
    var keyID: String
    var salt: [UInt8]
    /// GCM ciphertext of the 32-byte data key, then its 16-byte tag.
    var sealed: [UInt8]

    static let saltBytes = 16
    static let sealedBytes = 48

    private static func info(_ scheme: Scheme) -> String { "stowage/data-key/v1/\(scheme.rawValue)" }
    private var associatedData: [UInt8] { [scheme.rawValue] + Array(keyID.utf8) }

    /// A new random data key, and its seal under `sealingKey`.
    static func make(scheme: Scheme, keyID: String, sealingKey: SymmetricKey) -> (SymmetricKey, SealedDataKey) {
        let dataKey = SymmetricKey(size: .bits256)
        var record = SealedDataKey(scheme: scheme, keyID: keyID, salt: [], sealed: [])
        (record.salt, record.sealed) = Seal.seal(dataKey.withUnsafeBytes { Array($0) }, key: sealingKey,
                                                 info: info(scheme), associatedData: record.associatedData)
        return (dataKey, record)
    }

    /// The data key, or nil when `sealingKey` is not the one it was sealed under (GCM's
    /// tag does not verify).
    func open(_ sealingKey: SymmetricKey) -> SymmetricKey? {
        guard sealed.count == Self.sealedBytes,
              let key = Seal.open(sealed, salt: salt, key: sealingKey, info: Self.info(scheme), associatedData: associatedData) else {
            return nil
        }
        return SymmetricKey(data: key)
    }
}

/// AES-256-CTR over one data blob: byte `i` of the blob is XORed with keystream byte `i`,
/// counter block `i / 16` (a 128-bit big-endian counter from 0). The data key is the
/// blob's own and each blob offset is written once, so no counter block repeats under a
/// key; any range can be decrypted by itself. Length-preserving: chunks, extents and
/// their XXH3 (over the stored, encrypted bytes) are laid out as for a plain blob.
/// `@unchecked Sendable`: as `CustomerKey`.
struct BlobCipher: @unchecked Sendable {
    let key: SymmetricKey

    /// `bytes` (which sit at `offset` of the blob) encrypted or decrypted.
    func apply(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) -> Data {
        var out = Data(count: bytes.count)
        guard !bytes.isEmpty else { return out }
        let skip = Int(offset % 16)
        var block = offset / 16
        var done = 0
        if skip > 0 {
            // The first, partial block: its keystream from one block of zeros.
            let stream = transform(Data(count: 16), block: block)
            done = min(16 - skip, bytes.count)
            out.withUnsafeMutableBytes { (o: UnsafeMutableRawBufferPointer) in
                for i in 0..<done { o[i] = bytes[i] ^ stream[skip + i] }
            }
            block += 1
        }
        if done < bytes.count {
            let rest = transform(UnsafeRawBufferPointer(rebasing: bytes[done...]), block: block)
            out.replaceSubrange(done..<bytes.count, with: rest)
        }
        return out
    }

    private func transform(_ input: some DataProtocol, block: UInt64) -> Data {
        var counter = [UInt8](repeating: 0, count: 16)
        for i in 0..<8 { counter[15 - i] = UInt8(truncatingIfNeeded: block >> (8 * UInt64(i))) }
        // A 16-byte nonce and a 256-bit key are always accepted.
        return try! AES._CTR.encrypt(input, using: key, nonce: try! AES._CTR.Nonce(nonceBytes: counter))
    }
}
