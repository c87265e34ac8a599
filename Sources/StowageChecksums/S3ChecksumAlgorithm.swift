#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The checksum algorithms of S3's additional-checksums API (`x-amz-checksum-*`).
///
/// The raw value is the lowercase spelling used in header names; `wireName` is the
/// spelling of `x-amz-checksum-algorithm`, `x-amz-sdk-checksum-algorithm` and the
/// `ChecksumAlgorithm` XML elements.
public enum S3ChecksumAlgorithm: String, CaseIterable, Sendable, CustomStringConvertible {
    case crc32
    case crc32c
    case crc64nvme
    case sha1
    case sha256

    /// Every checksum header begins with this; the algorithm follows it.
    public static let headerPrefix = "x-amz-checksum-"

    /// `CRC32`, `CRC32C`, `CRC64NVME`, `SHA1`, `SHA256`.
    public var wireName: String { rawValue.uppercased() }

    /// `x-amz-checksum-crc32` and so on: the request/response header, and the name
    /// of the trailer of an aws-chunked upload.
    public var headerName: String { Self.headerPrefix + rawValue }

    /// The size of the raw digest: 4 bytes for the CRC32s, 8 for CRC64, 20 and 32 for the SHAs.
    public var digestByteCount: Int {
        switch self {
        case .crc32, .crc32c: 4
        case .crc64nvme: 8
        case .sha1: 20
        case .sha256: 32
        }
    }

    public var description: String { wireName }

    /// Parses a wire name (`CRC32`) or an `x-amz-checksum-algorithm` value, ignoring case.
    public init?(wireName: String) {
        self.init(rawValue: wireName.lowercased())
    }

    /// Parses a header name (`x-amz-checksum-crc32`), ignoring case. Other
    /// `x-amz-checksum-*` headers (`-type`, `-mode`, `-algorithm`) are not algorithms.
    public init?(headerName: String) {
        let name = headerName.lowercased()
        guard name.hasPrefix(Self.headerPrefix) else { return nil }
        self.init(rawValue: String(name.dropFirst(Self.headerPrefix.count)))
    }

    /// The raw digest carried by a base64 header or trailer value, or nil when the value
    /// is not base64 or has the wrong length for this algorithm (S3 answers 400 then).
    public func digest(fromBase64 value: String) -> [UInt8]? {
        guard let data = Data(base64Encoded: value), data.count == digestByteCount else {
            return nil
        }
        return Array(data)
    }
}
