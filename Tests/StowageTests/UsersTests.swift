import Foundation
import Testing
@testable import Stowage

/// Users and access keys in the index (issue 16, point 1): secrets sealed by the master
/// key, bucket owners kept in the bucket's record, deletion refused while a user still has
/// keys or buckets. In `make test` also over the optimistic index.
@Suite struct UsersTests {
    @Test func keysAreSealedAndOpenOnlyWithTheMasterKey() async throws {
        try await withTemporaryStore { store, directory in
            try await store.createUser("alice")
            await expectStoreError(.userConflict) { try await store.createUser("alice") }
            await expectStoreError(.invalidArgument) { try await store.createUser("no spaces") }
            await expectStoreError(.invalidArgument) { try await store.createUser("stowage") }
            await expectStoreError(.noSuchUser) { _ = try await store.createAccessKey(for: "nobody") }
            let key = try await store.createAccessKey(for: "alice")
            #expect(key.accessKeyID.count == 20 && key.secretKey.count == 40)
            let found = try #require(try store.accessKeySecret(key.accessKeyID))
            #expect(found.user == "alice" && found.secret == key.secretKey)
            #expect(try store.accessKeySecret("STWNOSUCHKEY00000000") == nil)
            #expect(try store.users() == [UserInfo(name: "alice", createdMilliseconds: try store.users()[0].createdMilliseconds,
                                                   accessKeys: [key.accessKeyID])])
            // The secret is nowhere in the data directory in the clear.
            if TestIndex.kind == "lmdb" {
                let index = try Data(contentsOf: URL(fileURLWithPath: directory + "/index/data.mdb"))
                #expect(index.range(of: Data(key.secretKey.utf8)) == nil)
                #expect(index.range(of: Data(key.accessKeyID.utf8)) != nil, "the search finds what is stored")
            }
            for _ in 1..<UserDirectory.maxKeysPerUser { _ = try await store.createAccessKey(for: "alice") }
            await expectStoreError(.userConflict) { _ = try await store.createAccessKey(for: "alice") }
        }
    }

    @Test func aUserWithKeysOrBucketsIsNotDeleted() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createUser("bob")
            let key = try await store.createAccessKey(for: "bob")
            try await store.createBucket("bobs", owner: "bob")
            try await store.createBucket("admins")
            #expect(try store.bucketOwner("bobs") == "bob")
            #expect(try store.bucketOwner("admins") == nil)
            #expect(try store.listBuckets().map(\.owner) == [nil, "bob"])
            await expectStoreError(.bucketOwnedByAnother) { try await store.createBucket("bobs") }
            await expectStoreError(.bucketAlreadyExists) { try await store.createBucket("bobs", owner: "bob") }
            await expectStoreError(.userConflict) { try await store.deleteUser("bob") }
            try await store.deleteAccessKey(key.accessKeyID)
            #expect(try store.accessKeySecret(key.accessKeyID) == nil)
            await expectStoreError(.userConflict) { try await store.deleteUser("bob") }
            // Versioning rewrites the bucket's record: the owner stays.
            try await store.setBucketVersioning("bobs", enabled: true)
            #expect(try store.bucketOwner("bobs") == "bob")
            try await store.deleteBucket("bobs")
            try await store.deleteUser("bob")
            #expect(try store.users().isEmpty)
            await expectStoreError(.noSuchUser) { try await store.deleteUser("bob") }
        }
    }

    @Test func usersPoliciesGoWithTheUser() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createUser("erin")
            await expectStoreError(.noSuchUser) { try await store.attachUserPolicy(user: "nobody", name: "p", text: [1]) }
            try await store.attachUserPolicy(user: "erin", name: "read", text: Array("{}".utf8))
            try await store.attachUserPolicy(user: "erin", name: "write", text: Array("{ }".utf8))
            try await store.attachUserPolicy(user: "erin", name: "read", text: Array("{\"v\":2}".utf8))
            #expect(try store.userPolicies("erin").map(\.name) == ["read", "write"])
            #expect(try store.userPolicies("erin")[0].text == Array("{\"v\":2}".utf8), "attach replaces")
            try await store.detachUserPolicy(user: "erin", name: "write")
            await expectStoreError(.noSuchUser) { try await store.detachUserPolicy(user: "erin", name: "write") }
            try await store.createUser("erin2")
            try await store.attachUserPolicy(user: "erin2", name: "read", text: [1])
            try await store.deleteUser("erin")
            try await store.createUser("erin")
            #expect(try store.userPolicies("erin").isEmpty, "a user's policies were deleted with it")
            #expect(try store.userPolicies("erin2").map(\.name) == ["read"], "and no other user's")
        }
    }

    @Test func bucketRecordKeepsItsOwnerAndRetention() throws {
        var record = BucketRecord(createdMilliseconds: 7, flags: 0b101)
        record.defaultRetention = DefaultRetention(mode: .governance, period: 3, inYears: false)
        record.owner = "carol"
        let bytes = record.encoded()
        #expect(bytes[0] == BucketRecord.ownedFormat)
        #expect(try bytes.withUnsafeBytes { try BucketRecord(decoding: $0) } == record)
        record.defaultRetention = nil
        #expect(try record.encoded().withUnsafeBytes { try BucketRecord(decoding: $0) } == record)
        record.owner = ""
        #expect(record.encoded()[0] == BucketRecord.version, "an administrator's bucket keeps format 1")
    }

    @Test func anotherMasterKeyCannotOpenAKey() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("stowage-test-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory); TestIndex.forget(directory) }
        var store = try openTestStore(directory)
        try await store.createUser("dave")
        let key = try await store.createAccessKey(for: "dave")
        store.close()
        var options = testOptions()
        options.masterKey = MasterKey(bytes: testBytes(32, seed: 12))
        store = try openTestStore(directory, options)
        await expectStoreError(.integrity) { _ = try store.accessKeySecret(key.accessKeyID) }
        store.close()
    }
}
