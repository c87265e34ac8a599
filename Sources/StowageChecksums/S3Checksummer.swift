import CISAL
import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A streaming S3 checksum: feed the object's bytes in pieces of any size, then read the
/// digest as S3 carries it (`x-amz-checksum-*` is the base64 of the big-endian bytes).
///
/// `@unchecked Sendable`: the SHA hashers of swift-crypto are not declared `Sendable` on
/// Linux, yet they are values with copy-on-write state (a mutation copies a shared
/// context first, `finalize` reads a copy), so a checksummer handed to another task is
/// as safe as any other value.
public struct S3Checksummer: @unchecked Sendable {
    public let algorithm: S3ChecksumAlgorithm

    /// CRC32: the zlib-style value so far (ISA-L chains it as given). CRC32C: the register
    /// before its final inversion. CRC64NVME lives in `crc64`.
    private var crc32State: UInt32
    private var crc64 = CRC64NVME()
    private var sha1: Insecure.SHA1?
    private var sha256: SHA256?

    /// `crc32_iscsi` takes an `int` length, so longer buffers go in slices of this size.
    static let maxISCSISliceBytes = Int(Int32.max)

    public init(_ algorithm: S3ChecksumAlgorithm) {
        self.algorithm = algorithm
        switch algorithm {
        case .crc32: crc32State = 0
        case .crc32c: crc32State = ~0
        case .crc64nvme: crc32State = 0
        case .sha1: crc32State = 0; sha1 = Insecure.SHA1()
        case .sha256: crc32State = 0; sha256 = SHA256()
        }
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        switch algorithm {
        case .crc32:
            crc32State = crc32_gzip_refl(crc32State, base.assumingMemoryBound(to: UInt8.self),
                                         UInt64(bytes.count))
        case .crc32c:
            updateCRC32C(bytes)
        case .crc64nvme:
            crc64.update(bytes)
        case .sha1:
            sha1?.update(bufferPointer: bytes)
        case .sha256:
            sha256?.update(bufferPointer: bytes)
        }
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The raw digest of everything fed so far, big-endian for the CRCs. The running
    /// state is not consumed: feeding more and finalizing again gives the longer digest.
    public func finalize() -> [UInt8] {
        switch algorithm {
        case .crc32: bigEndianBytes(crc32State)
        case .crc32c: bigEndianBytes(~crc32State)
        case .crc64nvme: bigEndianBytes(crc64.value)
        case .sha1: sha1.map { Array($0.finalize()) } ?? []
        case .sha256: sha256.map { Array($0.finalize()) } ?? []
        }
    }

    /// The digest as S3 sends and returns it in `x-amz-checksum-*` headers and trailers.
    public func finalizeBase64() -> String {
        Data(finalize()).base64EncodedString()
    }

    /// The digest of one buffer.
    public static func digest(_ algorithm: S3ChecksumAlgorithm, of bytes: UnsafeRawBufferPointer) -> [UInt8] {
        var checksummer = S3Checksummer(algorithm)
        checksummer.update(bytes)
        return checksummer.finalize()
    }

    public static func digest(_ algorithm: S3ChecksumAlgorithm, of bytes: [UInt8]) -> [UInt8] {
        bytes.withUnsafeBytes { digest(algorithm, of: $0) }
    }

    private mutating func updateCRC32C(_ bytes: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < bytes.count {
            let length = min(bytes.count - offset, Self.maxISCSISliceBytes)
            // ISA-L declares the buffer `unsigned char *` but only reads it.
            let slice = UnsafeMutablePointer(mutating: (bytes.baseAddress! + offset)
                .assumingMemoryBound(to: UInt8.self))
            crc32State = crc32_iscsi(slice, Int32(length), crc32State)
            offset += length
        }
    }
}

private func bigEndianBytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    withUnsafeBytes(of: value.bigEndian) { Array($0) }
}
