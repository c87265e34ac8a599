import Foundation
import Glibc
import Testing
@testable import Stowage

/// Small chunks whose pages are in the page cache are served on the caller's thread
/// (issue 18: no thread hop for a 4 KiB GET); `Mapping.isResident` decides, and the
/// inline path checks the XXH3 exactly as the `BlockingIO` one does (I4).
@Suite struct ResidencyTests {
    @Test func residencyFollowsThePageCache() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("stowage-resident-\(UUID())").path
        defer { unlink(path) }
        let fd = open(path, O_RDWR | O_CREAT, 0o600)
        #expect(fd >= 0)
        defer { close(fd) }
        let length = 1 << 20
        // A sparse file: no page of it is in the page cache until it is written or read.
        #expect(ftruncate(fd, off_t(length)) == 0)
        let mapping = try Mapping(fd: fd, length: length, path: path)
        #expect(!mapping.isResident(offset: 0, count: 4096))
        var byte: UInt8 = 7
        #expect(pwrite(fd, &byte, 1, 8192) == 1)
        #expect(mapping.isResident(offset: 8192, count: 100))
        // One page missing of three is enough to say no.
        #expect(!mapping.isResident(offset: 4096, count: 8192))
        #expect(mapping.bytes(offset: 8192, count: 1)[0] == 7)
        // Past the mapping's end: never resident.
        #expect(!mapping.isResident(offset: UInt64(length), count: 10))
    }

    @Test func smallResidentChunkIsStillVerified() async throws {
        try await withTemporaryStore { store, directory in
            try await store.createBucket("bkt")
            let bytes = testBytes(4096, seed: 11)
            try await store.put("bkt", "small", bytes)
            #expect(try await store.bytes("bkt", "small") == bytes)
            #expect(try await store.getObject(bucket: "bkt", key: "small").body.inliningSmallResidentChunks().collect() == bytes)
            let extent = try store.read { txn in
                try store.index.blob(txn, try store.index.object(txn, bucket: "bkt", key: "small")!.blobID)!.extents[0]
            }
            let pin = try store.blobs.pin(extent.segmentID)
            #expect(pin.isResident(offsetBytes: extent.offsetBytes, count: 4096))
            // Flip a byte through the file: the page stays in the page cache (resident), so
            // the GET takes the inline path, and must still refuse the bytes.
            try flipByte(directory, segment: extent.segmentID, at: extent.offsetBytes + 100, mask: 0x80)
            #expect(pin.isResident(offsetBytes: extent.offsetBytes, count: 4096))
            let inline = try store.getObject(bucket: "bkt", key: "small").body.inliningSmallResidentChunks()
            #expect(inline.inlinesSmallResidentChunks)
            await expectStoreError(.integrity) { _ = try await inline.collect() }
            await expectStoreError(.integrity) { _ = try await store.bytes("bkt", "small") }
            // The one-write answer of a small GET checks the same bytes the same way.
            await expectStoreError(.integrity) { _ = try store.getObject(bucket: "bkt", key: "small").body.residentSmallBytes() }
        }
    }

    /// `residentSmallBytes`: a whole small body in one run of verified bytes, or nil when
    /// the body must be streamed (more than one chunk, or a chunk over 64 KiB).
    @Test func residentSmallBytesOnlyForOneSmallChunk() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            let small = testBytes(4096, seed: 12)
            try await store.put("bkt", "small", small)
            let loaded = try #require(try store.getObject(bucket: "bkt", key: "small").body.residentSmallBytes())
            #expect(loaded.withUnsafeBytes { Array($0) } == small)
            // A range of it: only the slice asked for.
            let ranged = try store.getObject(bucket: "bkt", key: "small", range: .from(first: 100, last: 199))
            #expect(try ranged.body.residentSmallBytes()?.withUnsafeBytes { Array($0) } == Array(small[100...199]))
            try await store.put("bkt", "empty", [])
            #expect(try store.getObject(bucket: "bkt", key: "empty").body.residentSmallBytes()?.count == 0)
            // Over 64 KiB in one chunk, and two chunks: streamed.
            try await store.put("bkt", "medium", testBytes(100 << 10, seed: 13))
            #expect(try store.getObject(bucket: "bkt", key: "medium").body.residentSmallBytes() == nil)
            try await store.put("bkt", "large", testBytes(3 << 20 / 2, seed: 14))
            #expect(try store.getObject(bucket: "bkt", key: "large").body.residentSmallBytes() == nil)
        }
    }
}
