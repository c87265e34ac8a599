import Testing
@testable import Stowage

/// S3-SEMANTICS.md, "Conditional writes" and "Conditional reads": one row per case.
@Suite struct ConditionalTests {
    static let past: Int64 = 1_000_000_000      // 2001
    static let future: Int64 = 4_000_000_000    // 2096

    func withObject(_ body: (ObjectStore, ObjectInfo) async throws -> Void) async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            let info = try await store.put("bkt", "k", [1, 2, 3])
            try await body(store, info)
        }
    }

    @Test func putIfNoneMatchStar() async throws {
        try await withObject { store, _ in
            await expectStoreError(.preconditionFailed, condition: "If-None-Match") {
                try await store.put("bkt", "k", [9], conditions: WriteConditions(ifNoneMatch: .any))
            }
            #expect(try await store.bytes("bkt", "k") == [1, 2, 3])
            try await store.put("bkt", "new", [9], conditions: WriteConditions(ifNoneMatch: .any))
        }
    }

    @Test func putIfMatch() async throws {
        try await withObject { store, info in
            await expectStoreError(.preconditionFailed, condition: "If-Match") {
                try await store.put("bkt", "k", [9], conditions: WriteConditions(ifMatch: .etags(["0123"])))
            }
            await expectStoreError(.noSuchKey) {
                try await store.put("bkt", "missing", [9], conditions: WriteConditions(ifMatch: .etags([info.etag])))
            }
            // Quoted or bare, in a list: any entry matches.
            try await store.put("bkt", "k", [9], conditions: WriteConditions(ifMatch: ETagCondition(header: "\"zzz\", \"\(info.etag)\"")))
            #expect(try await store.bytes("bkt", "k") == [9])
        }
    }

    @Test func putBothConditionsIsNotImplemented() async throws {
        try await withObject { store, info in
            await expectStoreError(.notImplemented) {
                try await store.put("bkt", "k", [9], conditions: WriteConditions(ifMatch: .etags([info.etag]), ifNoneMatch: .any))
            }
        }
    }

    @Test func deleteIfMatch() async throws {
        try await withObject { store, info in
            await expectStoreError(.preconditionFailed, condition: "If-Match") {
                try await store.deleteObject(bucket: "bkt", key: "k", ifMatch: .etags(["nope"]))
            }
            await expectStoreError(.noSuchKey) { try await store.deleteObject(bucket: "bkt", key: "missing", ifMatch: .any) }
            try await store.deleteObject(bucket: "bkt", key: "k", ifMatch: .etags(["\"\(info.etag)\""]))
            #expect(try store.keys("bkt").isEmpty)
        }
    }

    /// Exactly one of many racing `If-None-Match: *` writers wins; the rest get 412.
    @Test func racingCreatesHaveOneWinner() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            for round in 0..<20 {
                let results = await withTaskGroup(of: Bool.self) { group in
                    for writer in 0..<16 {
                        group.addTask {
                            do {
                                try await store.put("bkt", "race\(round)", [UInt8(writer)], conditions: WriteConditions(ifNoneMatch: .any))
                                return true
                            } catch { return false }
                        }
                    }
                    return await group.reduce(into: [Bool]()) { $0.append($1) }
                }
                #expect(results.filter { $0 }.count == 1, "round \(round)")
            }
            #expect(try store.keys("bkt").count == 20)
        }
    }

    struct ReadRow: Sendable, CustomTestStringConvertible {
        let name: String
        let conditions: @Sendable (String) -> ObjectConditions
        let expected: StoreError.Code?
        let condition: String?
        var testDescription: String { name }
    }

    static let readRows: [ReadRow] = [
        ReadRow(name: "If-Match equal", conditions: { ObjectConditions(ifMatch: .etags([$0])) }, expected: nil, condition: nil),
        ReadRow(name: "If-Match differs → 412", conditions: { _ in ObjectConditions(ifMatch: .etags(["x"])) }, expected: .preconditionFailed, condition: "If-Match"),
        ReadRow(name: "If-Unmodified-Since past → 412", conditions: { _ in ObjectConditions(ifUnmodifiedSince: past) }, expected: .preconditionFailed, condition: "If-Unmodified-Since"),
        ReadRow(name: "If-Unmodified-Since past but If-Match true → 200", conditions: { ObjectConditions(ifMatch: .etags([$0]), ifUnmodifiedSince: past) }, expected: nil, condition: nil),
        ReadRow(name: "If-Unmodified-Since future → 200", conditions: { _ in ObjectConditions(ifUnmodifiedSince: future) }, expected: nil, condition: nil),
        ReadRow(name: "If-None-Match equal → 304", conditions: { ObjectConditions(ifNoneMatch: .etags([$0])) }, expected: .notModified, condition: nil),
        ReadRow(name: "If-None-Match * → 304", conditions: { _ in ObjectConditions(ifNoneMatch: .any) }, expected: .notModified, condition: nil),
        ReadRow(name: "If-None-Match differs → 200", conditions: { _ in ObjectConditions(ifNoneMatch: .etags(["x"])) }, expected: nil, condition: nil),
        ReadRow(name: "If-Modified-Since past → 200", conditions: { _ in ObjectConditions(ifModifiedSince: past) }, expected: nil, condition: nil),
        ReadRow(name: "If-Modified-Since now → 304", conditions: { _ in ObjectConditions(ifModifiedSince: ObjectStore.nowMilliseconds() / 1000) }, expected: .notModified, condition: nil),
        ReadRow(name: "If-Modified-Since future is ignored → 200", conditions: { _ in ObjectConditions(ifModifiedSince: future) }, expected: nil, condition: nil),
        ReadRow(name: "412 before 304", conditions: { _ in ObjectConditions(ifMatch: .etags(["x"]), ifNoneMatch: .any) }, expected: .preconditionFailed, condition: "If-Match"),
    ]

    @Test(arguments: readRows)
    func getAndHeadConditions(row: ReadRow) async throws {
        try await withObject { store, info in
            let conditions = row.conditions(info.etag)
            for operation in ["GET", "HEAD"] {
                do {
                    if operation == "GET" {
                        _ = try store.getObject(bucket: "bkt", key: "k", conditions: conditions)
                    } else {
                        _ = try store.headObject(bucket: "bkt", key: "k", conditions: conditions)
                    }
                    #expect(row.expected == nil, "\(operation) succeeded")
                } catch let error as StoreError {
                    #expect(error.code == row.expected, "\(operation): \(error)")
                    #expect(error.condition == row.condition)
                    if error.code == .notModified { #expect(error.object?.etag == info.etag, "304 carries the ETag") }
                }
            }
        }
    }

    @Test func missingKeyIs404BeforeConditions() async throws {
        try await withObject { store, _ in
            await expectStoreError(.noSuchKey) {
                _ = try store.headObject(bucket: "bkt", key: "nope", conditions: ObjectConditions(ifMatch: .etags(["x"])))
            }
        }
    }
}
