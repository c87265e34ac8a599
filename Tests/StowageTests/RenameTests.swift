import Foundation
import Synchronization
import StowageChecksums
import Testing
@testable import Stowage

/// S3-SEMANTICS.md, "RenameObject": the semantics, every error row, the evaluation order.
@Suite struct RenameTests {
    static let past: Int64 = 1_000_000_000
    static let future: Int64 = 4_000_000_000

    /// A bucket with `src` (3 bytes) and `dst` (2 bytes); passes their ETags.
    func withPair(_ body: (ObjectStore, _ source: ObjectInfo, _ destination: ObjectInfo) async throws -> Void) async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            let source = try await store.put("bkt", "src", [1, 2, 3])
            let destination = try await store.put("bkt", "dst", [4, 5])
            try await body(store, source, destination)
        }
    }

    @Test func renamePreservesEverything() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            let attributes = ObjectAttributes(contentType: "text/plain", contentEncoding: "gzip", contentDisposition: "inline",
                                              contentLanguage: "de", cacheControl: "max-age=1", expires: "0",
                                              userMetadata: [("a", "1")], storageClass: "GLACIER_IR",
                                              checksums: [("SHA256", "abc=")])
            let body = testBytes(150_000)
            let before = try await store.put("bkt", "tmp/step-1000/shard-0", body, attributes: attributes,
                                             encryption: .kms(keyID: KeyStore.defaultKeyID))
            #expect(before.attributes.serverSideEncryption == "aws:kms stowage-default")
            try await Task.sleep(for: .milliseconds(1100))
            try await store.renameObject(RenameRequest(bucket: "bkt", source: "tmp/step-1000/shard-0", destination: "final/step-1000/shard-0"))
            var after = try store.headObject(bucket: "bkt", key: "final/step-1000/shard-0")
            #expect(after.lastModifiedMilliseconds == before.lastModifiedMilliseconds, "Last-Modified is preserved")
            after.key = before.key
            #expect(after == before)
            #expect(try await store.bytes("bkt", "final/step-1000/shard-0") == body)
            await expectStoreError(.noSuchKey) { _ = try store.headObject(bucket: "bkt", key: "tmp/step-1000/shard-0") }
        }
    }

    @Test func renameOverwritesDestinationAndReleasesItsBytes() async throws {
        try await withPair { store, source, _ in
            try await store.renameObject(RenameRequest(bucket: "bkt", source: "src", destination: "dst"))
            #expect(try store.keys("bkt") == ["dst"])
            #expect(try store.headObject(bucket: "bkt", key: "dst").etag == source.etag)
            let live = try store.read { txn in try store.index.allSegments(txn).reduce(0) { $0 + $1.1.liveBytes } }
            #expect(live == 3, "I7: the overwritten destination's bytes are dead")
        }
    }

    /// The fallback key is tried only when the first is absent (the S3 layer's reading of
    /// a `<bucket>/key` header value; its decoding is tested in StowageS3Tests).
    @Test func fallbackSourceIsTriedWhenTheFirstIsAbsent() async throws {
        try await withPair { store, _, _ in
            try await store.renameObject(RenameRequest(bucket: "bkt", source: "bkt/src", fallbackSource: "src", destination: "new"))
            #expect(try store.keys("bkt") == ["dst", "new"])
            await expectStoreError(.noSuchKey) {
                try await store.renameObject(RenameRequest(bucket: "bkt", source: "bkt/gone", fallbackSource: "gone", destination: "x"))
            }
        }
    }

    /// A key that merely starts with `<bucket>/` is taken as the key when it exists.
    @Test func bucketPrefixedKeyWinsWhenItExists() async throws {
        try await withPair { store, _, _ in
            try await store.put("bkt", "bkt/src", [7])
            try await store.renameObject(RenameRequest(bucket: "bkt", source: "bkt/src", fallbackSource: "src", destination: "moved"))
            #expect(try await store.bytes("bkt", "moved") == [7])
            #expect(try store.keys("bkt") == ["dst", "moved", "src"])
        }
    }

    struct ErrorRow: Sendable, CustomTestStringConvertible {
        let name: String
        let request: @Sendable (_ sourceETag: String, _ destinationETag: String) -> RenameRequest
        let code: StoreError.Code
        var condition: String? = nil
        var testDescription: String { name }
    }

    static func request(source: String = "src", destination: String = "dst", bucket: String = "bkt",
                        destinationConditions: ObjectConditions = ObjectConditions(),
                        sourceConditions: ObjectConditions = ObjectConditions(), token: String? = nil) -> RenameRequest {
        RenameRequest(bucket: bucket, source: source, destination: destination,
                      destinationConditions: destinationConditions, sourceConditions: sourceConditions, clientToken: token)
    }

    static let errorRows: [ErrorRow] = [
        ErrorRow(name: "source missing or empty", request: { _, _ in request(source: "") }, code: .invalidArgument),
        ErrorRow(name: "malformed client token (space)", request: { _, _ in request(token: "a b") }, code: .invalidArgument),
        ErrorRow(name: "malformed client token (65 chars)", request: { _, _ in request(token: String(repeating: "t", count: 65)) }, code: .invalidArgument),
        ErrorRow(name: "destination key over 1024 bytes", request: { _, _ in request(destination: String(repeating: "d", count: 1025)) }, code: .keyTooLong),
        ErrorRow(name: "source key over 1024 bytes", request: { _, _ in request(source: String(repeating: "s", count: 1025)) }, code: .keyTooLong),
        ErrorRow(name: "destination ends with /", request: { _, _ in request(destination: "dir/") }, code: .invalidRequest),
        ErrorRow(name: "source equals destination", request: { _, _ in request(source: "dst") }, code: .invalidRequest),
        ErrorRow(name: "bucket missing", request: { _, _ in request(bucket: "nobucket") }, code: .noSuchBucket),
        ErrorRow(name: "source missing", request: { _, _ in request(source: "nothing") }, code: .noSuchKey),
        ErrorRow(name: "source If-Match fails", request: { _, _ in request(sourceConditions: ObjectConditions(ifMatch: .etags(["x"]))) }, code: .preconditionFailed, condition: "If-Match"),
        ErrorRow(name: "source If-None-Match equal", request: { s, _ in request(sourceConditions: ObjectConditions(ifNoneMatch: .etags([s]))) }, code: .preconditionFailed, condition: "If-None-Match"),
        ErrorRow(name: "source If-None-Match * always fails", request: { _, _ in request(sourceConditions: ObjectConditions(ifNoneMatch: .any)) }, code: .preconditionFailed, condition: "If-None-Match"),
        ErrorRow(name: "source If-Modified-Since future", request: { _, _ in request(sourceConditions: ObjectConditions(ifModifiedSince: future)) }, code: .preconditionFailed, condition: "If-Modified-Since"),
        ErrorRow(name: "source If-Unmodified-Since past", request: { _, _ in request(sourceConditions: ObjectConditions(ifUnmodifiedSince: past)) }, code: .preconditionFailed, condition: "If-Unmodified-Since"),
        ErrorRow(name: "destination If-Match fails", request: { _, _ in request(destinationConditions: ObjectConditions(ifMatch: .etags(["x"]))) }, code: .preconditionFailed, condition: "If-Match"),
        ErrorRow(name: "destination absent with If-Match", request: { _, d in request(destination: "absent", destinationConditions: ObjectConditions(ifMatch: .etags([d]))) }, code: .preconditionFailed, condition: "If-Match"),
        ErrorRow(name: "destination exists with If-None-Match *", request: { _, _ in request(destinationConditions: ObjectConditions(ifNoneMatch: .any)) }, code: .preconditionFailed, condition: "If-None-Match"),
        ErrorRow(name: "If-Match failing and If-None-Match * → If-Match first", request: { _, _ in request(destinationConditions: ObjectConditions(ifMatch: .etags(["x"]), ifNoneMatch: .any)) }, code: .preconditionFailed, condition: "If-Match"),
        ErrorRow(name: "destination If-Unmodified-Since past", request: { _, _ in request(destinationConditions: ObjectConditions(ifUnmodifiedSince: past)) }, code: .preconditionFailed, condition: "If-Unmodified-Since"),
        ErrorRow(name: "destination If-Modified-Since future", request: { _, _ in request(destinationConditions: ObjectConditions(ifModifiedSince: future)) }, code: .preconditionFailed, condition: "If-Modified-Since"),
        ErrorRow(name: "destination absent with If-Modified-Since", request: { _, _ in request(destination: "absent", destinationConditions: ObjectConditions(ifModifiedSince: past)) }, code: .preconditionFailed, condition: "If-Modified-Since"),
        ErrorRow(name: "If-None-Match other than *", request: { _, d in request(destinationConditions: ObjectConditions(ifNoneMatch: .etags([d]))) }, code: .invalidRequest),
        ErrorRow(name: "source checked before destination", request: { _, _ in request(destinationConditions: ObjectConditions(ifMatch: .etags(["x"])), sourceConditions: ObjectConditions(ifNoneMatch: .any)) }, code: .preconditionFailed, condition: "If-None-Match"),
    ]

    /// Every error row; each failure changes nothing (I8) and does not consume a token.
    @Test(arguments: errorRows)
    func errorRow(row: ErrorRow) async throws {
        try await withPair { store, source, destination in
            await expectStoreError(row.code, condition: row.condition) {
                try await store.renameObject(row.request(source.etag, destination.etag))
            }
            let keys = try store.keys("bkt")
            let bytes = try await store.bytes("bkt", "src")
            let tokens = try store.read { txn in try txn.count(store.index.tokens) }
            #expect(keys == ["dst", "src"])
            #expect(bytes == [1, 2, 3])
            #expect(tokens == 0)
        }
    }

    struct PassRow: Sendable, CustomTestStringConvertible {
        let name: String
        let request: @Sendable (_ sourceETag: String, _ destinationETag: String) -> RenameRequest
        var testDescription: String { name }
    }

    /// Each of the eight conditions, holding.
    static let passRows: [PassRow] = [
        PassRow(name: "If-Match", request: { _, d in request(destinationConditions: ObjectConditions(ifMatch: .etags(["\"\(d)\""]))) }),
        PassRow(name: "If-None-Match * on absent", request: { _, _ in request(destination: "fresh", destinationConditions: ObjectConditions(ifNoneMatch: .any)) }),
        PassRow(name: "If-Modified-Since", request: { _, _ in request(destinationConditions: ObjectConditions(ifModifiedSince: past)) }),
        PassRow(name: "If-Unmodified-Since", request: { _, _ in request(destinationConditions: ObjectConditions(ifUnmodifiedSince: future)) }),
        PassRow(name: "source If-Match", request: { s, _ in request(sourceConditions: ObjectConditions(ifMatch: .etags([s]))) }),
        PassRow(name: "source If-None-Match", request: { _, d in request(sourceConditions: ObjectConditions(ifNoneMatch: .etags([d]))) }),
        PassRow(name: "source If-Modified-Since", request: { _, _ in request(sourceConditions: ObjectConditions(ifModifiedSince: past)) }),
        PassRow(name: "source If-Unmodified-Since", request: { _, _ in request(sourceConditions: ObjectConditions(ifUnmodifiedSince: future)) }),
    ]

    @Test(arguments: passRows)
    func conditionHolds(row: PassRow) async throws {
        try await withPair { store, source, destination in
            let request = row.request(source.etag, destination.etag)
            try await store.renameObject(request)
            #expect(try await store.bytes("bkt", request.destination) == [1, 2, 3])
            #expect(!(try store.keys("bkt").contains("src")))
        }
    }

    @Test func clientTokenIdempotency() async throws {
        try await withPair { store, _, _ in
            let first = RenameRequest(bucket: "bkt", source: "src", destination: "moved", clientToken: "tok-1")
            #expect(try await store.renameObject(first) == .init(replayed: false))
            // The answer was lost; the SDK retries with the same token: 200, nothing done again.
            #expect(try await store.renameObject(first) == .init(replayed: true))
            #expect(try store.keys("bkt") == ["dst", "moved"])
            // Same token, different parameters.
            await expectStoreError(.idempotencyParameterMismatch) {
                try await store.renameObject(RenameRequest(bucket: "bkt", source: "src", destination: "other", clientToken: "tok-1"))
            }
            // A new token after the source is gone.
            await expectStoreError(.noSuchKey) {
                try await store.renameObject(RenameRequest(bucket: "bkt", source: "src", destination: "moved", clientToken: "tok-2"))
            }
            // The failed rename did not consume tok-2: it works once the source exists.
            try await store.put("bkt", "src", [8])
            try await store.renameObject(RenameRequest(bucket: "bkt", source: "src", destination: "moved", clientToken: "tok-2"))
            #expect(try await store.bytes("bkt", "moved") == [8])
        }
    }

    @Test func tokensSurviveReopen() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("stowage-token-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory); TestIndex.forget(directory) }
        let request = RenameRequest(bucket: "bkt", source: "a", destination: "z", clientToken: "durable")
        do {
            let store = try openTestStore(directory, testOptions(.strict))
            try await store.createBucket("bkt")
            try await store.put("bkt", "a", [1])
            try await store.renameObject(request)
            store.close()
        }
        let store = try openTestStore(directory, testOptions(.strict))
        defer { store.close() }
        #expect(try await store.renameObject(request).replayed)
        let expiry = try store.read { txn in
            try txn.withValue(store.index.tokens, Array("durable".utf8)) { try TokenRecord(decoding: $0) }
        }
        #expect((expiry?.expiresMilliseconds ?? 0) >= ObjectStore.nowMilliseconds() + Limits.tokenLifetimeMilliseconds - 60_000)
    }

    /// I1: renaming a 256 MiB object leaves every segment file byte-for-byte unchanged.
    @Test func renameIsMetadataOnly() async throws {
        try await withTemporaryStore(segmentCapacityBytes: 64 << 20, chunkSizeBytes: 1 << 20) { store, directory in
            try await store.createBucket("bkt")
            let writer = try store.beginPut(PutRequest(bucket: "bkt", key: "big", sizeHint: 256 << 20))
            let piece = testBytes(4 << 20)
            for _ in 0..<64 { try await writer.write(piece) }
            let info = try await writer.finish()
            let before = try segmentSnapshot(directory)
            #expect(before.count >= 4)
            try await store.renameObject(RenameRequest(bucket: "bkt", source: "big", destination: "renamed"))
            #expect(try segmentSnapshot(directory) == before)
            #expect(try store.headObject(bucket: "bkt", key: "renamed") == { var i = info; i.key = "renamed"; return i }())
        }
    }

    /// I2: while one task renames back and forth, listings never show both names or neither.
    @Test func atomicVisibility() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            try await store.put("bkt", "p/left", [1])
            let renames = 2000
            let stop = ManagedAtomicFlag()
            async let mover: Void = {
                var at = "p/left"
                for _ in 0..<renames {
                    let next = at == "p/left" ? "p/right" : "p/left"
                    try await store.renameObject(RenameRequest(bucket: "bkt", source: at, destination: next))
                    at = next
                }
                stop.set()
            }()
            let observations = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<3 {
                    group.addTask {
                        var seen = 0
                        while !stop.isSet {
                            let keys = try store.keys("bkt", prefix: "p/")
                            #expect(keys == ["p/left"] || keys == ["p/right"], "saw \(keys)")
                            seen += 1
                            await Task.yield()
                        }
                        return seen
                    }
                }
                return try await group.reduce(0, +)
            }
            try await mover
            #expect(observations > 0)
        }
    }

    /// Many tasks race renames of different sources onto one destination with
    /// `If-None-Match: *`: exactly one wins, and no object is lost or duplicated.
    @Test func racingRenamesOntoOneDestination() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            for round in 0..<10 {
                for i in 0..<12 { try await store.put("bkt", "r\(round)/s\(i)", [UInt8(i)]) }
                let winners = await withTaskGroup(of: Int?.self) { group in
                    for i in 0..<12 {
                        group.addTask {
                            let request = RenameRequest(bucket: "bkt", source: "r\(round)/s\(i)", destination: "r\(round)/dest",
                                                        destinationConditions: ObjectConditions(ifNoneMatch: .any))
                            return (try? await store.renameObject(request)) != nil ? i : nil
                        }
                    }
                    return await group.compactMap { $0 }.reduce(into: [Int]()) { $0.append($1) }
                }
                #expect(winners.count == 1)
                let keys = try store.keys("bkt", prefix: "r\(round)/")
                #expect(keys.count == 12, "11 sources left plus the destination")
                if let winner = winners.first {
                    #expect(!keys.contains("r\(round)/s\(winner)"))
                    #expect(try await store.bytes("bkt", "r\(round)/dest") == [UInt8(winner)])
                }
            }
        }
    }

    /// Racing renames of one source to different destinations: it ends under exactly one name.
    @Test func racingRenamesOfOneSource() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            try await store.put("bkt", "only", [5])
            let successes = await withTaskGroup(of: Bool.self) { group in
                for i in 0..<16 {
                    group.addTask { (try? await store.renameObject(RenameRequest(bucket: "bkt", source: "only", destination: "to\(i)"))) != nil }
                }
                return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(successes == 1)
            #expect(try store.keys("bkt").count == 1)
        }
    }
}

/// A flag tasks can poll.
final class ManagedAtomicFlag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}
