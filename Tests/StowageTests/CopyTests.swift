import Testing
@testable import Stowage

/// CopyObject: a new key on the same blob; S3-SEMANTICS.md's copy-source condition row.
@Suite struct CopyTests {
    @Test func copyIsMetadataOnly() async throws {
        try await withTemporaryStore { store, directory in
            try await store.createBucket("bkt")
            try await store.createBucket("other")
            let body = testBytes(500_000)
            let source = try await store.put("bkt", "src", body, attributes: ObjectAttributes(contentType: "a/b", userMetadata: [("m", "1")]))
            let before = try segmentSnapshot(directory)
            let copy = try await store.copyObject(CopyRequest(sourceBucket: "bkt", sourceKey: "src", bucket: "other", key: "dst")).object
            #expect(try segmentSnapshot(directory) == before, "CopyObject wrote no segment byte")
            #expect(copy.etag == source.etag)
            #expect(copy.attributes == source.attributes)
            let replaced = try await store.copyObject(CopyRequest(sourceBucket: "bkt", sourceKey: "src", bucket: "bkt", key: "r",
                                                                  directive: .replace, attributes: ObjectAttributes(contentType: "c/d"))).object
            #expect(replaced.attributes.contentType == "c/d")
            #expect(replaced.attributes.userMetadata.isEmpty)
            // Deleting either copy leaves the others; space goes with the last reference.
            try await store.deleteObject(bucket: "bkt", key: "src")
            #expect(try await store.bytes("other", "dst") == body)
            #expect(try liveBytes(store) == 500_000)
            try await store.deleteObject(bucket: "other", key: "dst")
            #expect(try await store.bytes("bkt", "r") == body)
            try await store.deleteObject(bucket: "bkt", key: "r")
            #expect(try liveBytes(store) == 0)
        }
    }

    @Test func copyErrors() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            let source = try await store.put("bkt", "src", [1, 2])
            try await store.put("bkt", "dst", [9])
            await expectStoreError(.noSuchKey) {
                _ = try await store.copyObject(CopyRequest(sourceBucket: "bkt", sourceKey: "nope", bucket: "bkt", key: "x"))
            }
            await expectStoreError(.invalidRequest) {
                _ = try await store.copyObject(CopyRequest(sourceBucket: "bkt", sourceKey: "src", bucket: "bkt", key: "src"))
            }
            await expectStoreError(.preconditionFailed, condition: "If-None-Match") {
                _ = try await store.copyObject(CopyRequest(sourceBucket: "bkt", sourceKey: "src", bucket: "bkt", key: "dst",
                                                           conditions: WriteConditions(ifNoneMatch: .any)))
            }
            await expectStoreError(.noSuchBucket) {
                _ = try await store.copyObject(CopyRequest(sourceBucket: "bkt", sourceKey: "src", bucket: "nobucket", key: "x"))
            }
            #expect(try await store.bytes("bkt", "dst") == [9])
            _ = source
        }
    }

    static let past: Int64 = 1_000_000_000, future: Int64 = 4_000_000_000

    /// "copy-source-if-match true + if-unmodified-since false → the copy proceeds;
    /// if-none-match false + if-modified-since true → 412"; failures are never 304.
    @Test func copySourceConditions() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            let source = try await store.put("bkt", "src", [1])
            let rows: [(ObjectConditions, String?)] = [
                (ObjectConditions(ifMatch: .etags([source.etag]), ifUnmodifiedSince: Self.past), nil),
                (ObjectConditions(ifMatch: .etags(["x"])), "x-amz-copy-source-If-Match"),
                (ObjectConditions(ifUnmodifiedSince: Self.past), "x-amz-copy-source-If-Unmodified-Since"),
                (ObjectConditions(ifNoneMatch: .etags([source.etag]), ifModifiedSince: Self.past), "x-amz-copy-source-If-None-Match"),
                (ObjectConditions(ifModifiedSince: Self.future), "x-amz-copy-source-If-Modified-Since"),
                (ObjectConditions(ifNoneMatch: .etags(["x"]), ifModifiedSince: Self.future), nil),
            ]
            for (conditions, failure) in rows {
                let request = CopyRequest(sourceBucket: "bkt", sourceKey: "src", bucket: "bkt", key: "dst", sourceConditions: conditions)
                if let failure {
                    await expectStoreError(.preconditionFailed, condition: failure) { _ = try await store.copyObject(request) }
                } else {
                    _ = try await store.copyObject(request)
                }
            }
        }
    }

    /// Refcounts stay exact across copy, rename, overwrite and delete in any order: a
    /// randomized run against a model of what should exist.
    @Test func randomizedReferenceCounting() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            var model: [String: [UInt8]] = [:]
            var generator = SystemRandomNumberGenerator()
            let keys = (0..<6).map { "k\($0)" }
            for step in 0..<400 {
                let a = keys.randomElement(using: &generator)!, b = keys.randomElement(using: &generator)!
                switch Int.random(in: 0..<4, using: &generator) {
                case 0:
                    let body = testBytes(Int.random(in: 1...3000, using: &generator), seed: UInt64(step))
                    try await store.put("bkt", a, body)
                    model[a] = body
                case 1 where model[a] != nil && a != b:
                    _ = try await store.copyObject(CopyRequest(sourceBucket: "bkt", sourceKey: a, bucket: "bkt", key: b))
                    model[b] = model[a]
                case 2 where model[a] != nil && a != b:
                    try await store.renameObject(RenameRequest(bucket: "bkt", source: a, destination: b))
                    model[b] = model[a]
                    model[a] = nil
                default:
                    try await store.deleteObject(bucket: "bkt", key: a)
                    model[a] = nil
                }
            }
            #expect(try store.keys("bkt") == model.keys.sorted())
            for (key, body) in model { #expect(try await store.bytes("bkt", key) == body) }
            let expectedLive = try store.read { txn -> UInt64 in
                var blobs = Set<UInt64>()
                var total: UInt64 = 0
                for key in model.keys {
                    let record = try store.index.object(txn, bucket: "bkt", key: key)!
                    if blobs.insert(record.blobID).inserted { total += record.size }
                    let blob = try store.index.blob(txn, record.blobID)!
                    #expect(blob.referenceCount == UInt32(model.keys.filter {
                        (try? store.index.object(txn, bucket: "bkt", key: $0))??.blobID == record.blobID }.count))
                }
                return total
            }
            #expect(try liveBytes(store) == expectedLive)
        }
    }
}
