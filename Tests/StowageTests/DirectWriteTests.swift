import Foundation
import Glibc
import Testing
@testable import Stowage

/// Whole aligned chunks of 1 MiB or more go to the disk with O_DIRECT, the rest through
/// the page cache (`SegmentFile.write`); both read back the same through the mapping,
/// after a reopen too.
@Suite struct DirectWriteTests {
    @Test func onlyWholeAlignedLargeChunksQualify() {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 2 << 20, alignment: 4096)
        defer { buffer.deallocate() }
        let whole = UnsafeRawBufferPointer(rebasing: buffer[..<(1 << 20)])
        #expect(SegmentFile.mayWriteDirect(whole, at: 0))
        #expect(SegmentFile.mayWriteDirect(whole, at: 8192))
        #expect(!SegmentFile.mayWriteDirect(whole, at: 100))                                     // offset
        #expect(!SegmentFile.mayWriteDirect(UnsafeRawBufferPointer(rebasing: buffer[1..<(1 << 20) + 1]), at: 0))  // address
        #expect(!SegmentFile.mayWriteDirect(UnsafeRawBufferPointer(rebasing: buffer[..<((1 << 20) + 100)]), at: 0))  // length
        #expect(!SegmentFile.mayWriteDirect(UnsafeRawBufferPointer(rebasing: buffer[..<(512 << 10)]), at: 0))  // small
    }

    @Test func directAndBufferedWritesReadBackThroughTheMapping() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("stowage-direct-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = try SegmentFile.create(id: 1, directory: directory, capacityBytes: 4 << 20)
        let mapping = try file.mapped()
        // Read (zeros) before the write: the pages are cached, and must not be served stale.
        #expect(mapping.bytes(offset: 1 << 20, count: 1 << 20).allSatisfy { $0 == 0 })
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 4096)
        defer { chunk.deallocate() }
        for index in chunk.indices { chunk[index] = UInt8(truncatingIfNeeded: index &* 31 &+ 7) }
        try file.write(UnsafeRawBufferPointer(chunk), at: 1 << 20)
        #expect(file.writesDirect)
        let tail = testBytes(5000, seed: 3)
        try tail.withUnsafeBytes { try file.write($0, at: 2 << 20) }
        try file.sync()
        #expect(Array(mapping.bytes(offset: 1 << 20, count: 1 << 20)) == Array(UnsafeRawBufferPointer(chunk)))
        #expect(Array(mapping.bytes(offset: 2 << 20, count: tail.count)) == tail)
        let reopened = try SegmentFile.open(id: 1, directory: directory)
        var read = [UInt8](repeating: 0, count: 1 << 20)
        #expect(pread(reopened.fd, &read, read.count, off_t(1 << 20)) == read.count)
        #expect(read == Array(UnsafeRawBufferPointer(chunk)))
    }

    /// A 3.5 MiB object in 1 MiB chunks: three direct, the tail buffered; read back whole
    /// and by range, in strict mode, and again after the store is reopened.
    @Test func largeObjectRoundTrip() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("stowage-direct-store-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        defer { TestIndex.forget(directory) }
        let options = testOptions(.strict, 16 << 20, 1 << 20)
        let bytes = testBytes((3 << 20) + (512 << 10), seed: 41)
        do {
            let store = try openTestStore(directory, options)
            defer { store.close() }
            try await store.createBucket("bkt")
            try await store.put("bkt", "big", bytes)
            #expect(try await store.bytes("bkt", "big") == bytes)
            #expect(try await store.bytes("bkt", "big", range: .from(first: (1 << 20) - 10, last: (2 << 20) + 10))
                == Array(bytes[((1 << 20) - 10)...((2 << 20) + 10)]))
        }
        let store = try openTestStore(directory, options)
        defer { store.close() }
        #expect(try await store.bytes("bkt", "big") == bytes)
    }
}
