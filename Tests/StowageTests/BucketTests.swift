import Testing
@testable import Stowage

@Suite struct BucketTests {
    @Test func createHeadListDelete() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("alpha")
            try await store.createBucket("beta.logs-1")
            #expect(try store.listBuckets().map(\.name) == ["alpha", "beta.logs-1"])
            #expect(try store.headBucket("alpha").name == "alpha")
            try await store.deleteBucket("alpha")
            #expect(try store.listBuckets().map(\.name) == ["beta.logs-1"])
            await expectStoreError(.noSuchBucket) { _ = try store.headBucket("alpha") }
        }
    }

    @Test func createTwiceIsAlreadyOwned() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("alpha")
            await expectStoreError(.bucketAlreadyExists) { try await store.createBucket("alpha") }
        }
    }

    @Test func deleteNonEmptyIsRefused() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("alpha")
            try await store.put("alpha", "k", [1, 2, 3])
            await expectStoreError(.bucketNotEmpty) { try await store.deleteBucket("alpha") }
            try await store.deleteObject(bucket: "alpha", key: "k")
            try await store.deleteBucket("alpha")
            await expectStoreError(.noSuchBucket) { try await store.deleteBucket("alpha") }
        }
    }

    /// A bucket whose name is a prefix of another's must not see the other's keys.
    @Test func bucketsDoNotShareKeys() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("abc")
            try await store.createBucket("abcd")
            try await store.put("abcd", "x", [1])
            #expect(try store.keys("abc").isEmpty)
            try await store.deleteBucket("abc")
        }
    }

    /// S3's naming rules, one row per rule, at the edges of each limit (I8).
    @Test(arguments: [
        ("ab", false), ("abc", true), (String(repeating: "a", count: 63), true),
        (String(repeating: "a", count: 64), false), ("Abc", false), ("a_b", false),
        ("-abc", false), ("abc-", false), (".abc", false), ("a..b", false), ("a.b-c9", true),
        ("192.168.1.1", false), ("192.168.1.a", true), ("ab c", false), ("", false),
        ("192.168.1.256", true), ("1.2.3.4.5", true), ("ab.", false), ("a.b..", false), ("ab\u{e9}", false),
    ])
    func bucketNames(name: String, valid: Bool) async throws {
        try await withTemporaryStore { store, _ in
            if valid {
                try await store.createBucket(name)
                #expect(try store.headBucket(name).name == name)
            } else {
                await expectStoreError(.invalidBucketName) { try await store.createBucket(name) }
                #expect(try store.listBuckets().isEmpty)
            }
        }
    }
}
