import Foundation
import Testing
@testable import Stowage

/// Space reserved for uploads: an upload of announced size reserves that size, not a
/// whole reservation run, however many run at once (a race once made every small
/// concurrent upload reserve a full run and strand it: 1,000 parts of 4 KiB filled a disk).
@Suite struct ReservationTests {
    @Test func concurrentSmallUploadsReserveOnlyTheirSize() async throws {
        try await withTemporaryStore { store, directory in
            try await store.createBucket("bkt")
            let upload = try await store.createMultipartUpload(bucket: "bkt", key: "mp")
            try await withThrowingTaskGroup(of: Void.self) { group in
                for number in 1...300 {
                    group.addTask {
                        var request = PutRequest(bucket: "bkt", key: "mp")
                        request.part = PartTarget(uploadID: upload, partNumber: number)
                        _ = try await store.putObject(request, bytes: testBytes(4096, seed: UInt64(number)))
                    }
                    group.addTask { try await store.put("bkt", "small\(number)", testBytes(3000, seed: UInt64(number))) }
                }
                try await group.waitForAll()
            }
            let stats = try store.stats()
            #expect(stats.liveBytes == 300 * 4096 + 300 * 3000)
            #expect(stats.deadBytes == 0, "\(stats)")
            #expect(ExtentStore.segmentIDs(in: directory + "/segments").count == 1)
            #expect(try await store.bytes("bkt", "small7") == testBytes(3000, seed: 7))
        }
    }
}
