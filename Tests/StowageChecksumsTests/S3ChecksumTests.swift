import Testing
@testable import StowageChecksums

/// Expected values were computed with Python: `zlib.crc32`, `hashlib`, bitwise reference
/// CRC32C and CRC64-NVME loops (whose check values match the catalogue), and botocore
/// 1.43's `httpchecksum.Crc32Checksum` / `Sha1Checksum` / `Sha256Checksum` for the base64
/// strings boto3 puts in `x-amz-checksum-*`.
@Suite struct S3ChecksumTests {
    struct Vector: Sendable, CustomTestStringConvertible {
        let algorithm: S3ChecksumAlgorithm
        let hex: String
        let base64: String
        var testDescription: String { algorithm.wireName }
    }

    static let checkInput = Array("123456789".utf8)
    static let checkValues: [Vector] = [
        Vector(algorithm: .crc32, hex: "cbf43926", base64: "y/Q5Jg=="),
        Vector(algorithm: .crc32c, hex: "e3069283", base64: "4waSgw=="),
        Vector(algorithm: .crc64nvme, hex: "ae8b14860a799888", base64: "rosUhgp5mIg="),
        Vector(algorithm: .sha1, hex: "f7c3bc1d808e04732adf679965ccc34ca7ae3441",
               base64: "98O8HYCOBHMq32eZZczDTKeuNEE="),
        Vector(algorithm: .sha256, hex: "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225",
               base64: "FeKw08M4keuw8e9gnsQZQgwg4yDOlMZfvIwzEkSOsiU="),
    ]

    static let emptyValues: [Vector] = [
        Vector(algorithm: .crc32, hex: "00000000", base64: "AAAAAA=="),
        Vector(algorithm: .crc32c, hex: "00000000", base64: "AAAAAA=="),
        Vector(algorithm: .crc64nvme, hex: "0000000000000000", base64: "AAAAAAAAAAA="),
        Vector(algorithm: .sha1, hex: "da39a3ee5e6b4b0d3255bfef95601890afd80709",
               base64: "2jmj7l5rSw0yVb/vlWAYkK/YBwk="),
        Vector(algorithm: .sha256, hex: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
               base64: "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="),
    ]

    /// 100,003 bytes of `(i × 31 + 7) mod 256`: long enough for every slice-by-8 path and
    /// not a multiple of 8.
    static let bigInput: [UInt8] = (0..<100_003).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
    static let bigValues: [Vector] = [
        Vector(algorithm: .crc32, hex: "17340963", base64: "FzQJYw=="),
        Vector(algorithm: .crc32c, hex: "d351be60", base64: "01G+YA=="),
        Vector(algorithm: .crc64nvme, hex: "ac503b96f799adcc", base64: "rFA7lveZrcw="),
        Vector(algorithm: .sha1, hex: "0ca09192aeda656efc642731b881625ca5d98968",
               base64: "DKCRkq7aZW78ZCcxuIFiXKXZiWg="),
        Vector(algorithm: .sha256, hex: "2a1683cff214df29e77df156a515258190a1bc11526d41cd2b34e72a23b6b7d6",
               base64: "KhaDz/IU3ynnffFWpRUlgZChvBFSbUHNKzTnKiO2t9Y="),
    ]

    @Test(arguments: checkValues)
    func checkValueOf123456789(_ vector: Vector) {
        expectDigest(vector, of: Self.checkInput)
    }

    @Test(arguments: emptyValues)
    func emptyInput(_ vector: Vector) {
        expectDigest(vector, of: [])
        // Feeding empty buffers changes nothing either.
        var checksummer = S3Checksummer(vector.algorithm)
        checksummer.update([])
        checksummer.update(UnsafeRawBufferPointer(start: nil, count: 0))
        #expect(checksummer.finalize().hex == vector.hex)
    }

    @Test(arguments: bigValues)
    func largeInputOneShot(_ vector: Vector) {
        expectDigest(vector, of: Self.bigInput)
    }

    /// Odd-sized pieces (1, 2, 3, 5, 7, 11, 13, … bytes, cycling) cross every alignment
    /// of the slice-by-8 loop and of the ISA-L folding loops.
    @Test(arguments: bigValues)
    func streamingInOddPiecesEqualsOneShot(_ vector: Vector) {
        let pieceSizes = [1, 2, 3, 5, 7, 11, 13, 17, 64, 4093, 8, 9, 15, 16, 31]
        var checksummer = S3Checksummer(vector.algorithm)
        var offset = 0
        var piece = 0
        while offset < Self.bigInput.count {
            let end = min(offset + pieceSizes[piece % pieceSizes.count], Self.bigInput.count)
            checksummer.update(Array(Self.bigInput[offset..<end]))
            offset = end
            piece += 1
        }
        #expect(checksummer.finalize().hex == vector.hex)
        #expect(checksummer.finalizeBase64() == vector.base64)
    }

    /// `finalize` does not consume the state: S3 needs a part's checksum while the
    /// object's keeps running.
    @Test(arguments: S3ChecksumAlgorithm.allCases)
    func finalizeLeavesStateRunning(_ algorithm: S3ChecksumAlgorithm) {
        var checksummer = S3Checksummer(algorithm)
        checksummer.update(Array("1234".utf8))
        let partial = checksummer.finalize()
        checksummer.update(Array("56789".utf8))
        #expect(partial == S3Checksummer.digest(algorithm, of: Array("1234".utf8)))
        #expect(checksummer.finalize() == S3Checksummer.digest(algorithm, of: Self.checkInput))
    }

    struct BotocoreCase: Sendable, CustomTestStringConvertible {
        let algorithm: S3ChecksumAlgorithm
        let bodyName: String
        let body: [UInt8]
        let base64: String
        var testDescription: String { "\(algorithm.wireName) of \(bodyName)" }
    }

    static let hello = Array("Hello, Stowage!\n".utf8)
    /// `bytes(range(256)) * 40`, the body boto3's `upload_fileobj` sent in the capture.
    static let allBytesForty: [UInt8] = Array(repeating: Array(0...255), count: 40).flatMap { $0 }

    /// What boto3 1.43 sent in `x-amz-checksum-crc32` (captured on a loopback server), and
    /// what botocore's checksum classes compute for the same bodies.
    static let botocoreCases: [BotocoreCase] = [
        BotocoreCase(algorithm: .crc32, bodyName: "hello", body: hello, base64: "Q/rOTQ=="),
        BotocoreCase(algorithm: .crc32, bodyName: "abc", body: Array("abc".utf8), base64: "NSRBwg=="),
        BotocoreCase(algorithm: .crc32, bodyName: "empty", body: [], base64: "AAAAAA=="),
        BotocoreCase(algorithm: .crc32, bodyName: "all bytes ×40", body: allBytesForty, base64: "u847nQ=="),
        BotocoreCase(algorithm: .sha1, bodyName: "hello", body: hello, base64: "99tIVJ4+Xrb1ckk4BCr2I1frCVs="),
        BotocoreCase(algorithm: .sha1, bodyName: "all bytes ×40", body: allBytesForty,
                     base64: "NoEumfLVkcURSnsJUZ6p19q6I4A="),
        BotocoreCase(algorithm: .sha256, bodyName: "hello", body: hello,
                     base64: "Ch3QSziLXU1MC88TFYln+0Id9YNYvkvouX2Ud6UP5oM="),
        BotocoreCase(algorithm: .sha256, bodyName: "all bytes ×40", body: allBytesForty,
                     base64: "6WdgqHdocXvOvP0l3cfUa028laSwAU3vCAwIU599kNA="),
        BotocoreCase(algorithm: .crc32c, bodyName: "hello", body: hello, base64: "wCIePw=="),
        BotocoreCase(algorithm: .crc64nvme, bodyName: "hello", body: hello, base64: "iMFFxR7fALE="),
    ]

    @Test(arguments: botocoreCases)
    func base64MatchesBotocore(_ testCase: BotocoreCase) {
        var checksummer = S3Checksummer(testCase.algorithm)
        checksummer.update(testCase.body)
        #expect(checksummer.finalizeBase64() == testCase.base64)
    }

    /// The CRC64 tables are computed, not pasted: check two entries against the
    /// bitwise definition and the slice relation.
    @Test func crc64TablesFollowTheirDefinition() {
        let table = CRC64NVME.tables
        #expect(table.count == CRC64NVME.sliceBytes * CRC64NVME.tableEntries)
        #expect(table[0] == 0)
        #expect(table[128] == CRC64NVME.reflectedPolynomial)
        #expect(table[256 + 1] == (table[1] >> 8) ^ table[Int(table[1] & 0xff)])
    }

    private func expectDigest(_ vector: Vector, of input: [UInt8]) {
        let digest = S3Checksummer.digest(vector.algorithm, of: input)
        #expect(digest.count == vector.algorithm.digestByteCount)
        #expect(digest.hex == vector.hex)
        var checksummer = S3Checksummer(vector.algorithm)
        checksummer.update(input)
        #expect(checksummer.finalizeBase64() == vector.base64)
    }
}

extension Array where Element == UInt8 {
    /// Lowercase hex, local to the tests so they need nothing else from the module.
    fileprivate var hex: String { map { String($0, radix: 16).leftPadded(to: 2) }.joined() }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: Swift.max(0, width - count)) + self
    }
}
