import Foundation
import Glibc
import Testing
@testable import Stowage

/// I4: every chunk served is checked against its XXH3; a mismatch is an error, never bytes.
@Suite struct IntegrityTests {
    @Test func flippedByteFailsOnlyThatObject() async throws {
        try await withTemporaryStore { store, directory in
            try await store.createBucket("bkt")
            let victim = testBytes(300_000, seed: 3)
            let bystander = testBytes(300_000, seed: 4)
            try await store.put("bkt", "victim", victim)
            try await store.put("bkt", "bystander", bystander)
            let extent = try store.read { txn in
                try store.index.blob(txn, try store.index.object(txn, bucket: "bkt", key: "victim")!.blobID)!.extents[0]
            }
            // Flip one byte in the second chunk of the victim, through the file (not the engine).
            try flipByte(directory, segment: extent.segmentID, at: extent.offsetBytes + 70_000)

            await expectStoreError(.integrity) { _ = try await store.bytes("bkt", "victim") }
            // A range inside an undamaged chunk still reads; one touching the damage does not.
            #expect(try await store.bytes("bkt", "victim", range: .from(first: 0, last: 999)) == Array(victim[0..<1000]))
            await expectStoreError(.integrity) { _ = try await store.bytes("bkt", "victim", range: .from(first: 70_000, last: 70_000)) }
            #expect(try await store.bytes("bkt", "bystander") == bystander)
        }
    }

    @Test func missingSegmentIsAnIntegrityError() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("stowage-missing-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            let store = try ObjectStore(directory: directory, options: testOptions())
            try await store.createBucket("bkt")
            try await store.put("bkt", "k", testBytes(1000))
            store.close()
        }
        try FileManager.default.removeItem(atPath: directory + "/segments/" + SegmentFile.fileName(1))
        let store = try ObjectStore(directory: directory, options: testOptions())
        defer { store.close() }
        await expectStoreError(.integrity) { _ = try store.getObject(bucket: "bkt", key: "k") }
        // Writes still work: they go to a new segment.
        try await store.put("bkt", "new", [1, 2])
        #expect(try await store.bytes("bkt", "new") == [1, 2])
    }

    @Test func truncatedSegmentIsNeverMappedPastItsEnd() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("stowage-trunc-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            let store = try ObjectStore(directory: directory, options: testOptions())
            try await store.createBucket("bkt")
            try await store.put("bkt", "k", testBytes(200_000))
            store.close()
        }
        #expect(truncate(directory + "/segments/" + SegmentFile.fileName(1), 100_000) == 0)
        let store = try ObjectStore(directory: directory, options: testOptions())
        defer { store.close() }
        await expectStoreError(.integrity) { _ = try store.getObject(bucket: "bkt", key: "k") }
    }
}
