import Crypto

/// How the body of a request is protected, from `x-amz-content-sha256` (or, for a
/// presigned URL, `UNSIGNED-PAYLOAD` unless the query says otherwise).
public enum S3PayloadMode: Sendable, Equatable, CustomStringConvertible {
    /// `UNSIGNED-PAYLOAD`: the body is taken as it comes.
    case unsigned
    /// The lowercase hex SHA-256 the client signed; check the body with `SignedPayloadVerifier`.
    case sha256(hex: String)
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: aws-chunked, every chunk signed.
    case streamingSigned
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`: as above, plus signed trailing headers.
    case streamingSignedWithTrailer
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: aws-chunked, unsigned, with trailing headers
    /// (what boto3 sends over HTTPS for PutObject and UploadPart).
    case streamingUnsignedWithTrailer

    static let unsignedValue = "UNSIGNED-PAYLOAD"
    static let streamingSignedValue = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    static let streamingSignedTrailerValue = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
    static let streamingUnsignedTrailerValue = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    static let sha256HexLength = 64

    /// Parses an `x-amz-content-sha256` value; nil when it is none of the five forms.
    public init?(headerValue: String) {
        switch headerValue {
        case Self.unsignedValue: self = .unsigned
        case Self.streamingSignedValue: self = .streamingSigned
        case Self.streamingSignedTrailerValue: self = .streamingSignedWithTrailer
        case Self.streamingUnsignedTrailerValue: self = .streamingUnsignedWithTrailer
        default:
            guard SigV4Encoding.isHex(Substring(headerValue), count: Self.sha256HexLength) else { return nil }
            self = .sha256(hex: headerValue.lowercased())
        }
    }

    /// The body is aws-chunked framing (`Content-Encoding: aws-chunked`), to be decoded
    /// with `AWSChunkedDecoder`.
    public var isAWSChunked: Bool {
        switch self {
        case .streamingSigned, .streamingSignedWithTrailer, .streamingUnsignedWithTrailer: true
        case .unsigned, .sha256: false
        }
    }

    public var description: String {
        switch self {
        case .unsigned: Self.unsignedValue
        case .sha256(let hex): hex
        case .streamingSigned: Self.streamingSignedValue
        case .streamingSignedWithTrailer: Self.streamingSignedTrailerValue
        case .streamingUnsignedWithTrailer: Self.streamingUnsignedTrailerValue
        }
    }
}

/// Checks a body against the SHA-256 its request signed (`S3PayloadMode.sha256`): feed
/// the body as it streams in, call `finish()` before committing anything.
///
/// `@unchecked Sendable`: swift-crypto's `SHA256` is not declared `Sendable` on Linux but is
/// a copy-on-write value (mutations copy a shared context first).
public struct SignedPayloadVerifier: @unchecked Sendable {
    public let expectedHex: String
    private var hasher = SHA256()

    public init(expectedHex: String) {
        self.expectedHex = expectedHex.lowercased()
    }

    /// A verifier for `mode`, nil unless the mode is `.sha256`.
    public init?(_ mode: S3PayloadMode) {
        guard case .sha256(let hex) = mode else { return nil }
        self.init(expectedHex: hex)
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        hasher.update(bufferPointer: bytes)
    }

    /// Throws `XAmzContentSHA256Mismatch` (400) when the body was not the one signed.
    public func finish() throws(S3ProtocolError) {
        let actual = SigV4Encoding.lowercaseHex(hasher.finalize())
        guard actual == expectedHex else {
            throw S3ProtocolError(.contentSHA256Mismatch,
                                  "The provided 'x-amz-content-sha256' header does not match what was computed.")
        }
    }
}
