import Foundation
import Testing
@testable import Stowage

/// Atomic prefix rename (`ObjectStore.renamePrefix`, docs/ARCHITECTURE.md "Prefix rename"):
/// all keys move in one transaction or none do (I2, I8), metadata only (I1).
@Suite struct PrefixRenameTests {
    /// Every key under `prefix`, page after page.
    static func allKeys(_ store: ObjectStore, _ bucket: String = "bkt", prefix: String = "") throws -> [String] {
        var keys: [String] = []
        var after: String?
        repeat {
            let page = try store.listObjects(bucket: bucket, prefix: prefix, startAfter: after)
            keys += page.objects.map(\.key)
            after = page.isTruncated ? page.nextMarker : nil
        } while after != nil
        return keys
    }

    /// Segment accounting and blob count: what a metadata-only operation must leave alone.
    static func space(_ store: ObjectStore) throws -> (segments: [UInt64: [UInt64]], blobs: Int) {
        try store.read { txn in
            let segments = try store.index.allSegments(txn)
            return (Dictionary(uniqueKeysWithValues: segments.map { ($0.0, [$0.1.liveBytes, $0.1.deadBytes, $0.1.highWaterBytes]) }),
                    try txn.count(store.index.blobs))
        }
    }

    /// `count` zero-byte objects named `name(i)`, written straight into the index in one
    /// transaction (fast enough for the limit's edge).
    static func seed(_ store: ObjectStore, count: Int, _ name: @escaping @Sendable (Int) -> String) async throws {
        try await store.mutate { [index = store.index] txn in
            let record = ObjectRecord(blobID: 0, size: 0, etag: "d41d8cd98f00b204e9800998ecf8427e",
                                      lastModifiedMilliseconds: 1_700_000_000_000, partCount: 0, attributes: ObjectAttributes())
            for i in 0..<count { try index.putObject(txn, bucket: "bkt", key: name(i), record) }
        }
    }

    static func seven(_ i: Int) -> String { String(repeating: "0", count: max(0, 5 - String(i).count)) + String(i) }

    // MARK: Correctness

    /// 10,000 keys: each at its new name with its bytes and every attribute (Last-Modified
    /// too), nothing left under the old prefix, neighbours untouched, no byte of space moved.
    @Test func tenThousandKeysMove() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            let count = 10_000
            let neighbours = ["tmp/step-1000", "tmp/step-10000/x", "tmp/step-0999/x", "final/step-1000x"]
            for key in neighbours { try await store.put("bkt", key, Array(key.utf8)) }
            var before: [String: ObjectInfo] = [:]
            for start in stride(from: 0, to: count, by: 100) {
                let infos = try await withThrowingTaskGroup(of: ObjectInfo.self) { group in
                    for i in start..<start + 100 {
                        group.addTask {
                            let attributes = ObjectAttributes(contentType: "application/x-shard-\(i % 7)",
                                                              userMetadata: [("shard", "\(i)")],
                                                              storageClass: i % 2 == 0 ? "STANDARD_IA" : nil,
                                                              checksums: [("CRC32", "AAAA\(i % 10)w==")])
                            return try await store.put("bkt", "tmp/step-1000/shard-\(Self.seven(i))", testBytes(i % 300, seed: UInt64(i + 1)),
                                                       attributes: attributes)
                        }
                    }
                    return try await group.reduce(into: [ObjectInfo]()) { $0.append($1) }
                }
                for info in infos { before[info.key] = info }
            }
            let spaceBefore = try Self.space(store)

            let outcome = try await store.renamePrefix(PrefixRenameRequest(bucket: "bkt", sourcePrefix: "tmp/step-1000/",
                                                                           destinationPrefix: "final/step-1000/"))

            #expect(outcome == PrefixRenameOutcome(moved: count, replaced: 0))
            #expect(try Self.allKeys(store, prefix: "tmp/step-1000/").isEmpty)
            let moved = try Self.allKeys(store, prefix: "final/step-1000/")
            #expect(moved == (0..<count).map { "final/step-1000/shard-\(Self.seven($0))" })
            for i in 0..<count {
                let old = "tmp/step-1000/shard-\(Self.seven(i))", new = "final/step-1000/shard-\(Self.seven(i))"
                var info = try store.headObject(bucket: "bkt", key: new)
                info.key = old
                #expect(info == before[old], "\(new)")
                #expect(try await store.bytes("bkt", new) == testBytes(i % 300, seed: UInt64(i + 1)), "\(new)")
            }
            for key in neighbours { #expect(try await store.bytes("bkt", key) == Array(key.utf8), "\(key)") }
            let spaceAfter = try Self.space(store)
            #expect(spaceAfter.segments == spaceBefore.segments, "I1: no segment accounting changes")
            #expect(spaceAfter.blobs == spaceBefore.blobs)
        }
    }

    /// Keys longer than an LMDB key live in group slots: they move with the rest, including
    /// out of a slot shared with a key that stays, and into one shared with a key that was there.
    @Test func longKeysMove() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            let long = String(repeating: "l", count: 600)
            let deep = String(repeating: "d", count: 520)
            var expected: [String: [UInt8]] = [:]
            for i in 0..<40 {
                let key = "src/\(long)-\(i)"
                try await store.put("bkt", key, [UInt8(i)])
                expected["dst/\(long)-\(i)"] = [UInt8(i)]
            }
            try await store.put("bkt", "src/short", [200])
            expected["dst/short"] = [200]
            // Group slot shared by a mover (deep/a/…) and a stayer (deep/b/…).
            try await store.put("bkt", "\(deep)/a/x", [201])
            try await store.put("bkt", "\(deep)/b/y", [202])
            // A long key already in the group slot the movers of `toLong` land in.
            try await store.put("bkt", "\(long)/z-existing", [203])
            try await store.put("bkt", "s/1", [204])
            try await store.put("bkt", "s/2", [205])

            #expect(try await store.renamePrefix(PrefixRenameRequest(bucket: "bkt", sourcePrefix: "src/", destinationPrefix: "dst/")).moved == 41)
            #expect(try await store.renamePrefix(PrefixRenameRequest(bucket: "bkt", sourcePrefix: "\(deep)/a/", destinationPrefix: "e/")).moved == 1)
            #expect(try await store.renamePrefix(PrefixRenameRequest(bucket: "bkt", sourcePrefix: "s/", destinationPrefix: "\(long)/")).moved == 2)

            for (key, bytes) in expected { #expect(try await store.bytes("bkt", key) == bytes) }
            #expect(try Self.allKeys(store, prefix: "src/").isEmpty)
            #expect(try await store.bytes("bkt", "e/x") == [201])
            #expect(try Self.allKeys(store, prefix: deep) == ["\(deep)/b/y"])
            #expect(try Self.allKeys(store, prefix: "\(long)/") == ["\(long)/1", "\(long)/2", "\(long)/z-existing"])
            #expect(try await store.bytes("bkt", "\(long)/2") == [205])
            let all = try Self.allKeys(store)
            #expect(all == all.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }, "listing stays in byte order")
            #expect(all.count == 46, "41 moved, e/x, the stayer, z-existing and two more")
        }
    }

    /// I2: while one task moves 300 keys back and forth between two prefixes, listings in
    /// other tasks always see all 300 under exactly one of them.
    @Test func atomicUnderConcurrentReaders() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            let count = 300
            for i in 0..<count { try await store.put("bkt", "a/\(Self.seven(i))", [UInt8(i % 256)]) }
            try await store.put("bkt", "z-stays", [1])
            let left = (0..<count).map { "a/\(Self.seven($0))" } + ["z-stays"]
            let right = (0..<count).map { "b/\(Self.seven($0))" } + ["z-stays"]
            let moves = 60
            let stop = ManagedAtomicFlag()
            async let mover: Void = {
                defer { stop.set() }
                for round in 0..<moves {
                    let (from, to) = round % 2 == 0 ? ("a/", "b/") : ("b/", "a/")
                    let outcome = try await store.renamePrefix(PrefixRenameRequest(bucket: "bkt", sourcePrefix: from,
                                                                                   destinationPrefix: to, expectedCount: count))
                    #expect(outcome.moved == count)
                }
            }()
            let observations = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
                for _ in 0..<3 {
                    group.addTask {
                        var seen = (left: 0, right: 0)
                        while !stop.isSet {
                            let keys = try store.listObjects(bucket: "bkt").objects.map(\.key)
                            if keys == left { seen.left += 1 } else if keys == right { seen.right += 1 } else {
                                Issue.record("mixed state: \(keys.count) keys, first \(keys.first ?? "-"), last-but-one \(keys.dropLast().last ?? "-")")
                                return (seen.left, seen.right)
                            }
                            await Task.yield()
                        }
                        return (seen.left, seen.right)
                    }
                }
                return try await group.reduce((0, 0)) { ($0.0 + $1.0, $0.1 + $1.1) }
            }
            try await mover
            #expect(observations.0 > 0 && observations.1 > 0, "readers saw both states: \(observations)")
            #expect(try Self.allKeys(store) == left, "an even number of moves ends where it began")
        }
    }

    // MARK: Conflicts, guards and the limit (each failure moves nothing: I8)

    /// By default an existing destination key fails the whole rename; with `overwrite` it
    /// is replaced and its blob released (I7).
    @Test func destinationConflict() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            for i in 0..<5 { try await store.put("bkt", "new/\(i)", testBytes(1000, seed: UInt64(i + 1))) }
            try await store.put("bkt", "old/3", testBytes(4000, seed: 99))
            try await store.put("bkt", "old/extra", [7])
            let request = PrefixRenameRequest(bucket: "bkt", sourcePrefix: "new/", destinationPrefix: "old/")

            await expectStoreError(.preconditionFailed, condition: "Overwrite") { try await store.renamePrefix(request) }
            #expect(try Self.allKeys(store) == ["new/0", "new/1", "new/2", "new/3", "new/4", "old/3", "old/extra"])
            #expect(try await store.bytes("bkt", "old/3") == testBytes(4000, seed: 99))

            var overwrite = request
            overwrite.overwrite = true
            #expect(try await store.renamePrefix(overwrite) == PrefixRenameOutcome(moved: 5, replaced: 1))
            #expect(try Self.allKeys(store) == ["old/0", "old/1", "old/2", "old/3", "old/4", "old/extra"])
            #expect(try await store.bytes("bkt", "old/3") == testBytes(1000, seed: 4))
            let live = try store.read { txn in try store.index.allSegments(txn).reduce(0) { $0 + $1.1.liveBytes } }
            #expect(live == 5 * 1000 + 1, "the replaced 4000 bytes are dead")
        }
    }

    @Test func expectedCountGuard() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            for i in 0..<3 { try await store.put("bkt", "from/\(i)", [UInt8(i)]) }
            for wrong in [2, 4, 0] {
                await expectStoreError(.preconditionFailed, condition: "ExpectedCount") {
                    try await store.renamePrefix(PrefixRenameRequest(bucket: "bkt", sourcePrefix: "from/", destinationPrefix: "to/",
                                                                     expectedCount: wrong))
                }
            }
            #expect(try Self.allKeys(store) == ["from/0", "from/1", "from/2"])
            #expect(try await store.renamePrefix(PrefixRenameRequest(bucket: "bkt", sourcePrefix: "from/", destinationPrefix: "to/",
                                                                     expectedCount: 3)).moved == 3)
            #expect(try Self.allKeys(store) == ["to/0", "to/1", "to/2"])
        }
    }

    struct ManifestRow: Sendable, CustomTestStringConvertible {
        let name: String
        /// From the true manifest (from/0, from/1, from/2 with their ETags) to the one sent.
        let change: @Sendable ([PrefixManifestEntry]) -> [PrefixManifestEntry]
        var testDescription: String { name }
    }

    static let manifestMismatches: [ManifestRow] = [
        ManifestRow(name: "a key missing from the manifest") { Array($0.dropLast()) },
        ManifestRow(name: "a key the prefix does not hold") { $0 + [PrefixManifestEntry(key: "from/9", etag: $0[0].etag)] },
        ManifestRow(name: "a replaced key (other ETag)") { m in m.map { $0.key == "from/1" ? PrefixManifestEntry(key: $0.key, etag: m[0].etag) : $0 } },
        ManifestRow(name: "first key swapped for an absent one") { m in [PrefixManifestEntry(key: "from/", etag: m[0].etag)] + m.dropFirst() },
        ManifestRow(name: "empty") { _ in [] },
    ]

    /// A manifest must name exactly the keys under the prefix with their ETags.
    @Test(arguments: manifestMismatches)
    func manifestMismatch(row: ManifestRow) async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            var manifest: [PrefixManifestEntry] = []
            for i in 0..<3 { manifest.append(PrefixManifestEntry(key: "from/\(i)", etag: try await store.put("bkt", "from/\(i)", [UInt8(i)]).etag)) }
            await expectStoreError(.preconditionFailed, condition: "Manifest") {
                try await store.renamePrefix(PrefixRenameRequest(bucket: "bkt", sourcePrefix: "from/", destinationPrefix: "to/",
                                                                 manifest: row.change(manifest)))
            }
            #expect(try Self.allKeys(store) == ["from/0", "from/1", "from/2"])
        }
    }

    /// A writer that adds a key after the caller took its manifest: the rename refuses.
    /// Then the manifest, in any order and with quoted ETags, matches and the rename runs.
    @Test func manifestGuardsAgainstARacingWriter() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            for i in 0..<3 { try await store.put("bkt", "from/\(i)", [UInt8(i)]) }
            let listed = try store.listObjects(bucket: "bkt", prefix: "from/").objects
            let manifest = listed.reversed().map { PrefixManifestEntry(key: $0.key, etag: "\"\($0.etag)\"") }
            try await store.put("bkt", "from/late", [9])
            let request = PrefixRenameRequest(bucket: "bkt", sourcePrefix: "from/", destinationPrefix: "to/", manifest: manifest)
            await expectStoreError(.preconditionFailed, condition: "Manifest") { try await store.renamePrefix(request) }
            try await store.deleteObject(bucket: "bkt", key: "from/late")
            #expect(try await store.renamePrefix(request).moved == 3)
            #expect(try Self.allKeys(store) == ["to/0", "to/1", "to/2"])
        }
    }

    /// `Limits.maxPrefixRenameKeys` at its edge: one key more fails and moves nothing;
    /// exactly the limit moves in one transaction.
    @Test func keyLimitEdge() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            let limit = Limits.maxPrefixRenameKeys
            try await Self.seed(store, count: limit + 1) { "from/\(Self.seven($0))-\(String(repeating: "k", count: 40))" }
            try await store.put("bkt", "other", [1])
            let request = PrefixRenameRequest(bucket: "bkt", sourcePrefix: "from/", destinationPrefix: "to/")
            do throws(StoreError) {
                try await store.renamePrefix(request)
                Issue.record("a rename of \(limit + 1) keys succeeded")
            } catch {
                #expect(error.code == .invalidRequest)
                #expect(error.message.contains("\(limit)"), "\(error)")
            }
            #expect(try Self.allKeys(store, prefix: "to/").isEmpty)
            #expect(try Self.allKeys(store, prefix: "from/").count == limit + 1)

            try await store.deleteObject(bucket: "bkt", key: "from/\(Self.seven(0))-\(String(repeating: "k", count: 40))")
            #expect(try await store.renamePrefix(request) == PrefixRenameOutcome(moved: limit, replaced: 0))
            #expect(try Self.allKeys(store, prefix: "from/").isEmpty)
            let moved = try Self.allKeys(store, prefix: "to/")
            #expect(moved.count == limit)
            #expect(moved.first == "to/00001-\(String(repeating: "k", count: 40))")
            #expect(try store.keys("bkt", prefix: "other") == ["other"])
        }
    }

    struct ErrorRow: Sendable, CustomTestStringConvertible {
        let name: String
        let request: PrefixRenameRequest
        let code: StoreError.Code
        var testDescription: String { name }
    }

    static func request(_ source: String = "from/", _ destination: String = "to/", bucket: String = "bkt",
                        expectedCount: Int? = nil, manifest: [PrefixManifestEntry]? = nil) -> PrefixRenameRequest {
        PrefixRenameRequest(bucket: bucket, sourcePrefix: source, destinationPrefix: destination,
                            expectedCount: expectedCount, manifest: manifest)
    }

    static let errorRows: [ErrorRow] = [
        ErrorRow(name: "empty source prefix", request: request("", "to/"), code: .invalidArgument),
        ErrorRow(name: "empty destination prefix", request: request("from/", ""), code: .invalidArgument),
        ErrorRow(name: "same prefix", request: request("from/", "from/"), code: .invalidRequest),
        ErrorRow(name: "destination inside source", request: request("from/", "from/sub/"), code: .invalidRequest),
        ErrorRow(name: "source inside destination", request: request("from/sub/", "from/"), code: .invalidRequest),
        ErrorRow(name: "source prefix over 1024 bytes", request: request(String(repeating: "s", count: 1025), "to/"), code: .keyTooLong),
        ErrorRow(name: "destination prefix over 1024 bytes", request: request("from/", String(repeating: "d", count: 1025)), code: .keyTooLong),
        ErrorRow(name: "a moved key would pass 1024 bytes", request: request("from/", String(repeating: "d", count: 1024)), code: .keyTooLong),
        ErrorRow(name: "invalid bucket name", request: request(bucket: "B!"), code: .invalidBucketName),
        ErrorRow(name: "bucket missing", request: request(bucket: "nobucket"), code: .noSuchBucket),
        ErrorRow(name: "nothing under the source prefix", request: request("nothing/", "to/"), code: .noSuchKey),
        ErrorRow(name: "negative expected count", request: request(expectedCount: -1), code: .invalidArgument),
        ErrorRow(name: "manifest key outside the prefix", request: request(manifest: [PrefixManifestEntry(key: "elsewhere", etag: "x")]), code: .invalidArgument),
        ErrorRow(name: "manifest key listed twice", request: request(manifest: Array(repeating: PrefixManifestEntry(key: "from/a", etag: "x"), count: 2)), code: .invalidArgument),
        ErrorRow(name: "manifest over the limit",
                 request: request(manifest: (0...Limits.maxPrefixRenameKeys).map { PrefixManifestEntry(key: "from/\($0)", etag: "x") }),
                 code: .invalidRequest),
    ]

    @Test(arguments: errorRows)
    func errorRow(row: ErrorRow) async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            try await store.put("bkt", "from/a", [1])
            try await store.put("bkt", "from/b", [2])
            await expectStoreError(row.code) { try await store.renamePrefix(row.request) }
            #expect(try Self.allKeys(store) == ["from/a", "from/b"])
        }
    }

    /// A key ending in `/` (a "directory marker") moves like any other: the single-rename
    /// rule against such destinations is about naming one new key, not moving existing ones.
    @Test func directoryMarkersMove() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            try await store.put("bkt", "from/", [])
            try await store.put("bkt", "from/sub/", [])
            try await store.put("bkt", "from/sub/file", [3])
            #expect(try await store.renamePrefix(Self.request()).moved == 3)
            #expect(try Self.allKeys(store) == ["to/", "to/sub/", "to/sub/file"])
        }
    }
}
