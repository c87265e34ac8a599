import Testing
@testable import Stowage
import StowageChecksums

/// ACLs and Object Ownership in the engine (issue 16, point 4): the record formats that
/// carry them, the canned ACLs, and the rules the engine enforces in the write's own
/// transaction — BucketOwnerEnforced refuses ACLs, a rename keeps an object's ACL, a copy
/// takes the request's. In `make test` also over the optimistic index.
@Suite struct AccessControlTests {
    static let publicRead = AccessControlList(owner: "alice", grants: [.init(.user("alice"), .fullControl), .init(.allUsers, .read)])

    @Test func objectRecordFormatFourCarriesTheACL() throws {
        func decode(_ bytes: [UInt8]) throws -> ObjectRecord { try bytes.withUnsafeBytes { try ObjectRecord(decoding: $0) } }
        for tags in [[], [ObjectTag(key: "t", value: "v")]] {
            var record = ObjectRecord(blobID: 1, size: 2, etag: "e", lastModifiedMilliseconds: 3, partCount: 0,
                                      attributes: ObjectAttributes())
            record.tags = tags
            record.acl = AccessControlList(owner: "", grants: [
                .init(.user(""), .fullControl), .init(.user("bob"), .readACP), .init(.authenticatedUsers, .read),
                .init(.logDelivery, .write), .init(.allUsers, .writeACP)])
            let encoded = record.encoded()
            #expect(encoded.first == ObjectRecord.aclFormat)
            #expect(try decode(encoded) == record)
            for length in 0..<encoded.count {
                #expect(throws: RecordError.self) { try decode(Array(encoded.prefix(length))) }
            }
            // An unknown permission (the last byte) is an error, never a guess.
            var damaged = encoded
            damaged[damaged.count - 1] = 9
            #expect(throws: RecordError.self) { try decode(damaged) }
        }
        // Without an ACL the record keeps its older, smaller format.
        let plain = ObjectRecord(blobID: 1, size: 2, etag: "e", lastModifiedMilliseconds: 3, partCount: 0, attributes: ObjectAttributes())
        #expect(plain.encoded().first == ObjectRecord.version)
    }

    @Test func uploadRecordFormatFiveCarriesTheACL() throws {
        func decode(_ bytes: [UInt8]) throws -> UploadRecord { try bytes.withUnsafeBytes { try UploadRecord(decoding: $0) } }
        for type in [nil, S3ChecksumType.composite, .fullObject] {
            for tags in [[], [ObjectTag(key: "t", value: "v")]] {
                let record = UploadRecord(bucket: "b", key: "k", initiatedMilliseconds: 1, attributes: ObjectAttributes(),
                                          checksumAlgorithm: type == nil ? nil : "CRC32", etagAtStart: nil, tags: tags,
                                          checksumType: type, acl: Self.publicRead)
                #expect(record.encoded().first == UploadRecord.withACL)
                #expect(try decode(record.encoded()) == record)
            }
        }
    }

    @Test(arguments: [
        ("private", [AccessControlList.Grant]()),
        ("public-read", [.init(.allUsers, .read)]),
        ("public-read-write", [.init(.allUsers, .read), .init(.allUsers, .write)]),
        ("authenticated-read", [.init(.authenticatedUsers, .read)]),
        ("bucket-owner-read", [.init(.user("carol"), .read)]),
        ("bucket-owner-full-control", [.init(.user("carol"), .fullControl)]),
        ("log-delivery-write", [.init(.logDelivery, .write), .init(.logDelivery, .readACP)]),
    ])
    func cannedACLs(_ name: String, _ extra: [AccessControlList.Grant]) throws {
        let acl = try #require(AccessControlList.canned(name, owner: "dave", bucketOwner: "carol"))
        #expect(acl.owner == "dave")
        #expect(acl.grants == [.init(.user("dave"), .fullControl)] + extra)
        // Written by the bucket's owner, the bucket-owner ones add nothing.
        let own = try #require(AccessControlList.canned(name, owner: "carol", bucketOwner: "carol"))
        #expect(own.grantsOnlyToOwner == !(name.hasPrefix("public") || name.hasPrefix("authenticated") || name.hasPrefix("log")))
        #expect(AccessControlList.canned("public", owner: "a", bucketOwner: "a") == nil)
    }

    @Test func ownerEnforcedBucketsRefuseACLsAndStoreNothing() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("enforced", owner: "alice")
            var request = PutRequest(bucket: "enforced", key: "k")
            request.acl = Self.publicRead
            await expectStoreError(.accessControlListNotSupported) { _ = try await store.putObject(request, bytes: [1, 2]) }
            #expect(try store.keys("enforced").isEmpty)
            await expectStoreError(.accessControlListNotSupported) { try await store.setBucketACL("enforced", acl: Self.publicRead) }
            await expectStoreError(.ownershipControlsNotFound) { _ = try store.ownershipControls("enforced") }
            await expectStoreError(.invalidBucketAclWithObjectOwnership) {
                try await store.createBucket("public", owner: "alice", acl: Self.publicRead)
            }
            await expectStoreError(.noSuchBucket) { _ = try store.bucketAccess("public") }
            // The owner-only ACL is the default, stored as nothing.
            request.acl = .private(owner: "alice")
            _ = try await store.putObject(request, bytes: [1, 2])
            #expect(try store.objectACL(bucket: "enforced", key: "k").acl == .private(owner: "alice"))
        }
    }

    @Test func renameKeepsTheACLCopyTakesTheRequests() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt", owner: "alice", ownership: .objectWriter)
            var request = PutRequest(bucket: "bkt", key: "tmp/a")
            request.acl = Self.publicRead
            _ = try await store.putObject(request, bytes: testBytes(100))
            try await store.renameObject(RenameRequest(bucket: "bkt", source: "tmp/a", destination: "final/a"))
            #expect(try store.objectACL(bucket: "bkt", key: "final/a").acl == Self.publicRead)
            _ = try await store.copyObject(CopyRequest(sourceBucket: "bkt", sourceKey: "final/a", bucket: "bkt", key: "copy"))
            #expect(try store.objectACL(bucket: "bkt", key: "copy").acl == .private(owner: "alice"))
            var copy = CopyRequest(sourceBucket: "bkt", sourceKey: "final/a", bucket: "bkt", key: "copy2")
            copy.acl = AccessControlList(owner: "bob", grants: [.init(.user("bob"), .fullControl)])
            _ = try await store.copyObject(copy)
            #expect(try store.objectACL(bucket: "bkt", key: "copy2").acl.owner == "bob")
            // The ACL's owner is the object's: another owner is refused, nothing changed.
            await expectStoreError(.accessDenied) {
                try await store.setObjectACL(bucket: "bkt", key: "copy2", acl: .private(owner: "alice"))
            }
            #expect(try store.objectACL(bucket: "bkt", key: "copy2").acl.owner == "bob")
        }
    }

    @Test func multipartCompleteGivesTheCreatesACL() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt", owner: "alice", ownership: .bucketOwnerPreferred)
            let id = try await store.createMultipartUpload(bucket: "bkt", key: "big", acl: Self.publicRead)
            let writer = try store.beginUploadPart(bucket: "bkt", key: "big", uploadID: id, partNumber: 1, sizeHint: 10)
            try await writer.write(testBytes(10))
            let part = try await writer.finish()
            _ = try await store.completeMultipartUpload(bucket: "bkt", key: "big", uploadID: id, parts: [(1, "\"\(part.etag)\"")])
            #expect(try store.objectACL(bucket: "bkt", key: "big").acl == Self.publicRead)
        }
    }

    /// DeleteBucket removes every per-bucket setting in its transaction: no meta entry named
    /// after the bucket is left for a new bucket of the same name to inherit.
    @Test func deleteBucketLeavesNoSettingBehind() async throws {
        try await withTemporaryStore { store, _ in
            func settingKeys() throws -> [String] {
                try store.read { txn in
                    var found: [String] = []
                    try txn.scan(store.index.meta, from: []) { key, _ in
                        let text = String(decoding: key, as: UTF8.self)
                        if text.hasSuffix("/gone") { found.append(text) }
                        return true
                    }
                    return found
                }
            }
            try await store.createBucket("gone", owner: "alice", ownership: .objectWriter, acl: Self.publicRead)
            try await store.setBucketTagging("gone", tags: [ObjectTag(key: "k", value: "v")])
            try await store.setBucketPolicy("gone", Array("{}".utf8))
            try await store.setPublicAccessBlock("gone", PublicAccessBlock(ignorePublicAcls: true))
            try await store.setCORSConfiguration("gone", rules: [CORSRule(allowedOrigins: ["*"], allowedMethods: ["GET"])])
            #expect(try settingKeys().count == 6)
            #expect(Set(try settingKeys()).isSubset(of: ObjectStore.bucketSettingKeys("gone").map { String(decoding: $0, as: UTF8.self) }))
            try await store.deleteBucket("gone")
            #expect(try settingKeys().isEmpty)
        }
    }

    @Test func ownershipAndTheBucketACLGoWithTheBucket() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt", owner: "alice", ownership: .objectWriter, acl: Self.publicRead)
            #expect(try store.bucketAccess("bkt") == ObjectStore.BucketAccess(owner: "alice", ownership: .objectWriter,
                                                                             ownershipSet: true, acl: Self.publicRead))
            await expectStoreError(.invalidBucketAclWithObjectOwnership) { try await store.setOwnershipControls("bkt", .bucketOwnerEnforced) }
            await expectStoreError(.invalidBucketAclWithObjectOwnership) { try await store.setOwnershipControls("bkt", nil) }
            #expect(try store.ownershipControls("bkt") == .objectWriter)
            try await store.setBucketACL("bkt", acl: .private(owner: "alice"))
            try await store.setOwnershipControls("bkt", nil)
            #expect(try store.bucketAccess("bkt").ownership == .bucketOwnerEnforced)
            try await store.setOwnershipControls("bkt", .objectWriter)
            try await store.setBucketACL("bkt", acl: Self.publicRead)
            try await store.deleteBucket("bkt")
            try await store.createBucket("bkt", owner: "alice")
            #expect(try store.bucketAccess("bkt") == ObjectStore.BucketAccess(owner: "alice", ownership: .bucketOwnerEnforced,
                                                                             ownershipSet: false, acl: .private(owner: "alice")))
        }
    }
}
