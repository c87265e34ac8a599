import Testing
import StowageChecksums

/// Names as the S3 API model (botocore 1.43 `service-2.json`, `ChecksumAlgorithm`) and
/// the `x-amz-checksum-*` headers spell them.
@Suite struct S3ChecksumAlgorithmTests {
    @Test(arguments: [
        (S3ChecksumAlgorithm.crc32, "CRC32", "x-amz-checksum-crc32", 4),
        (.crc32c, "CRC32C", "x-amz-checksum-crc32c", 4),
        (.crc64nvme, "CRC64NVME", "x-amz-checksum-crc64nvme", 8),
        (.sha1, "SHA1", "x-amz-checksum-sha1", 20),
        (.sha256, "SHA256", "x-amz-checksum-sha256", 32),
    ] as [(S3ChecksumAlgorithm, String, String, Int)])
    func names(_ algorithm: S3ChecksumAlgorithm, _ wire: String, _ header: String, _ size: Int) {
        #expect(algorithm.wireName == wire)
        #expect(algorithm.headerName == header)
        #expect(algorithm.digestByteCount == size)
        #expect(S3ChecksumAlgorithm(wireName: wire) == algorithm)
        #expect(S3ChecksumAlgorithm(wireName: wire.lowercased()) == algorithm)
        #expect(S3ChecksumAlgorithm(headerName: header) == algorithm)
        #expect(S3ChecksumAlgorithm(headerName: header.uppercased()) == algorithm)
    }

    @Test(arguments: ["", "MD5", "CRC", "crc32 ", "SHA-256", "x-amz-checksum-crc32"])
    func unknownWireNames(_ name: String) {
        #expect(S3ChecksumAlgorithm(wireName: name) == nil)
    }

    /// The other `x-amz-checksum-*` headers are not algorithms.
    @Test(arguments: ["x-amz-checksum-type", "x-amz-checksum-mode", "x-amz-checksum-algorithm",
                      "x-amz-checksum-", "crc32", "x-amz-content-sha256"])
    func headersThatAreNotChecksums(_ name: String) {
        #expect(S3ChecksumAlgorithm(headerName: name) == nil)
    }

    @Test func digestFromBase64ChecksLength() {
        #expect(S3ChecksumAlgorithm.crc32.digest(fromBase64: "y/Q5Jg==") == [0xcb, 0xf4, 0x39, 0x26])
        #expect(S3ChecksumAlgorithm.crc32c.digest(fromBase64: "y/Q5Jg==") != nil)
        #expect(S3ChecksumAlgorithm.crc64nvme.digest(fromBase64: "y/Q5Jg==") == nil)
        #expect(S3ChecksumAlgorithm.sha256.digest(fromBase64: "y/Q5Jg==") == nil)
        #expect(S3ChecksumAlgorithm.crc32.digest(fromBase64: "not base64!") == nil)
        #expect(S3ChecksumAlgorithm.crc32.digest(fromBase64: "") == nil)
    }
}
