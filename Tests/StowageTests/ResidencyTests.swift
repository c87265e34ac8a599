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
        }
    }
}
