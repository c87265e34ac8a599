import Foundation
import Testing
@testable import Stowage

/// A small body (one chunk of up to `ObjectWriter.serialChunkBytes`) is hashed and written
/// on the caller's thread when the segment files have room for it in the open segment;
/// when they have not (no segment yet, or too little left), it goes through `BlockingIO`,
/// which may create a segment. Either way the object is the bytes sent.
@Suite struct SmallWriteTests {
    /// Puts `bytes` under `key` with its size announced; whether it was written inline.
    private func put(_ store: ObjectStore, _ key: String, _ bytes: [UInt8]) async throws -> Bool {
        let writer = try store.beginPut(PutRequest(bucket: "bkt", key: key, sizeHint: UInt64(bytes.count)))
        try await writer.write(bytes)
        let info = try await writer.finish()
        #expect(info.size == UInt64(bytes.count))
        return writer.wroteOnCallersThread
    }

    @Test func smallBodiesAreWrittenInlineWhenTheOpenSegmentHasRoom() async throws {
        try await withTemporaryStore(durability: .strict, segmentCapacityBytes: 1 << 20) { store, directory in
            try await store.createBucket("bkt")
            // No segment yet: creating one blocks, so the first body goes to BlockingIO.
            #expect(try await put(store, "first", testBytes(4096, seed: 1)) == false)
            #expect(try await put(store, "second", testBytes(4096, seed: 2)))
            // 1 MiB - 8 KiB - 8 KiB used: 8 KiB left in the open segment.
            #expect(try await put(store, "big", testBytes((1 << 20) - 16 << 10, seed: 3)) == false)
            #expect(try await put(store, "fits", testBytes(8192, seed: 4)))
            // Nothing left: a new segment, through BlockingIO.
            #expect(try await put(store, "next", testBytes(100, seed: 5)) == false)
            #expect(try await put(store, "after", testBytes(100, seed: 6)))
            #expect(ExtentStore.segmentIDs(in: directory + "/segments").count == 2)
            let sizes = ["first": 4096, "second": 4096, "big": (1 << 20) - 16 << 10, "fits": 8192, "next": 100, "after": 100]
            for (seed, key) in ["first", "second", "big", "fits", "next", "after"].enumerated() {
                #expect(try await store.bytes("bkt", key) == testBytes(sizes[key]!, seed: UInt64(seed + 1)), "\(key)")
            }
            let report = try await store.verify()
            #expect(report.findings.isEmpty, "\(report.findings)")
            #expect(report.statistics.deadBytes == 0)
        }
    }

    /// An upload of unknown size asks for a whole reservation run, more than the open
    /// segment has: granted whole or not at all, so it goes through BlockingIO.
    @Test func unknownSizeTakesTheBlockingPathWhenTheRunDoesNotFit() async throws {
        try await withTemporaryStore(segmentCapacityBytes: 1 << 20) { store, _ in
            try await store.createBucket("bkt")
            _ = try await put(store, "seed", testBytes(10, seed: 1))
            let writer = try store.beginPut(PutRequest(bucket: "bkt", key: "unsized"))
            try await writer.write(testBytes(3000, seed: 2))
            _ = try await writer.finish()
            #expect(!writer.wroteOnCallersThread)
            #expect(try await store.bytes("bkt", "unsized") == testBytes(3000, seed: 2))
        }
    }

    /// A small encrypted body is sealed inline too: no plain byte on disk, and it reads
    /// back as sent.
    @Test func encryptedSmallBodyInline() async throws {
        try await withTemporaryStore { store, directory in
            try await store.createBucket("bkt")
            _ = try await put(store, "seed", testBytes(10, seed: 1))
            let plain = EncryptionTests.pattern(5000, "inline and sealed; ")
            var request = PutRequest(bucket: "bkt", key: "sealed", sizeHint: 5000)
            request.encryption = .s3
            let writer = try store.beginPut(request)
            try await writer.write(plain)
            _ = try await writer.finish()
            #expect(writer.wroteOnCallersThread)
            #expect(try !EncryptionTests.segmentsContain(directory, Array("inline and sealed; ".utf8)))
            #expect(try await store.bytes("bkt", "sealed") == plain)
        }
    }
}
