import Testing
@testable import Stowage
import StowageChecksums

/// The on-disk layouts of docs/ARCHITECTURE.md, pinned by size and round trip.
@Suite struct RecordLayoutTests {
    @Test func fixedSizes() {
        #expect(BucketRecord(createdMilliseconds: 1).encoded().count == 1 + 8 + 4)
        #expect(SegmentRecord(capacityBytes: 1).encoded().count == 1 + 8 * 4 + 1)
        #expect(TokenRecord(expiresMilliseconds: 1, fingerprint: [1, 2]).encoded().count == 1 + 8 + 4 + 2)
        let blob = BlobRecord(referenceCount: 1, size: 10, chunkSizeBytes: 4,
                              extents: [Extent(segmentID: 1, offsetBytes: 0, lengthBytes: 10, chunkHashes: [1, 2, 3])])
        #expect(blob.encoded().count == 1 + 4 + 8 + 4 + 4 + (8 + 8 + 8 + 4 + 3 * 8) + 4 + 4)
        let composite = BlobRecord(compositeOf: [BlobPiece(blobID: 1, offsetBytes: 0, lengthBytes: 10)], partSizes: [10])
        #expect(composite.encoded().count == 1 + 4 + 8 + 4 + 4 + 4 + 24 + 4 + 8)
        let object = ObjectRecord(blobID: 1, size: 2, etag: "e", lastModifiedMilliseconds: 3, partCount: 0,
                                  attributes: ObjectAttributes())
        #expect(object.encoded().count == 1 + 8 + 8 + (4 + 1) + 8 + 4 + 8 * 1 + 2 + 1)
        #expect(object.encoded().first == ObjectRecord.version)
    }

    @Test func roundTrips() throws {
        let attributes = ObjectAttributes(contentType: "a", cacheControl: "c", userMetadata: [("k", "v")],
                                          storageClass: "s", checksums: [("CRC32", "x")])
        let object = ObjectRecord(blobID: 7, size: 9, etag: "abc-2", lastModifiedMilliseconds: -5, partCount: 2, attributes: attributes)
        #expect(try object.encoded().withUnsafeBytes { try ObjectRecord(decoding: $0) } == object)
        let blob = BlobRecord(referenceCount: 3, size: 5, chunkSizeBytes: 2,
                              extents: [Extent(segmentID: 1, offsetBytes: 4, lengthBytes: 3, chunkHashes: [1, 2]),
                                        Extent(segmentID: 2, offsetBytes: 0, lengthBytes: 2, chunkHashes: [9])])
        #expect(try blob.encoded().withUnsafeBytes { try BlobRecord(decoding: $0) } == blob)
        let composite = BlobRecord(compositeOf: [BlobPiece(blobID: 4, offsetBytes: 1, lengthBytes: 6),
                                                 BlobPiece(blobID: 9, offsetBytes: 0, lengthBytes: 4)], partSizes: [6, 4])
        #expect(try composite.encoded().withUnsafeBytes { try BlobRecord(decoding: $0) } == composite)
        let segment = SegmentRecord(capacityBytes: 1, highWaterBytes: 2, liveBytes: 3, deadBytes: 4, state: .sealed)
        #expect(try segment.encoded().withUnsafeBytes { try SegmentRecord(decoding: $0) } == segment)
    }

    /// UploadRecord's formats: 1 to 3 still decode; 4 carries the checksum type (with or
    /// without a lock and tags) and round-trips byte for byte.
    @Test func uploadRecordFormats() throws {
        func decode(_ bytes: [UInt8]) throws -> UploadRecord { try bytes.withUnsafeBytes { try UploadRecord(decoding: $0) } }
        let plain = UploadRecord(bucket: "b", key: "k", initiatedMilliseconds: 1, attributes: ObjectAttributes(),
                                 checksumAlgorithm: "CRC32", etagAtStart: nil)
        #expect(plain.encoded().first == UploadRecord.version)
        #expect(try decode(plain.encoded()).checksumType == nil)
        #expect(try decode(plain.encoded()).effectiveChecksumType == .composite)
        let tagged = UploadRecord(bucket: "b", key: "k", initiatedMilliseconds: 1, attributes: ObjectAttributes(),
                                  checksumAlgorithm: nil, etagAtStart: "e", tags: [ObjectTag(key: "t", value: "v")])
        #expect(tagged.encoded().first == UploadRecord.withTags)
        #expect(try decode(tagged.encoded()) == tagged)
        for tags in [[], [ObjectTag(key: "t", value: "v")]] {
            for type in S3ChecksumType.allCases {
                let typed = UploadRecord(bucket: "b", key: "k", initiatedMilliseconds: 1, attributes: ObjectAttributes(),
                                         checksumAlgorithm: "CRC32C", etagAtStart: nil, tags: tags, checksumType: type)
                #expect(typed.encoded().first == UploadRecord.withChecksumType)
                #expect(try decode(typed.encoded()) == typed)
                #expect(try decode(typed.encoded()).encoded() == typed.encoded())
                // Without tags the type byte ends the record.
                if tags.isEmpty { #expect(typed.encoded().last == (type == .composite ? 1 : 2)) }
            }
        }
        var unknownType = UploadRecord(bucket: "b", key: "k", initiatedMilliseconds: 1, attributes: ObjectAttributes(),
                                       checksumAlgorithm: "CRC32", etagAtStart: nil, checksumType: .fullObject).encoded()
        unknownType[unknownType.count - 1] = 3
        #expect(throws: RecordError.self) { try decode(unknownType) }
    }

    /// Damaged records are errors, never guesses: every truncation, a wrong version,
    /// trailing bytes, and inconsistent extents.
    @Test func damagedRecordsAreRejected() {
        let object = ObjectRecord(blobID: 7, size: 9, etag: "abc", lastModifiedMilliseconds: 1, partCount: 0,
                                  attributes: ObjectAttributes(contentType: "t")).encoded()
        for length in 0..<object.count {
            #expect(throws: RecordError.self) { try Array(object.prefix(length)).withUnsafeBytes { try ObjectRecord(decoding: $0) } }
        }
        #expect(throws: RecordError.self) { try ([9] + object.dropFirst()).withUnsafeBytes { try ObjectRecord(decoding: $0) } }
        #expect(throws: RecordError.self) { try (object + [0]).withUnsafeBytes { try ObjectRecord(decoding: $0) } }
        let badBlob = BlobRecord(referenceCount: 1, size: 10, chunkSizeBytes: 4,
                                 extents: [Extent(segmentID: 1, offsetBytes: 0, lengthBytes: 10, chunkHashes: [1])]).encoded()
        #expect(throws: RecordError.self) { try badBlob.withUnsafeBytes { try BlobRecord(decoding: $0) } }
    }
}
