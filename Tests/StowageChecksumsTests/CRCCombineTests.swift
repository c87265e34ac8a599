import Testing
@testable import StowageChecksums

/// `CRCCombiner` against the CRC of the concatenation computed over the bytes
/// (ARCHITECTURE.md §6b, FULL_OBJECT multipart checksums).
@Suite struct CRCCombineTests {
    static let crcs: [S3ChecksumAlgorithm] = [.crc32, .crc32c, .crc64nvme]

    /// 70,001 bytes of `(i × 131 + 17) mod 256`.
    static let data: [UInt8] = (0..<70_001).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 17) }

    /// Cut points into `data`, including empty pieces at both ends and in the middle.
    static let cuts: [[Int]] = [
        [], [0], [70_001], [1], [8], [35_000], [0, 0, 70_001], [3, 3, 4096, 65_536, 70_000],
        [1, 2, 3, 4, 5, 6, 7, 8, 9], [12_345, 12_345, 54_321],
    ]

    static func crc(_ algorithm: S3ChecksumAlgorithm, _ bytes: ArraySlice<UInt8>) -> [UInt8] {
        S3Checksummer.digest(algorithm, of: Array(bytes))
    }

    @Test(arguments: crcs, cuts)
    func combinedEqualsTheWhole(_ algorithm: S3ChecksumAlgorithm, _ cuts: [Int]) {
        let bounds = [0] + cuts + [Self.data.count]
        let parts = zip(bounds, bounds.dropFirst()).map { lower, upper in
            (digest: Self.crc(algorithm, Self.data[lower..<upper]), lengthBytes: UInt64(upper - lower))
        }
        #expect(algorithm.fullObjectDigest(of: parts) == Self.crc(algorithm, Self.data[...]))
    }

    @Test(arguments: crcs)
    func noPartsIsTheEmptyCRC(_ algorithm: S3ChecksumAlgorithm) {
        #expect(algorithm.fullObjectDigest(of: []) == Self.crc(algorithm, []))
        #expect(algorithm.fullObjectDigest(of: [([UInt8](repeating: 0, count: algorithm.digestByteCount), 0)])
                == Self.crc(algorithm, []))
    }

    @Test func shasAndWrongLengthsHaveNoFullObjectDigest() {
        #expect(S3ChecksumAlgorithm.sha1.fullObjectDigest(of: []) == nil)
        #expect(S3ChecksumAlgorithm.sha256.fullObjectDigest(of: []) == nil)
        #expect(S3ChecksumAlgorithm.crc32.fullObjectDigest(of: [([1, 2, 3], 3)]) == nil)
    }

    /// Lengths past 2^32 use exponents a 32-bit length never reaches: x^(8·(m+n)) must be
    /// x^(8m)·x^(8n), and one jump of 2^40 bytes 256 jumps of 2^32.
    @Test(arguments: crcs)
    func largeLengthsAreConsistent(_ algorithm: S3ChecksumAlgorithm) throws {
        let combiner = try #require(algorithm.crcCombiner)
        let a: UInt64 = 0x1234_5678_9abc_def0 & combiner.mask
        let b: UInt64 = 0x0fed_cba9_8765_4321 & combiner.mask
        let c: UInt64 = 0x5555_aaaa_5555_aaaa & combiner.mask
        let lengths: [(UInt64, UInt64)] = [(1 << 32, 5), ((1 << 32) + 7, (1 << 33) - 1), (5 << 30, 1 << 62), (1 << 63, (1 << 63) - 1)]
        for (m, n) in lengths {
            let left = combiner.combine(combiner.combine(a, b, secondLengthBytes: m), c, secondLengthBytes: n)
            let right = combiner.combine(a, combiner.combine(b, c, secondLengthBytes: n), secondLengthBytes: m &+ n)
            #expect(left == right, "m \(m), n \(n)")
        }
        var stepped = a
        for _ in 0..<256 { stepped = combiner.combine(stepped, 0, secondLengthBytes: 1 << 32) }
        #expect(stepped == combiner.combine(a, 0, secondLengthBytes: 1 << 40))
    }

    /// One direct check past 4 GiB: the CRC of 4 GiB + 3 zero bytes, fed in 8 MiB pieces
    /// (ISA-L computes both CRC32s at several GB/s), against combining a 3-byte piece after
    /// the 4 GiB one, and after one 2 GiB piece twice.
    @Test(arguments: [S3ChecksumAlgorithm.crc32, .crc32c])
    func pastFourGiBAgainstTheBytes(_ algorithm: S3ChecksumAlgorithm) {
        let piece = [UInt8](repeating: 0, count: 8 << 20)
        var whole = S3Checksummer(algorithm)
        var half = S3Checksummer(algorithm)
        for index in 0..<512 {
            whole.update(piece)
            if index < 256 { half.update(piece) }
        }
        let fourGiB = whole.finalize()
        whole.update([0, 0, 0])
        let zeros3 = S3Checksummer.digest(algorithm, of: [0, 0, 0])
        #expect(algorithm.fullObjectDigest(of: [(fourGiB, 4 << 30), (zeros3, 3)]) == whole.finalize())
        #expect(algorithm.fullObjectDigest(of: [(half.finalize(), 2 << 30), (half.finalize(), 2 << 30), (zeros3, 3)])
                == whole.finalize())
    }
}
