import Crypto

/// What a verified request's signature hands on to its body: the derived signing key, the
/// timestamp and scope as the client sent them, and the request's own signature, the seed
/// of the chain of chunk signatures in a signed aws-chunked upload.
public struct SigV4SigningContext: Sendable {
    /// `yyyyMMdd'T'HHmmss'Z'`, as in the string to sign.
    public let timestamp: String
    /// `<yyyyMMdd>/<region>/s3/aws4_request`, as the client sent it.
    public let scope: String
    /// The request signature, lowercase hex: the "previous signature" of the first chunk.
    public let seedSignature: String
    /// HMAC chain of the secret over the scope, ready to sign; never leaves the module.
    let key: SigV4SigningKey
    var signingKey: [UInt8] { key.bytes }

    static let algorithm = "AWS4-HMAC-SHA256"
    static let chunkAlgorithm = "AWS4-HMAC-SHA256-PAYLOAD"
    static let trailerAlgorithm = "AWS4-HMAC-SHA256-TRAILER"
    /// SHA-256 of the empty string: the fixed fifth line of a chunk's string to sign.
    static let emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    init(timestamp: String, scope: String, seedSignature: String, signingKey: [UInt8]) {
        self.init(timestamp: timestamp, scope: scope, seedSignature: seedSignature, key: SigV4SigningKey(signingKey))
    }

    init(timestamp: String, scope: String, seedSignature: String, key: SigV4SigningKey) {
        self.timestamp = timestamp
        self.scope = scope
        self.seedSignature = seedSignature
        self.key = key
    }

    /// `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, day), region), service), "aws4_request")`,
    /// over the scope's own elements.
    static func deriveSigningKey(secret: String, scopeElements: [Substring]) -> [UInt8] {
        var key = Array("AWS4\(secret)".utf8)
        for element in scopeElements {
            key = hmac(key: key, Array(element.utf8))
        }
        return key
    }

    static func hmac(key: [UInt8], _ message: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key)))
    }

    /// The lowercase hex SHA-256 of `bytes`, appended to `output` (the string to sign's last
    /// line) without a string in between.
    static func appendSHA256Hex(of bytes: [UInt8], to output: inout [UInt8]) {
        var hasher = SHA256()
        bytes.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        SigV4Encoding.appendLowercaseHex(hasher.finalize(), to: &output)
    }

    static func sha256Hex(_ bytes: [UInt8]) -> String {
        var hex: [UInt8] = []
        appendSHA256Hex(of: bytes, to: &hex)
        return String(decoding: hex, as: UTF8.self)
    }

    func signature(of stringToSign: String) -> String {
        SigV4Encoding.lowercaseHex(key.authenticationCode(Array(stringToSign.utf8)))
    }

    /// The signature a chunk must carry, given the previous one in the chain and the hex
    /// SHA-256 of the chunk's data.
    func chunkSignature(previous: String, chunkSHA256: String) -> String {
        signature(of: [Self.chunkAlgorithm, timestamp, scope, previous, Self.emptySHA256, chunkSHA256]
            .joined(separator: "\n"))
    }

    /// The signature of the trailing headers, given the final chunk's signature and the hex
    /// SHA-256 of the canonical trailers (`name:value\n` each, sorted by name).
    func trailerSignature(previous: String, trailersSHA256: String) -> String {
        signature(of: [Self.trailerAlgorithm, timestamp, scope, previous, trailersSHA256]
            .joined(separator: "\n"))
    }
}

/// A derived signing key with HMAC-SHA256 already keyed by it: the key's padding blocks are
/// hashed once, when the key is derived, not once per signature (perf: keying HMAC was
/// 1.4 % of a 4 KiB GET load's CPU). Each signature works on a copy.
///
/// `@unchecked Sendable`: swift-crypto's `HMAC` is a value whose digest state is copied on
/// write; the held one is never written, so copies taken on any thread are independent.
struct SigV4SigningKey: @unchecked Sendable {
    let bytes: [UInt8]
    private let keyed: HMAC<SHA256>

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
        keyed = HMAC<SHA256>(key: SymmetricKey(data: bytes))
    }

    func authenticationCode(_ message: [UInt8]) -> HashedAuthenticationCode<SHA256> {
        var mac = keyed
        mac.update(data: message)
        return mac.finalize()
    }

    /// Lowercase hex of the signature of `message`.
    func signature(_ message: [UInt8]) -> String {
        SigV4Encoding.lowercaseHex(authenticationCode(message))
    }
}
