import Foundation
import Testing
@testable import Stowage
import StowageChecksums

/// Multipart uploads: parts are data blobs; Complete is one transaction that writes no
/// object data (issue: "Complete and CopyObject write no object data").
@Suite struct MultipartTests {
    func upload(_ store: ObjectStore, _ key: String, parts: [[UInt8]], uploadID: String? = nil) async throws -> (String, [PartInfo]) {
        let id: String
        if let uploadID { id = uploadID } else { id = try await store.createMultipartUpload(bucket: "bkt", key: key) }
        var infos: [PartInfo] = []
        for (i, bytes) in parts.enumerated() {
            let writer = try store.beginUploadPart(bucket: "bkt", key: key, uploadID: id, partNumber: i + 1,
                                                   sizeHint: UInt64(bytes.count))
            try await writer.write(bytes)
            let info = try await writer.finish()
            infos.append(PartInfo(partNumber: i + 1, size: info.size, etag: info.etag,
                                  lastModifiedMilliseconds: info.lastModifiedMilliseconds, checksum: nil))
        }
        return (id, infos)
    }

    static func multipartETag(_ parts: [[UInt8]]) throws -> String {
        var md5s: [UInt8] = []
        for part in parts { md5s += ObjectStore.hexBytes(try md5Hex(part)) }
        return try md5Hex(md5s) + "-\(parts.count)"
    }

    @Test func completeJoinsPartsWithoutWritingData() async throws {
        try await withTemporaryStore { store, directory in
            try await store.createBucket("bkt")
            let parts = [testBytes(150_000, seed: 1), testBytes(100_001, seed: 2), testBytes(7, seed: 3)]
            let (id, infos) = try await upload(store, "ckpt", parts: parts)
            let before = try segmentSnapshot(directory)
            let info = try await store.completeMultipartUpload(bucket: "bkt", key: "ckpt", uploadID: id,
                                                               parts: infos.map { ($0.partNumber, "\"\($0.etag)\"") })
            #expect(try segmentSnapshot(directory) == before, "Complete wrote no segment byte")
            #expect(info.etag == (try Self.multipartETag(parts)))
            #expect(info.partCount == 3)
            let whole = parts.flatMap { $0 }
            #expect(try await store.bytes("bkt", "ckpt") == whole)
            // Ranges across part boundaries, and each part by number.
            #expect(try await store.bytes("bkt", "ckpt", range: .from(first: 149_990, last: 150_010)) == Array(whole[149_990...150_010]))
            for (i, part) in parts.enumerated() {
                let read = try store.getObject(bucket: "bkt", key: "ckpt", partNumber: i + 1)
                #expect(read.isPartial)
                #expect(try await read.body.collect() == part)
            }
            await expectStoreError(.invalidPartNumber) { _ = try store.getObject(bucket: "bkt", key: "ckpt", partNumber: 4) }
            await expectStoreError(.noSuchUpload) { try await store.abortMultipartUpload(bucket: "bkt", key: "ckpt", uploadID: id) }
            #expect(try store.read { txn in try txn.count(store.index.uploads) } == 0)
        }
    }

    /// A Complete retried after it succeeded (its answer lost) gets the same answer, even
    /// after the key changed; another part list or key is not a retry; once the kept
    /// answer expires and is swept, the upload is gone (issue 12).
    @Test func completeRetriedAfterSuccessAnswersTheSame() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            let (id, infos) = try await upload(store, "k", parts: [testBytes(150_000, seed: 1), testBytes(9, seed: 2)])
            let chosen = infos.map { ($0.partNumber, "\"\($0.etag)\"") }
            let first = try await store.completeMultipartUpload(bucket: "bkt", key: "k", uploadID: id, parts: chosen)
            try await store.put("bkt", "k", [7])
            let again = try await store.completeMultipartUpload(bucket: "bkt", key: "k", uploadID: id, parts: chosen,
                                                                conditions: WriteConditions(ifNoneMatch: .any))
            #expect(again.etag == first.etag && again.size == first.size && again.partCount == 2)
            #expect(again.lastModifiedMilliseconds == first.lastModifiedMilliseconds)
            #expect(try await store.bytes("bkt", "k") == [7], "a retry changes nothing")
            await expectStoreError(.noSuchUpload) {
                _ = try await store.completeMultipartUpload(bucket: "bkt", key: "k", uploadID: id, parts: Array(chosen.prefix(1)))
            }
            await expectStoreError(.noSuchUpload) {
                _ = try await store.completeMultipartUpload(bucket: "bkt", key: "other", uploadID: id, parts: chosen)
            }
            let key = IndexKey.completion(uploadID: id)
            _ = try await store.mutate { [index = store.index] txn in
                let kept = try #require(try txn.withValue(index.tokens, key) { try TokenRecord(decoding: $0) })
                try txn.put(index.tokens, key, TokenRecord(expiresMilliseconds: 0, fingerprint: kept.fingerprint).encoded())
            }
            await expectStoreError(.noSuchUpload) {
                _ = try await store.completeMultipartUpload(bucket: "bkt", key: "k", uploadID: id, parts: chosen)
            }
            #expect(try await store.sweepExpiredTokens() == 1)
        }
    }

    @Test func completeErrors() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            let parts = [testBytes(150_000, seed: 1), testBytes(50_000, seed: 2), testBytes(120_000, seed: 3)]
            let (id, infos) = try await upload(store, "k", parts: parts)
            let tags = infos.map { ($0.partNumber, $0.etag) }
            await expectStoreError(.invalidPartOrder) {
                _ = try await store.completeMultipartUpload(bucket: "bkt", key: "k", uploadID: id, parts: [tags[1], tags[0]])
            }
            await expectStoreError(.invalidPart) {
                _ = try await store.completeMultipartUpload(bucket: "bkt", key: "k", uploadID: id, parts: [(1, "0000")])
            }
            await expectStoreError(.invalidPart) {
                _ = try await store.completeMultipartUpload(bucket: "bkt", key: "k", uploadID: id, parts: [tags[0], (9, "x")])
            }
            await expectStoreError(.entityTooSmall) {
                _ = try await store.completeMultipartUpload(bucket: "bkt", key: "k", uploadID: id, parts: tags)
            }
            await expectStoreError(.noSuchUpload) {
                _ = try await store.completeMultipartUpload(bucket: "bkt", key: "k", uploadID: String(repeating: "0", count: 32), parts: tags)
            }
            await expectStoreError(.noSuchUpload) {
                _ = try await store.completeMultipartUpload(bucket: "bkt", key: "other", uploadID: id, parts: tags)
            }
            await expectStoreError(.invalidArgument) {
                _ = try store.beginUploadPart(bucket: "bkt", key: "k", uploadID: id, partNumber: 10_001)
            }
            #expect(try store.keys("bkt").isEmpty, "I8: failed Completes change nothing")
            // Leaving the small part 2 out is fine; its space is released (I7).
            _ = try await store.completeMultipartUpload(bucket: "bkt", key: "k", uploadID: id, parts: [tags[0], tags[2]])
            #expect(try await store.bytes("bkt", "k") == parts[0] + parts[2])
            #expect(try liveBytes(store) == 270_000)
        }
    }

    @Test func abortAndReplacedPartsReleaseSpace() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            let (id, _) = try await upload(store, "k", parts: [testBytes(100_000, seed: 1), testBytes(100_000, seed: 2)])
            // Re-upload part 1: the earlier one is released.
            _ = try await upload(store, "k", parts: [testBytes(30_000, seed: 5)], uploadID: id)
            #expect(try liveBytes(store) == 130_000)
            let listed = try store.listParts(bucket: "bkt", key: "k", uploadID: id)
            #expect(listed.parts.map(\.partNumber) == [1, 2])
            #expect(listed.parts.map(\.size) == [30_000, 100_000])
            try await store.abortMultipartUpload(bucket: "bkt", key: "k", uploadID: id)
            #expect(try liveBytes(store) == 0)
            #expect(try store.keys("bkt").isEmpty)
        }
    }

    /// An upload in progress is not an object: rename and GET do not see it.
    @Test func uploadInProgressIsNotAnObject() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            let (id, infos) = try await upload(store, "pending", parts: [testBytes(10, seed: 1)])
            await expectStoreError(.noSuchKey) { _ = try store.headObject(bucket: "bkt", key: "pending") }
            await expectStoreError(.noSuchKey) {
                try await store.renameObject(RenameRequest(bucket: "bkt", source: "pending", destination: "moved"))
            }
            let uploads = try store.listMultipartUploads(bucket: "bkt")
            #expect(uploads.uploads.map(\.uploadID) == [id])
            _ = try await store.completeMultipartUpload(bucket: "bkt", key: "pending", uploadID: id, parts: [(1, infos[0].etag)])
            #expect(try store.listMultipartUploads(bucket: "bkt").uploads.isEmpty)
        }
    }

    /// S3-SEMANTICS.md conditional Complete, including the two 409 cases.
    @Test func conditionalComplete() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            let old = try await store.put("bkt", "k", [1])
            let (id1, p1) = try await upload(store, "k", parts: [[2]])
            await expectStoreError(.preconditionFailed, condition: "If-None-Match") {
                _ = try await store.completeMultipartUpload(bucket: "bkt", key: "k", uploadID: id1, parts: [(1, p1[0].etag)],
                                                             conditions: WriteConditions(ifNoneMatch: .any))
            }
            try await store.deleteObject(bucket: "bkt", key: "k")
            await expectStoreError(.conditionalRequestConflict) {
                _ = try await store.completeMultipartUpload(bucket: "bkt", key: "k", uploadID: id1, parts: [(1, p1[0].etag)],
                                                             conditions: WriteConditions(ifNoneMatch: .any))
            }
            await expectStoreError(.noSuchKey) {
                _ = try await store.completeMultipartUpload(bucket: "bkt", key: "k", uploadID: id1, parts: [(1, p1[0].etag)],
                                                             conditions: WriteConditions(ifMatch: .etags([old.etag])))
            }
            let (id2, p2) = try await upload(store, "k", parts: [[3]])
            let newer = try await store.put("bkt", "k", [4])
            await expectStoreError(.conditionalRequestConflict) {
                _ = try await store.completeMultipartUpload(bucket: "bkt", key: "k", uploadID: id2, parts: [(1, p2[0].etag)],
                                                             conditions: WriteConditions(ifMatch: .etags([newer.etag])))
            }
            await expectStoreError(.preconditionFailed, condition: "If-Match") {
                _ = try await store.completeMultipartUpload(bucket: "bkt", key: "k", uploadID: id2, parts: [(1, p2[0].etag)],
                                                             conditions: WriteConditions(ifMatch: .etags(["nope"])))
            }
            _ = try await store.completeMultipartUpload(bucket: "bkt", key: "k", uploadID: id2, parts: [(1, p2[0].etag)])
            #expect(try await store.bytes("bkt", "k") == [3])
        }
    }

    /// Complete's "written after the upload began" (409) at millisecond resolution: a
    /// write in Create's own millisecond counts unless it is the object Create saw.
    @Test func writtenInCreatesMillisecond() {
        let upload = UploadRecord(bucket: "bkt", key: "k", initiatedMilliseconds: 1_000, attributes: ObjectAttributes(),
                                  checksumAlgorithm: nil, etagAtStart: "seen", lock: nil, checksumType: nil, acl: nil)
        func object(_ etag: String, at milliseconds: Int64) -> ObjectRecord {
            ObjectRecord(blobID: 1, size: 1, etag: etag, lastModifiedMilliseconds: milliseconds, partCount: 0,
                         attributes: ObjectAttributes())
        }
        #expect(!ObjectStore.writtenSinceCreate(object("seen", at: 999), upload))
        #expect(!ObjectStore.writtenSinceCreate(object("seen", at: 1_000), upload))
        #expect(ObjectStore.writtenSinceCreate(object("other", at: 1_000), upload))
        #expect(ObjectStore.writtenSinceCreate(object("seen", at: 1_001), upload))
        var fresh = upload
        fresh.etagAtStart = nil
        #expect(ObjectStore.writtenSinceCreate(object("seen", at: 1_000), fresh))
    }

    /// UploadPartCopy references ranges of an existing object; no segment byte is written.
    @Test func uploadPartCopyReferencesRanges() async throws {
        try await withTemporaryStore { store, directory in
            try await store.createBucket("bkt")
            let source = testBytes(300_000, seed: 8)
            try await store.put("bkt", "src", source)
            let id = try await store.createMultipartUpload(bucket: "bkt", key: "dst")
            let before = try segmentSnapshot(directory)
            let p1 = try await store.uploadPartCopy(bucket: "bkt", key: "dst", uploadID: id, partNumber: 1,
                                                    sourceBucket: "bkt", sourceKey: "src", range: .from(first: 1000, last: 150_999))
            let p2 = try await store.uploadPartCopy(bucket: "bkt", key: "dst", uploadID: id, partNumber: 2,
                                                    sourceBucket: "bkt", sourceKey: "src")
            #expect(try segmentSnapshot(directory) == before, "UploadPartCopy wrote no segment byte")
            #expect(p1.etag == (try md5Hex(Array(source[1000...150_999]))))
            #expect(p2.etag == (try md5Hex(source)))
            try await store.deleteObject(bucket: "bkt", key: "src")   // the parts keep the bytes alive
            _ = try await store.completeMultipartUpload(bucket: "bkt", key: "dst", uploadID: id,
                                                        parts: [(1, p1.etag), (2, p2.etag)])
            #expect(try await store.bytes("bkt", "dst") == Array(source[1000...150_999]) + source)
            // A part copied from a multipart object resolves to data pieces.
            let id2 = try await store.createMultipartUpload(bucket: "bkt", key: "again")
            let p = try await store.uploadPartCopy(bucket: "bkt", key: "again", uploadID: id2, partNumber: 1,
                                                   sourceBucket: "bkt", sourceKey: "dst", range: .from(first: 140_000, last: 160_000))
            _ = try await store.completeMultipartUpload(bucket: "bkt", key: "again", uploadID: id2, parts: [(1, p.etag)])
            let dst = Array(source[1000...150_999]) + source
            #expect(try await store.bytes("bkt", "again") == Array(dst[140_000...160_000]))
            try await store.deleteObject(bucket: "bkt", key: "dst")
            try await store.deleteObject(bucket: "bkt", key: "again")
            #expect(try liveBytes(store) == 0, "the last reference releases the bytes")
        }
    }

    /// Uploads `parts` to upload `id`, each with its checksum in `algorithm` sent (or none).
    func uploadChecked(_ store: ObjectStore, _ id: String, _ parts: [[UInt8]], from first: Int = 1,
                       sending algorithm: S3ChecksumAlgorithm?) async throws -> [(partNumber: Int, etag: String, checksum: String)] {
        var result: [(partNumber: Int, etag: String, checksum: String)] = []
        for (i, bytes) in parts.enumerated() {
            let expected = algorithm.map { [$0: Data(S3Checksummer.digest($0, of: bytes)).base64EncodedString()] } ?? [:]
            let writer = try store.beginUploadPart(bucket: "bkt", key: "k", uploadID: id, partNumber: first + i,
                                                   sizeHint: UInt64(bytes.count), expectedChecksums: expected)
            try await writer.write(bytes)
            let info = try await writer.finish()
            result.append((first + i, info.etag, info.attributes.checksums.first?.value ?? ""))
        }
        return result
    }

    @Test func compositeChecksum() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            let id = try await store.createMultipartUpload(bucket: "bkt", key: "k", checksumAlgorithm: .crc32)
            let parts = [testBytes(120_000, seed: 1), testBytes(10, seed: 2)]
            let uploaded = try await uploadChecked(store, id, parts, sending: .crc32)
            let listed = CompletionChecksums(parts: Dictionary(uniqueKeysWithValues: uploaded.map { ($0.partNumber, [.crc32: $0.checksum]) }),
                                             type: .composite)
            let info = try await store.completeMultipartUpload(bucket: "bkt", key: "k", uploadID: id,
                                                               parts: uploaded.map { ($0.partNumber, $0.etag) }, checksums: listed)
            let partDigests = parts.flatMap { S3Checksummer.digest(.crc32, of: $0) }
            let expected = Data(S3Checksummer.digest(.crc32, of: partDigests)).base64EncodedString() + "-2"
            #expect(info.attributes.checksums.map(\.value) == [expected])
        }
    }

    /// FULL_OBJECT: the object's checksum is the CRC of all its bytes, combined at Complete
    /// from the parts' CRCs (an empty last part too); parts may leave it to the server.
    @Test(arguments: [S3ChecksumAlgorithm.crc32, .crc32c, .crc64nvme])
    func fullObjectChecksum(_ algorithm: S3ChecksumAlgorithm) async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            let id = try await store.createMultipartUpload(bucket: "bkt", key: "k", checksumAlgorithm: algorithm,
                                                           checksumType: .fullObject)
            let parts = [testBytes(120_000, seed: 3), testBytes(100_001, seed: 4), []]
            let uploaded = try await uploadChecked(store, id, Array(parts.prefix(2)), sending: algorithm)
                + uploadChecked(store, id, [parts[2]], from: 3, sending: nil)
            let whole = Data(S3Checksummer.digest(algorithm, of: parts.flatMap { $0 })).base64EncodedString()
            await expectStoreError(.badDigest) {
                _ = try await store.completeMultipartUpload(bucket: "bkt", key: "k", uploadID: id, parts: uploaded.map { ($0.partNumber, $0.etag) },
                                                            checksums: CompletionChecksums(object: [algorithm: Data(S3Checksummer.digest(algorithm, of: [1])).base64EncodedString()]))
            }
            await expectStoreError(.badDigest) {
                _ = try await store.completeMultipartUpload(bucket: "bkt", key: "k", uploadID: id, parts: uploaded.map { ($0.partNumber, $0.etag) },
                                                            checksums: CompletionChecksums(type: .composite))
            }
            let info = try await store.completeMultipartUpload(bucket: "bkt", key: "k", uploadID: id,
                                                               parts: uploaded.map { ($0.partNumber, $0.etag) },
                                                               checksums: CompletionChecksums(type: .fullObject, object: [algorithm: whole]))
            #expect(info.attributes.checksums.map(\.algorithm) == [algorithm.wireName])
            #expect(info.attributes.checksums.map(\.value) == [whole])
        }
    }

    /// S3's rules for the algorithm and type announced at Create.
    @Test func checksumRules() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            for (algorithm, type) in [(S3ChecksumAlgorithm.sha1, S3ChecksumType.fullObject), (.sha256, .fullObject), (.crc64nvme, .composite)] {
                await expectStoreError(.invalidRequest) {
                    _ = try await store.createMultipartUpload(bucket: "bkt", key: "k", checksumAlgorithm: algorithm, checksumType: type)
                }
            }
            await expectStoreError(.invalidRequest) {
                _ = try await store.createMultipartUpload(bucket: "bkt", key: "k", checksumType: .composite)
            }
            let composite = try await store.createMultipartUpload(bucket: "bkt", key: "k", checksumAlgorithm: .sha256)
            // A part in another algorithm, or (COMPOSITE) without one, is refused.
            await expectStoreError(.invalidRequest) { _ = try await self.uploadChecked(store, composite, [[1]], sending: .crc32) }
            await expectStoreError(.invalidRequest) { _ = try await self.uploadChecked(store, composite, [[1]], sending: nil) }
            let uploaded = try await uploadChecked(store, composite, [[1, 2, 3]], sending: .sha256)
            let choice = uploaded.map { ($0.partNumber, $0.etag) }
            // Complete must list each part's checksum, and the right one.
            await expectStoreError(.invalidRequest) {
                _ = try await store.completeMultipartUpload(bucket: "bkt", key: "k", uploadID: composite, parts: choice)
            }
            let wrong = Data(S3Checksummer.digest(.sha256, of: [9])).base64EncodedString()
            await expectStoreError(.invalidPart) {
                _ = try await store.completeMultipartUpload(bucket: "bkt", key: "k", uploadID: composite, parts: choice,
                                                            checksums: CompletionChecksums(parts: [1: [.sha256: wrong]]))
            }
            await expectStoreError(.invalidPart) {
                _ = try await store.completeMultipartUpload(bucket: "bkt", key: "k", uploadID: composite, parts: choice,
                                                            checksums: CompletionChecksums(parts: [1: [.sha256: uploaded[0].checksum, .crc32: "AAAAAA=="]]))
            }
            let info = try await store.completeMultipartUpload(bucket: "bkt", key: "k", uploadID: composite, parts: choice,
                                                               checksums: CompletionChecksums(parts: [1: [.sha256: uploaded[0].checksum]]))
            #expect(info.attributes.checksums.first?.value.hasSuffix("-1") == true)
            // CRC64NVME defaults to FULL_OBJECT.
            let nvme = try await store.createMultipartUpload(bucket: "bkt", key: "n", checksumAlgorithm: .crc64nvme)
            #expect(try store.listParts(bucket: "bkt", key: "n", uploadID: nvme).upload.checksumType == .fullObject)
        }
    }
}
