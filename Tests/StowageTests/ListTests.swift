import Testing
@testable import Stowage

@Suite struct ListTests {
    static let keys = ["a", "a/1", "a/2", "a/b/1", "b", "b/1", "c d", "z", "é", "~"]

    func populated(_ body: (ObjectStore) async throws -> Void) async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            for key in Self.keys.shuffled() { try await store.put("bkt", key, Array(key.utf8)) }
            try await body(store)
        }
    }

    /// Raw byte order: "~" (0x7E) before "é" (0xC3 0xA9), unlike Swift's String order.
    @Test func rawByteOrder() async throws {
        try await populated { store in
            let listed = try store.keys("bkt")
            #expect(listed == Self.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
            #expect(listed.last == "é")
        }
    }

    @Test func prefixAndDelimiter() async throws {
        try await populated { store in
            let top = try store.listObjects(bucket: "bkt", delimiter: "/")
            #expect(top.objects.map(\.key) == ["a", "b", "c d", "z", "~", "é"])
            #expect(top.commonPrefixes == ["a/", "b/"])
            let inA = try store.listObjects(bucket: "bkt", prefix: "a/", delimiter: "/")
            #expect(inA.objects.map(\.key) == ["a/1", "a/2"])
            #expect(inA.commonPrefixes == ["a/b/"])
            #expect(try store.keys("bkt", prefix: "a/") == ["a/1", "a/2", "a/b/1"])
            #expect(try store.keys("bkt", prefix: "nothing").isEmpty)
        }
    }

    /// Paging with max-keys and start-after visits every entry exactly once, common
    /// prefixes included, for every page size.
    @Test(arguments: [1, 2, 3, 5, 1000])
    func pagination(pageSize: Int) async throws {
        try await populated { store in
            var seen: [String] = []
            var marker: String?
            var pages = 0
            repeat {
                let page = try store.listObjects(bucket: "bkt", delimiter: "/", startAfter: marker, maxKeys: pageSize)
                #expect(page.objects.count + page.commonPrefixes.count <= pageSize)
                seen += page.objects.map(\.key) + page.commonPrefixes
                marker = page.isTruncated ? page.nextMarker : nil
                pages += 1
            } while marker != nil && pages < 100
            #expect(seen.sorted() == ["a", "a/", "b", "b/", "c d", "z", "~", "é"].sorted())
            #expect(Set(seen).count == seen.count)
        }
    }

    @Test func startAfterAndMaxKeysLimit() async throws {
        try await populated { store in
            #expect(try store.listObjects(bucket: "bkt", startAfter: "b").objects.map(\.key) == ["b/1", "c d", "z", "~", "é"])
            let capped = try store.listObjects(bucket: "bkt", maxKeys: 5000)
            #expect(capped.objects.count == Self.keys.count)
            #expect(!capped.isTruncated)
            await expectStoreError(.noSuchBucket) { _ = try store.listObjects(bucket: "nope") }
        }
    }
}

/// Keys longer than LMDB's 511-byte key limit (S3 allows 1024): stored, read, renamed,
/// deleted and listed in raw byte order among short keys with the same prefix.
@Suite struct LongKeyTests {
    @Test func longKeysKeepByteOrder() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            let stem = String(repeating: "p", count: 506)   // bkt\0 + 506 = 510 bytes: the longest short key
            let keys = [stem, stem + "a", stem + "b" + String(repeating: "z", count: 500), stem + "ab",
                        String(repeating: "p", count: 505), stem + "\u{0}", String(repeating: "q", count: 1024)]
            for key in keys.shuffled() { try await store.put("bkt", key, Array(key.utf8.suffix(4))) }
            let sorted = keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
            #expect(try store.keys("bkt") == sorted)
            for key in keys { #expect(try await store.bytes("bkt", key) == Array(key.utf8.suffix(4))) }
            // Paging one key at a time crosses the group slot correctly.
            var marker: String?
            var paged: [String] = []
            repeat {
                let page = try store.listObjects(bucket: "bkt", startAfter: marker, maxKeys: 1)
                paged += page.objects.map(\.key)
                marker = page.isTruncated ? page.nextMarker : nil
            } while marker != nil
            #expect(paged == sorted)
            try await store.renameObject(RenameRequest(bucket: "bkt", source: stem + "ab", destination: stem + "ac"))
            try await store.deleteObject(bucket: "bkt", key: stem + "a")
            #expect(try store.keys("bkt", prefix: stem) == [stem, stem + "\u{0}", stem + "ac", stem + "b" + String(repeating: "z", count: 500)])
            await expectStoreError(.noSuchKey) { _ = try store.headObject(bucket: "bkt", key: stem + "ab") }
        }
    }
}

extension LongKeyTests {
    /// Common prefixes inside a long-key group slot are reported once, with or without
    /// start-after (the cursor cannot seek past them, so the page must skip them itself).
    @Test func delimiterInsideLongKeys() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            let stem = String(repeating: "p", count: 506)
            for key in [stem + "a/x", stem + "a/y", stem + "b/z", stem + "c"] { try await store.put("bkt", key, [1]) }
            let page = try store.listObjects(bucket: "bkt", delimiter: "/")
            #expect(page.commonPrefixes == [stem + "a/", stem + "b/"])
            #expect(page.objects.map(\.key) == [stem + "c"])
            let after = try store.listObjects(bucket: "bkt", delimiter: "/", startAfter: stem + "a/")
            #expect(after.commonPrefixes == [stem + "b/"])
        }
    }
}

extension ObjectTests {
    /// A range whose end is the largest number HTTP can carry serves to the object's end.
    @Test func rangeEndAtUInt64Max() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            try await store.put("bkt", "k", [1, 2, 3])
            #expect(try await store.bytes("bkt", "k", range: .from(first: 1, last: .max)) == [2, 3])
        }
    }

    @Test func closeIsIdempotent() async throws {
        try await withTemporaryStore(durability: .relaxed) { store, _ in
            try await store.createBucket("bkt")
            store.close()
            store.close()
            await expectStoreError(.closed) { try await store.createBucket("other") }
            await expectStoreError(.closed) { _ = try store.listBuckets() }
        }
    }
}

extension RenameTests {
    /// Keys are bytes: "é" as one scalar and as e + combining accent are different keys.
    @Test func canonicallyEquivalentKeysAreDistinct() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            try await store.put("bkt", "e\u{301}", [1])
            try await store.renameObject(RenameRequest(bucket: "bkt", source: "e\u{301}", destination: "\u{e9}"))
            #expect(try store.keys("bkt").map { Array($0.utf8) } == [Array("\u{e9}".utf8)])
        }
    }
}
