import Foundation
import Testing
@testable import Stowage

@Suite struct ObjectTests {
    @Test func putGetHeadDelete() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            let body = testBytes(200_000)
            let attributes = ObjectAttributes(
                contentType: "application/x-checkpoint", contentEncoding: "identity",
                contentDisposition: "attachment; filename=\"c.bin\"", contentLanguage: "en",
                cacheControl: "no-cache", expires: "Wed, 21 Oct 2026 07:28:00 GMT",
                userMetadata: [("step", "1000"), ("run", "α-β")], storageClass: "STANDARD_IA")
            let put = try await store.put("bkt", "dir/ckpt.bin", body, attributes: attributes, encryption: .s3)
            #expect(put.size == 200_000)
            #expect(put.etag == (try md5Hex(body)))
            let head = try store.headObject(bucket: "bkt", key: "dir/ckpt.bin")
            #expect(head == put)
            var stored = attributes
            stored.serverSideEncryption = "AES256"
            #expect(head.attributes == stored)
            #expect(try await store.bytes("bkt", "dir/ckpt.bin") == body)
            try await store.deleteObject(bucket: "bkt", key: "dir/ckpt.bin")
            await expectStoreError(.noSuchKey) { _ = try store.headObject(bucket: "bkt", key: "dir/ckpt.bin") }
            // Deleting again is not an error (S3 DeleteObject is idempotent).
            try await store.deleteObject(bucket: "bkt", key: "dir/ckpt.bin")
        }
    }

    /// S3 wire checksums are computed in the same pass, verified against what the client
    /// sent (up front or as trailers), and stored with the object.
    @Test func wireChecksums() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            let body = Array("123456789".utf8)
            let crc32 = "y/Q5Jg==", sha256 = "FeKw08M4keuw8e9gnsQZQgwg4yDOlMZfvIwzEkSOsiU="
            let request = PutRequest(bucket: "bkt", key: "k", checksumAlgorithms: [.sha256], expectedChecksums: [.crc32: crc32])
            let info = try await store.putObject(request, bytes: body)
            #expect(info.attributes.checksums.map(\.algorithm) == ["CRC32", "SHA256"])
            #expect(info.attributes.checksums.map(\.value) == [crc32, sha256])
            // A trailer that disagrees with the body: BadDigest, nothing stored.
            let writer = try store.beginPut(PutRequest(bucket: "bkt", key: "bad", checksumAlgorithms: [.crc32]))
            try await writer.write(body)
            await expectStoreError(.badDigest) { _ = try await writer.finish(trailingChecksums: [.crc32: "AAAAAA=="]) }
            await expectStoreError(.badDigest) {
                _ = try await store.putObject(PutRequest(bucket: "bkt", key: "bad", expectedChecksums: [.sha256: crc32]), bytes: body)
            }
            #expect(try store.keys("bkt") == ["k"])
        }
    }

    @Test func emptyObject() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            let info = try await store.put("bkt", "empty", [])
            #expect(info.etag == "d41d8cd98f00b204e9800998ecf8427e")
            #expect(try await store.bytes("bkt", "empty") == [])
            // No byte of an empty object can be served: any range is unsatisfiable, as on S3.
            await expectStoreError(.invalidRange) { _ = try await store.bytes("bkt", "empty", range: .from(first: 0, last: nil)) }
        }
    }

    /// Bodies of every awkward length around chunk and segment boundaries, streamed in
    /// odd-sized pieces with and without a size hint, read back whole.
    @Test(arguments: [1, 65_535, 65_536, 65_537, 1_048_576 + 7, 9 << 20])
    func streamedLengths(length: Int) async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            let body = testBytes(length, seed: UInt64(length))
            for hinted in [true, false] {
                let writer = try store.beginPut(PutRequest(bucket: "bkt", key: "k\(hinted)", sizeHint: hinted ? UInt64(length) : nil))
                var offset = 0
                var piece = 1
                while offset < length {
                    let end = min(length, offset + piece)
                    try await writer.write(Array(body[offset..<end]))
                    offset = end
                    piece = piece * 3 + 1
                }
                let info = try await writer.finish()
                #expect(info.etag == (try md5Hex(body)))
                #expect(try await store.bytes("bkt", "k\(hinted)") == body)
            }
        }
    }

    @Test func overwriteReplacesAndFreesSpace() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            try await store.put("bkt", "k", testBytes(300_000, seed: 1))
            let second = testBytes(100_000, seed: 2)
            try await store.put("bkt", "k", second)
            #expect(try await store.bytes("bkt", "k") == second)
            let live = try store.read { txn in try store.index.allSegments(txn).reduce(0) { $0 + $1.1.liveBytes } }
            #expect(live == 100_000, "I7: only the current version's bytes are live")
        }
    }

    @Test func persistsAcrossReopen() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("stowage-reopen-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory); TestIndex.forget(directory) }
        let body = testBytes(3 << 20)
        do {
            let store = try openTestStore(directory, testOptions(.strict))
            try await store.createBucket("bkt")
            try await store.put("bkt", "big", body, attributes: ObjectAttributes(contentType: "x/y"))
            try await store.put("bkt", "small", [42])
            store.close()
        }
        let store = try openTestStore(directory, testOptions(.strict))
        defer { store.close() }
        #expect(try store.keys("bkt") == ["big", "small"])
        #expect(try await store.bytes("bkt", "big") == body)
        #expect(try store.headObject(bucket: "bkt", key: "big").attributes.contentType == "x/y")
        // Appends resume after the committed bytes; earlier objects stay intact.
        try await store.put("bkt", "after", testBytes(500_000, seed: 9))
        #expect(try await store.bytes("bkt", "big") == body)
        #expect(try await store.bytes("bkt", "after") == testBytes(500_000, seed: 9))
    }

    /// `close()` waits for a read already inside its snapshot instead of closing the index
    /// under it; reads that begin after it are refused as closed (issue 13).
    @Test func closeWaitsForReadsInFlight() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            try await store.put("bkt", "k", [1, 2, 3])
            let inside = DispatchSemaphore(value: 0)
            let release = DispatchSemaphore(value: 0)
            let closed = ManagedAtomicFlag()
            let reader = Thread {
                _ = try? store.read { txn -> Int in
                    inside.signal()
                    release.wait()
                    return try txn.count(store.index.objects)
                }
            }
            reader.start()
            inside.wait()
            let closer = Thread { store.close(); closed.set() }
            closer.start()
            try await Task.sleep(for: .milliseconds(200))
            #expect(!closed.isSet, "close() returned while a read was inside its snapshot")
            release.signal()
            while !closed.isSet { try await Task.sleep(for: .milliseconds(5)) }
            await expectStoreError(.closed) { _ = try store.headObject(bucket: "bkt", key: "k") }
        }
    }

    @Test func openingTwiceIsRefused() async throws {
        try await withTemporaryStore { _, directory in
            await expectStoreError(.alreadyOpen) { _ = try ObjectStore(directory: directory, options: testOptions()) }
        }
    }

    /// Ranges at the edges: first byte, last byte, across chunk boundaries, suffixes,
    /// open ends, and unsatisfiable ones.
    @Test func ranges() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            let body = testBytes(200_000)
            try await store.put("bkt", "k", body)
            let cases: [(ByteRange, Range<Int>)] = [
                (.from(first: 0, last: 0), 0..<1),
                (.from(first: 199_999, last: 199_999), 199_999..<200_000),
                (.from(first: 65_530, last: 65_540), 65_530..<65_541),
                (.from(first: 100, last: nil), 100..<200_000),
                (.from(first: 100, last: 10_000_000), 100..<200_000),
                (.suffix(length: 10), 199_990..<200_000),
                (.suffix(length: 1_000_000), 0..<200_000),
            ]
            for (range, expected) in cases {
                let read = try store.getObject(bucket: "bkt", key: "k", range: range)
                #expect(read.isPartial)
                #expect(read.range == UInt64(expected.lowerBound)..<UInt64(expected.upperBound))
                #expect(try await read.body.collect() == Array(body[expected]), "\(range)")
            }
            for bad in [ByteRange.from(first: 200_000, last: nil), .from(first: 300_000, last: 300_001), .suffix(length: 0)] {
                await expectStoreError(.invalidRange) { _ = try store.getObject(bucket: "bkt", key: "k", range: bad) }
            }
        }
    }

    /// Bad input gets its typed error and changes nothing (I8).
    @Test func badInputChangesNothing() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            await expectStoreError(.invalidKey) { try await store.put("bkt", "", [1]) }
            await expectStoreError(.keyTooLong) { try await store.put("bkt", String(repeating: "k", count: 1025), [1]) }
            try await store.put("bkt", String(repeating: "k", count: 1024), [1])
            await expectStoreError(.noSuchBucket) { try await store.put("nope", "k", [1]) }
            await expectStoreError(.invalidBucketName) { try await store.put("B!", "k", [1]) }
            await expectStoreError(.invalidKey) { _ = try Validation.key(fromBytes: [0x66, 0xFF, 0xFE]) }
            await expectStoreError(.invalidRequest) {
                try await store.put("bkt", "k", [1], conditions: WriteConditions(ifNoneMatch: .etags(["abc"])))
            }
            await expectStoreError(.badDigest) {
                _ = try await store.putObject(PutRequest(bucket: "bkt", key: "k", expectedMD5: [UInt8](repeating: 0, count: 16)), bytes: [1, 2])
            }
            let big = [(name: String, value: String)](repeating: ("m", String(repeating: "v", count: 100)), count: 21)
            await expectStoreError(.invalidArgument) {
                try await store.put("bkt", "k", [1], attributes: ObjectAttributes(userMetadata: big))
            }
            #expect(try store.keys("bkt") == [String(repeating: "k", count: 1024)])
        }
    }

    @Test func incompleteBodyIsNotStored() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            let writer = try store.beginPut(PutRequest(bucket: "bkt", key: "k", sizeHint: 1000))
            try await writer.write(testBytes(999))
            await expectStoreError(.incompleteBody) { _ = try await writer.finish() }
            #expect(try store.keys("bkt").isEmpty)
        }
    }

    @Test func batchDelete() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            for key in ["a", "b", "c"] { try await store.put("bkt", key, [1]) }
            let outcomes = try await store.deleteObjects(bucket: "bkt", keys: ["a", "c", "missing", ""])
            #expect(outcomes.map(\.key) == ["a", "c", "missing", ""])
            #expect(outcomes.prefix(3).allSatisfy { $0.error == nil })
            #expect(outcomes[3].error?.code == .invalidKey)
            #expect(try store.keys("bkt") == ["b"])
            await expectStoreError(.invalidRequest) {
                _ = try await store.deleteObjects(bucket: "bkt", keys: Array(repeating: "x", count: 1001))
            }
        }
    }
}
