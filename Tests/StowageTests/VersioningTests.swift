import Testing
@testable import Stowage

/// The engine's versioning, Object Lock and lifecycle on a real data directory — and, in
/// `make test`, again over the optimistic index that re-runs mutations (version ids and
/// delete-marker ids are drawn before the mutation, so a re-run writes the same ones).
@Suite struct VersioningTests {
    @Test func historyKeepsEveryVersionAndFsckCountsItsReferences() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            try await store.put("bkt", "k", [0])   // the null version
            try await store.setBucketVersioning("bkt", enabled: true)
            var ids: [String] = []
            for n in 1...3 { ids.append(try await store.put("bkt", "k", testBytes(1000 * n)).versionID!) }
            // A copy shares the blob of a noncurrent version: one more reference.
            var copy = CopyRequest(sourceBucket: "bkt", sourceKey: "k", bucket: "bkt", key: "c")
            copy.sourceVersionID = ids[0]
            let copied = try await store.copyObject(copy)
            #expect(copied.sourceVersionID == ids[0] && copied.object.versionID != nil)
            let marker = try await store.deleteObject(bucket: "bkt", key: "k")
            #expect(marker.isDeleteMarker && marker.versionID != nil)
            await expectStoreError(.noSuchKey) { _ = try store.headObject(bucket: "bkt", key: "k") }
            for (n, id) in ids.enumerated() {
                #expect(try store.headObject(bucket: "bkt", key: "k", versionID: id).size == UInt64(1000 * (n + 1)))
            }
            #expect(try store.headObject(bucket: "bkt", key: "k", versionID: "null").size == 1)
            let listed = try store.listObjectVersions(bucket: "bkt", prefix: "k")
            #expect(listed.versions.map { $0.info.versionID } == [marker.versionID] + ids.reversed() + ["null"])
            #expect(listed.versions.map(\.isLatest) == [true, false, false, false, false])
            var report = try await store.verify()
            #expect(report.isClean, "\(report.findings)")
            #expect(report.statistics.noncurrentVersions == 4 && report.statistics.deleteMarkers == 1)
            // Deleting versions for good releases their bytes; the last one brings nothing back.
            for id in ids + ["null", marker.versionID!] { try await store.deleteObject(bucket: "bkt", key: "k", versionID: id) }
            #expect(try store.listObjectVersions(bucket: "bkt", prefix: "k").versions.isEmpty)
            report = try await store.verify()
            #expect(report.isClean, "\(report.findings)")
            #expect(try store.headObject(bucket: "bkt", key: "c").size == 1000, "the copy keeps the shared blob")
        }
    }

    @Test func renameIsRefusedOnceVersioningWasOn() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            try await store.put("bkt", "a", [1])
            try await store.setBucketVersioning("bkt", enabled: false)   // Suspended counts
            await expectStoreError(.notImplemented) {
                try await store.renameObject(RenameRequest(bucket: "bkt", source: "a", destination: "b"))
            }
            #expect(try store.headObject(bucket: "bkt", key: "a").size == 1)
        }
    }

    @Test func objectLockGuardsEveryPermanentDeletion() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("worm", objectLock: true)
            try await store.setObjectLockConfiguration("worm", defaultRetention: DefaultRetention(mode: .compliance, period: 1, inYears: false))
            let first = try await store.put("worm", "k", [1]).versionID!
            _ = try await store.put("worm", "k", [2])
            await expectStoreError(.accessDenied) {
                _ = try await store.deleteObject(bucket: "worm", key: "k", versionID: first, bypassGovernance: true)
            }
            // Lifecycle meets the same guard: the noncurrent version is past a 1 ms "day".
            try await store.setLifecycleConfiguration("worm", rules: [LifecycleRule(id: "all", noncurrentDays: 1)])
            let report = try await store.applyLifecycle(now: ObjectStore.nowMilliseconds() + 10, dayMilliseconds: 1)
            #expect(report.lockedVersionsKept == 1 && report.expiredNoncurrentVersions == 0)
            #expect(try store.headObject(bucket: "worm", key: "k", versionID: first).size == 1)
            await expectStoreError(.invalidBucketState) { try await store.setBucketVersioning("worm", enabled: false) }
        }
    }

    @Test func lifecycleExpiresByPrefixAndAbortsOldUploads() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            for key in ["tmp/a", "tmp/b", "keep/c"] { try await store.put("bkt", key, [1]) }
            let upload = try await store.createMultipartUpload(bucket: "bkt", key: "tmp/u")
            try await store.setLifecycleConfiguration("bkt", rules: [
                LifecycleRule(id: "tmp", prefix: "tmp/", expirationDays: 1, abortIncompleteUploadDays: 1)])
            let now = ObjectStore.nowMilliseconds()
            #expect(try await store.applyLifecycle(now: now, dayMilliseconds: 60_000).total == 0, "younger than a day")
            let report = try await store.applyLifecycle(now: now + 120_000, dayMilliseconds: 60_000)
            #expect(report.expiredObjects == 2 && report.abortedUploads == 1)
            #expect(try store.listObjects(bucket: "bkt").objects.map(\.key) == ["keep/c"])
            await expectStoreError(.noSuchUpload) { _ = try store.listParts(bucket: "bkt", key: "tmp/u", uploadID: upload) }
            #expect(try store.stats().lifecycleExpiredObjects == 2)
        }
    }
}
