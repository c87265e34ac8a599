/// How a multipart upload's object checksum is made from its parts (`x-amz-checksum-type`).
///
/// `COMPOSITE`: the algorithm over the concatenated raw digests of the parts, shown as
/// `base64-N` (N parts). `FULL_OBJECT`: the checksum of the whole object's bytes, shown
/// without a suffix — for a multipart upload, combined from the parts' CRCs and sizes
/// (`CRCCombiner`), so only the CRCs have it. A single PutObject's checksum is always
/// FULL_OBJECT.
public enum S3ChecksumType: String, CaseIterable, Sendable, CustomStringConvertible {
    case composite = "COMPOSITE"
    case fullObject = "FULL_OBJECT"

    public var description: String { rawValue }

    /// Parses `COMPOSITE` or `FULL_OBJECT`, ignoring case.
    public init?(wireName: String) {
        self.init(rawValue: wireName.uppercased())
    }

    /// The type of a stored checksum value: a composite's ends in `-N`, and base64 has no
    /// `-`, so the value itself says which it is.
    public init(storedValue: String) {
        self = storedValue.contains("-") ? .composite : .fullObject
    }

    /// What a CreateMultipartUpload that names `algorithm` and no type gets: CRC64NVME
    /// exists only as FULL_OBJECT; the others default to COMPOSITE, as on S3.
    public static func defaultType(for algorithm: S3ChecksumAlgorithm) -> S3ChecksumType {
        algorithm == .crc64nvme ? .fullObject : .composite
    }

    /// Whether S3 accepts this type with `algorithm`: FULL_OBJECT for the CRCs (the SHAs
    /// cannot be combined), COMPOSITE for all but CRC64NVME.
    public func allows(_ algorithm: S3ChecksumAlgorithm) -> Bool {
        switch self {
        case .fullObject: algorithm.crcCombiner != nil
        case .composite: algorithm != .crc64nvme
        }
    }
}

extension S3ChecksumAlgorithm {
    /// The combiner of a CRC; nil for the SHAs, which have no full-object multipart form.
    public var crcCombiner: CRCCombiner? {
        switch self {
        case .crc32: .crc32
        case .crc32c: .crc32c
        case .crc64nvme: .crc64nvme
        case .sha1, .sha256: nil
        }
    }

    /// The raw digest of the parts' concatenation from each part's raw (big-endian) digest
    /// and size, reading no byte of them; nil for the SHAs or a digest of the wrong length.
    public func fullObjectDigest(of parts: [(digest: [UInt8], lengthBytes: UInt64)]) -> [UInt8]? {
        guard let combiner = crcCombiner,
              parts.allSatisfy({ $0.digest.count == digestByteCount }) else { return nil }
        let crc = combiner.combine(parts.map { part in
            (part.digest.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }, part.lengthBytes)
        })
        return (0..<digestByteCount).reversed().map { UInt8(truncatingIfNeeded: crc >> (8 * $0)) }
    }
}
