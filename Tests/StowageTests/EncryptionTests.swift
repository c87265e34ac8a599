import Crypto
import Foundation
import Testing
@testable import Stowage

/// Encryption at rest (SSE-S3, SSE-KMS, SSE-C) on a real data directory: the cipher's
/// arithmetic, the sealed data key, and the engine's promises — no plain byte on disk,
/// any range decrypts, rename and same-encryption copies touch no byte, a change of
/// encryption re-encrypts. In `make test` also over the optimistic index.
@Suite struct EncryptionTests {
    /// Bytes that are easy to find: a phrase repeated.
    static func pattern(_ count: Int, _ phrase: String) -> [UInt8] {
        let unit = Array(phrase.utf8)
        return (0..<count).map { unit[$0 % unit.count] }
    }

    /// True when any file under `directory/segments` contains `needle`.
    static func segmentsContain(_ directory: String, _ needle: [UInt8]) throws -> Bool {
        let folder = directory + "/segments"
        for name in try FileManager.default.contentsOfDirectory(atPath: folder) {
            let data = try Data(contentsOf: URL(fileURLWithPath: folder + "/" + name))
            if data.range(of: Data(needle)) != nil { return true }
        }
        return false
    }

    @Test func cipherDecryptsAnyRangeByItself() {
        let cipher = BlobCipher(key: SymmetricKey(size: .bits256))
        let plain = testBytes(200_000)
        let whole = plain.withUnsafeBytes { cipher.apply($0, at: 0) }
        #expect(Array(whole) != plain)
        #expect(whole.withUnsafeBytes { Array(cipher.apply($0, at: 0)) } == plain)
        for (start, count) in [(0, 1), (1, 15), (15, 2), (16, 16), (17, 100_000), (65_535, 3), (199_990, 10)] {
            let slice = Array(whole[start..<(start + count)])
            let decrypted = slice.withUnsafeBytes { Array(cipher.apply($0, at: UInt64(start))) }
            #expect(decrypted == Array(plain[start..<(start + count)]), "range at \(start)")
        }
    }

    /// BoringSSL's CTR increments 32 bits at a time: the carry into the upper 96 bits must
    /// happen, or a blob past 64 GiB would reuse keystream.
    @Test func counterCarriesPastThirtyTwoBits() {
        let cipher = BlobCipher(key: SymmetricKey(size: .bits256))
        let start = (UInt64(1) << 32 - 2) * 16 + 7
        let zeros = [UInt8](repeating: 0, count: 80)
        let stream = zeros.withUnsafeBytes { Array(cipher.apply($0, at: start)) }
        // Each 16-byte block computed on its own, from its own counter.
        var pieces: [UInt8] = []
        var offset = start
        while pieces.count < zeros.count {
            let count = min(16 - Int(offset % 16), zeros.count - pieces.count)
            pieces += zeros[..<count].withUnsafeBytes { Array(cipher.apply($0, at: offset)) }
            offset += UInt64(count)
        }
        #expect(stream == pieces)
        #expect(Set(stream.chunked(16)).count == 5, "no keystream block repeats")
    }

    @Test func sealedDataKeyOpensOnlyWithItsKeyAndItsKeyID() throws {
        let sealing = SymmetricKey(size: .bits256)
        let (key, sealed) = SealedDataKey.make(scheme: .kms, keyID: "k1", sealingKey: sealing)
        let opened = try #require(sealed.open(sealing))
        #expect(opened.withUnsafeBytes { Array($0) } == key.withUnsafeBytes { Array($0) })
        #expect(sealed.open(SymmetricKey(size: .bits256)) == nil)
        var moved = sealed
        moved.keyID = "k2"
        #expect(moved.open(sealing) == nil, "the key id is authenticated")
        let (_, again) = SealedDataKey.make(scheme: .kms, keyID: "k1", sealingKey: sealing)
        #expect(again.salt != sealed.salt && again.sealed != sealed.sealed)
    }

    @Test func blobRecordKeepsItsSealedKey() throws {
        let (_, sealed) = SealedDataKey.make(scheme: .s3, keyID: "", sealingKey: SymmetricKey(size: .bits256))
        var blob = BlobRecord(referenceCount: 1, size: 10, chunkSizeBytes: 8,
                              extents: [Extent(segmentID: 1, offsetBytes: 0, lengthBytes: 10, chunkHashes: [1, 2])])
        blob.dataKey = sealed
        let bytes = blob.encoded()
        #expect(bytes[0] == BlobRecord.encryptedFormat)
        let decoded = try bytes.withUnsafeBytes { try BlobRecord(decoding: $0) }
        #expect(decoded == blob)
        blob.dataKey = nil
        #expect(blob.encoded()[0] == BlobRecord.version, "a plain blob keeps format 1")
    }

    @Test func masterKeyTextForms() throws {
        let raw = testBytes(32)
        let hex = raw.map { String(format: "%02x", $0) }.joined()
        let fingerprint = try #require(MasterKey(bytes: raw)).fingerprint
        #expect(MasterKey(text: raw)?.fingerprint == fingerprint)
        #expect(MasterKey(text: Array((hex + "\n").utf8))?.fingerprint == fingerprint)
        #expect(MasterKey(text: Array(Data(raw).base64EncodedString().utf8))?.fingerprint == fingerprint)
        #expect(MasterKey(text: Array("too short".utf8)) == nil)
        #expect(MasterKey(bytes: testBytes(31)) == nil)
    }

    @Test func sseS3ObjectsAreEncryptedOnDiskAndReadBackWhole() async throws {
        try await withTemporaryStore { store, directory in
            try await store.createBucket("bkt")
            let plain = Self.pattern(300_000, "plain-control-phrase-0123456789;")
            let secret = Self.pattern(300_000, "secret-phrase-of-an-sse-s3-obj;")
            try await store.put("bkt", "plain", plain)
            var request = PutRequest(bucket: "bkt", key: "secret")
            request.encryption = .s3
            let info = try await store.putObject(request, bytes: secret)
            #expect(info.attributes.serverSideEncryption == "AES256")
            #expect(try Self.segmentsContain(directory, Array(plain[..<64])), "the search finds plain bytes")
            #expect(try !Self.segmentsContain(directory, Array(secret[..<32])))
            #expect(try await store.bytes("bkt", "secret") == secret)
            for (first, last) in [(0, 0), (65_530, 65_545), (100_001, 299_999), (7, 200_000)] {
                #expect(try await store.bytes("bkt", "secret", range: .from(first: UInt64(first), last: UInt64(last)))
                        == Array(secret[first...last]))
            }
            let report = try await store.verify()
            #expect(report.isClean, "\(report.findings)")
            #expect(report.statistics.bytesVerified == 600_000)
        }
    }

    @Test func sseCNeedsItsKeyAndNothingElseOpensIt() async throws {
        try await withTemporaryStore { store, directory in
            try await store.createBucket("bkt")
            let key = try #require(CustomerKey(bytes: testBytes(32, seed: 1)))
            let other = try #require(CustomerKey(bytes: testBytes(32, seed: 2)))
            let body = Self.pattern(150_000, "customer-keyed-phrase-abcdefgh;")
            var request = PutRequest(bucket: "bkt", key: "c")
            request.encryption = .customer(keyMD5: key.md5Base64)
            request.customerKey = key
            _ = try await store.putObject(request, bytes: body)
            #expect(try !Self.segmentsContain(directory, Array(body[..<32])))
            await expectStoreError(.invalidRequest) { _ = try store.headObject(bucket: "bkt", key: "c") }
            await expectStoreError(.invalidRequest) { _ = try store.getObject(bucket: "bkt", key: "c") }
            await expectStoreError(.accessDenied) { _ = try store.getObject(bucket: "bkt", key: "c", customerKey: other) }
            let read = try store.getObject(bucket: "bkt", key: "c", range: .from(first: 99, last: 70_000), customerKey: key)
            #expect(try await read.body.collect() == Array(body[99...70_000]))
            // A key sent for an object that has none is refused too.
            try await store.put("bkt", "plain", [1, 2, 3])
            await expectStoreError(.invalidRequest) { _ = try store.headObject(bucket: "bkt", key: "plain", customerKey: key) }
            // Rename moves no byte and the key still opens it.
            try await store.renameObject(RenameRequest(bucket: "bkt", source: "c", destination: "renamed"))
            #expect(try await store.getObject(bucket: "bkt", key: "renamed", customerKey: key).body.collect() == body)
        }
    }

    @Test func copiesShareBytesUnlessTheEncryptionChanges() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            let body = testBytes(200_000, seed: 3)
            var request = PutRequest(bucket: "bkt", key: "s3")
            request.encryption = .s3
            _ = try await store.putObject(request, bytes: body)
            let blobs = { try await store.verify().statistics.dataBlobs }
            #expect(try await blobs() == 1)
            // Same encryption (inherited: a copy keeps SSE-S3): the same blob, one more reference.
            let same = try await store.copyObject(CopyRequest(sourceBucket: "bkt", sourceKey: "s3", bucket: "bkt", key: "same"))
            #expect(same.object.attributes.serverSideEncryption == "AES256")
            #expect(try await blobs() == 1)
            // To SSE-C: read, decrypted, encrypted under the customer's key — a new blob.
            let key = try #require(CustomerKey(bytes: testBytes(32, seed: 4)))
            var toCustomer = CopyRequest(sourceBucket: "bkt", sourceKey: "s3", bucket: "bkt", key: "customer")
            toCustomer.encryption = .customer(keyMD5: key.md5Base64)
            toCustomer.customerKey = key
            _ = try await store.copyObject(toCustomer)
            #expect(try await blobs() == 2)
            #expect(try await store.getObject(bucket: "bkt", key: "customer", customerKey: key).body.collect() == body)
            // From SSE-C without the source's key: refused; with it, to plain (a bucket without default).
            var back = CopyRequest(sourceBucket: "bkt", sourceKey: "customer", bucket: "bkt", key: "plain")
            await expectStoreError(.invalidRequest) { _ = try await store.copyObject(back) }
            back.sourceCustomerKey = key
            let plain = try await store.copyObject(back)
            #expect(plain.object.attributes.serverSideEncryption == nil)
            #expect(try await store.bytes("bkt", "plain") == body)
            let report = try await store.verify()
            #expect(report.isClean, "\(report.findings)")
        }
    }

    @Test func multipartPartsFollowTheirUpload() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            let key = try #require(CustomerKey(bytes: testBytes(32, seed: 5)))
            let upload = try await store.createMultipartUpload(bucket: "bkt", key: "mp",
                                                               encryption: .customer(keyMD5: key.md5Base64))
            let parts = [testBytes(150_000, seed: 6), testBytes(120_000, seed: 7)]
            await expectStoreError(.invalidRequest) {
                _ = try store.beginUploadPart(bucket: "bkt", key: "mp", uploadID: upload, partNumber: 1)
            }
            let wrong = try #require(CustomerKey(bytes: testBytes(32, seed: 8)))
            await expectStoreError(.invalidArgument) {
                _ = try store.beginUploadPart(bucket: "bkt", key: "mp", uploadID: upload, partNumber: 1, customerKey: wrong)
            }
            var etags: [(partNumber: Int, etag: String)] = []
            for (n, bytes) in parts.enumerated() {
                let writer = try store.beginUploadPart(bucket: "bkt", key: "mp", uploadID: upload, partNumber: n + 1,
                                                       customerKey: key)
                try await writer.write(bytes)
                etags.append((n + 1, try await writer.finish().etag))
            }
            // A part copied from a plain object into this SSE-C upload is re-encrypted.
            let source = testBytes(60_000, seed: 9)
            try await store.put("bkt", "src", source)
            let copied = try await store.uploadPartCopy(bucket: "bkt", key: "mp", uploadID: upload, partNumber: 3,
                                                        sourceBucket: "bkt", sourceKey: "src", customerKey: key)
            etags.append((3, copied.etag))
            let info = try await store.completeMultipartUpload(bucket: "bkt", key: "mp", uploadID: upload, parts: etags)
            #expect(info.attributes.serverSideEncryption == ServerSideEncryption.customer(keyMD5: key.md5Base64).stored)
            let whole = parts[0] + parts[1] + source
            #expect(try await store.getObject(bucket: "bkt", key: "mp", customerKey: key).body.collect() == whole)
            let range = try store.getObject(bucket: "bkt", key: "mp", range: .from(first: 149_990, last: 280_010), customerKey: key)
            #expect(try await range.body.collect() == Array(whole[149_990...280_010]))
            await expectStoreError(.invalidRequest) { _ = try store.getObject(bucket: "bkt", key: "mp") }
        }
    }

    @Test func kmsKeysAndBucketDefaults() async throws {
        try await withTemporaryStore { store, directory in
            try await store.createBucket("bkt")
            await expectStoreError(.noSuchEncryptionConfiguration) { _ = try store.bucketEncryption("bkt") }
            let key = try await store.createKMSKey(id: "team-a")
            #expect(try store.kmsKeys().map(\.keyID) == [KeyStore.defaultKeyID, "team-a"])
            await expectStoreError(.invalidArgument) { _ = try await store.createKMSKey(id: "team-a") }
            await expectStoreError(.kmsKeyNotFound) {
                try await store.setBucketEncryption("bkt", BucketEncryption(encryption: .kms(keyID: "missing")))
            }
            try await store.setBucketEncryption("bkt", BucketEncryption(encryption: .kms(keyID: key.keyID)))
            #expect(try store.bucketEncryption("bkt").encryption == .kms(keyID: "team-a"))
            let body = Self.pattern(100_000, "kms-default-phrase-0123456789ab;")
            let info = try await store.put("bkt", "k", body)
            #expect(info.attributes.serverSideEncryption == "aws:kms team-a")
            #expect(try !Self.segmentsContain(directory, Array(body[..<32])))
            #expect(try await store.bytes("bkt", "k") == body)
            try await store.setBucketEncryption("bkt", nil)
            #expect(try await store.put("bkt", "after", [1]).attributes.serverSideEncryption == nil)
        }
    }

    @Test func anotherMasterKeyCannotRead() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("stowage-test-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory); TestIndex.forget(directory) }
        var store = try openTestStore(directory)
        try await store.createBucket("bkt")
        var request = PutRequest(bucket: "bkt", key: "s3")
        request.encryption = .s3
        _ = try await store.putObject(request, bytes: testBytes(1000))
        store.close()
        var options = testOptions()
        options.masterKey = MasterKey(bytes: testBytes(32, seed: 11))
        store = try openTestStore(directory, options)
        await expectStoreError(.integrity) { _ = try store.getObject(bucket: "bkt", key: "s3") }
        store.close()
        options.masterKey = nil
        store = try openTestStore(directory, options)
        await expectStoreError(.notImplemented) { _ = try store.getObject(bucket: "bkt", key: "s3") }
        store.close()
        store = try openTestStore(directory)
        #expect(try await store.bytes("bkt", "s3") == testBytes(1000))
        store.close()
    }
}

private extension Array {
    func chunked(_ size: Int) -> [[Element]] {
        stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min($0 + size, count)]) }
    }
}
