import Foundation
import HTTPTypes
import HummingbirdTesting
import Stowage
import Testing
@testable import StowageS3

/// S3Responder's dispatch: every supported operation reaches its handler, anything else is
/// `501 NotImplemented` and changes nothing (S3-SEMANTICS.md: "A server that does not
/// support an operation must say 501"), and the SDKs' `x-id` parameter changes nothing.
@Suite struct RoutingTests {
    /// One step of a bucket's life: a request, its status, and what proves that the right
    /// handler answered it.
    struct Step: Sendable {
        let operation: String
        let request: S3TestRequest
        let status: HTTPResponse.Status
        let check: @Sendable (TestResponse, ObjectStore) async throws -> Void
    }

    static let bucket = "routes"

    static func step(_ operation: String, _ method: HTTPRequest.Method, _ path: String,
                     query: [(name: String, value: String?)] = [], headers: [(name: String, value: String)] = [],
                     body: String? = nil, _ status: HTTPResponse.Status,
                     check: @escaping @Sendable (TestResponse, ObjectStore) async throws -> Void) -> Step {
        Step(operation: operation,
             request: S3TestRequest(method: method, path: path, query: query, headers: headers, body: body.map { Array($0.utf8) }),
             status: status, check: check)
    }

    /// The supported operations in an order that exercises each on real state.
    static let lifecycle: [Step] = [
        step("CreateBucket", .put, "/routes", .ok) { response, store in
            #expect(response.headers[.location] == "/routes")
            let bucket = try store.headBucket("routes")
            #expect(bucket.name == "routes")
        },
        step("HeadBucket", .head, "/routes", .ok) { response, _ in
            #expect(response.headers["x-amz-bucket-region"] == "us-east-1")
            #expect(response.body.readableBytes == 0)
        },
        step("GetBucketLocation", .get, "/routes", query: [("location", nil)], .ok) { response, _ in
            #expect(response.xml?.name == "LocationConstraint")
            #expect(response.xml?.text == "")
        },
        step("GetBucketVersioning", .get, "/routes", query: [("versioning", nil)], .ok) { response, _ in
            #expect(response.xml?.name == "VersioningConfiguration")
            #expect(response.xml?.child("Status") == nil)
        },
        step("PutObject", .put, "/routes/dir/a.txt", headers: [("Content-Type", "text/plain")], body: "alpha", .ok) { response, store in
            #expect(response.headers[.eTag] == "\"2c1743a391305fbf367df8e4f069f9f9\"")
            let stored = try await store.text("routes", "dir/a.txt")
            #expect(stored == "alpha")
        },
        step("GetObject", .get, "/routes/dir/a.txt", .ok) { response, _ in
            #expect(response.text == "alpha")
            #expect(response.headers[.contentType] == "text/plain")
        },
        step("HeadObject", .head, "/routes/dir/a.txt", .ok) { response, _ in
            #expect(response.headers[.contentLength] == "5")
            #expect(response.headers[.eTag] == "\"2c1743a391305fbf367df8e4f069f9f9\"")
            #expect(response.body.readableBytes == 0)
        },
        step("ListBuckets", .get, "/", .ok) { response, _ in
            #expect(response.xml?.name == "ListAllMyBucketsResult")
            #expect(response.xml?.child("Buckets")?.all("Bucket").map { $0.text("Name") } == ["routes"])
        },
        step("ListObjects", .get, "/routes", .ok) { response, _ in
            #expect(response.xml?.name == "ListBucketResult")
            #expect(response.xml?.child("Marker") != nil)
            #expect(response.xml?.child("KeyCount") == nil)
            #expect(response.xml?.all("Contents").map { $0.text("Key") } == ["dir/a.txt"])
        },
        step("ListObjectsV2", .get, "/routes", query: [("list-type", "2")], .ok) { response, _ in
            #expect(response.xml?.name == "ListBucketResult")
            #expect(response.xml?.text("KeyCount") == "1")
            #expect(response.xml?.child("Marker") == nil)
        },
        step("RenameObject", .put, "/routes/dir/b.txt", query: [("renameObject", nil)],
             headers: [("x-amz-rename-source", "dir/a.txt")], .ok) { response, store in
            #expect(response.body.readableBytes == 0)
            #expect(!store.has("routes", "dir/a.txt"))
            let stored = try await store.text("routes", "dir/b.txt")
            #expect(stored == "alpha")
        },
        step("DeleteObject", .delete, "/routes/dir/b.txt", .noContent) { _, store in
            #expect(!store.has("routes", "dir/b.txt"))
        },
        step("PutObject", .put, "/routes/c.txt", body: "gamma", .ok) { _, store in
            #expect(store.has("routes", "c.txt"))
        },
        step("DeleteObjects", .post, "/routes", query: [("delete", nil)],
             body: "<Delete><Object><Key>c.txt</Key></Object></Delete>", .ok) { response, store in
            #expect(response.xml?.name == "DeleteResult")
            #expect(response.xml?.all("Deleted").map { $0.text("Key") } == ["c.txt"])
            #expect(!store.has("routes", "c.txt"))
        },
        step("DeleteBucket", .delete, "/routes", .noContent) { _, store in
            #expect(throws: StoreError.self) { try store.headBucket("routes") }
        },
    ]

    @Test func everyOperationReachesItsHandler() async throws {
        try await withTestServer { client, store in
            for step in Self.lifecycle {
                let response = try await client.send(step.request)
                #expect(response.status == step.status, "\(step.operation): \(response.text)")
                try await step.check(response, store)
            }
        }
    }

    /// botocore and the other SDKs add `x-id=<Operation>`; it must not select anything.
    @Test func xIDParametersAreIgnored() async throws {
        try await withTestServer { client, store in
            try await store.createBucket("xid")
            let steps: [Step] = [
                Self.step("ListBuckets", .get, "/", query: [("x-id", "ListBuckets")], .ok) { response, _ in
                    #expect(response.xml?.name == "ListAllMyBucketsResult")
                },
                Self.step("PutObject", .put, "/xid/k", query: [("x-id", "PutObject")], body: "value", .ok) { _, store in
                    let stored = try await store.text("xid", "k")
                    #expect(stored == "value")
                },
                Self.step("GetObject", .get, "/xid/k", query: [("x-id", "GetObject")], .ok) { response, _ in
                    #expect(response.text == "value")
                },
                Self.step("ListObjectsV2", .get, "/xid", query: [("list-type", "2"), ("x-id", "ListObjectsV2")], .ok) { response, _ in
                    #expect(response.xml?.all("Contents").map { $0.text("Key") } == ["k"])
                },
                Self.step("RenameObject", .put, "/xid/renamed", query: [("renameObject", nil), ("x-id", "RenameObject")],
                          headers: [("x-amz-rename-source", "k")], .ok) { _, store in
                    #expect(!store.has("xid", "k"))
                    #expect(store.has("xid", "renamed"))
                },
                Self.step("DeleteObject", .delete, "/xid/renamed", query: [("x-id", "DeleteObject")], .noContent) { _, store in
                    #expect(!store.has("xid", "renamed"))
                },
                Self.step("PutObject", .put, "/xid/again", query: [("x-id", "PutObject")], body: "again", .ok) { _, _ in },
                Self.step("DeleteObjects", .post, "/xid", query: [("delete", nil), ("x-id", "DeleteObjects")],
                          body: "<Delete><Object><Key>again</Key></Object></Delete>", .ok) { response, store in
                    #expect(response.xml?.all("Deleted").map { $0.text("Key") } == ["again"])
                    #expect(!store.has("xid", "again"))
                },
            ]
            for step in steps {
                let response = try await client.send(step.request)
                #expect(response.status == step.status, "\(step.operation) with x-id: \(response.text)")
                try await step.check(response, store)
            }
        }
    }

    struct Unsupported: Sendable, CustomTestStringConvertible {
        let name: String
        let request: S3TestRequest
        var testDescription: String { name }

        init(_ name: String, _ method: HTTPRequest.Method, _ path: String, query: [(name: String, value: String?)] = [],
             headers: [(name: String, value: String)] = [], body: String? = nil) {
            self.name = name
            request = S3TestRequest(method: method, path: path, query: query, headers: headers, body: body.map { Array($0.utf8) })
        }
    }


    static let unsupported: [Unsupported] = [
        // Without `?renameObject` this would be a PutObject that overwrites with an empty body.
        Unsupported("x-amz-rename-source without ?renameObject, new key", .put, "/plain/new",
                    headers: [("x-amz-rename-source", "source")], body: ""),
        Unsupported("x-amz-rename-source without ?renameObject, existing key", .put, "/plain/existing",
                    headers: [("x-amz-rename-source", "source")], body: ""),
        Unsupported("x-amz-rename-source with x-amz-copy-source", .put, "/plain/existing",
                    headers: [("x-amz-rename-source", "source"), ("x-amz-copy-source", "/plain/source")], body: ""),
        Unsupported("PutBucketReplication", .put, "/plain", query: [("replication", nil)], body: "<ReplicationConfiguration/>"),
        Unsupported("GetBucketNotificationConfiguration", .get, "/plain", query: [("notification", nil)]),
        Unsupported("GetBucketWebsite", .get, "/plain", query: [("website", nil)]),
        Unsupported("PutBucketAnalyticsConfiguration", .put, "/plain", query: [("analytics", nil), ("id", "a")],
                    body: "<AnalyticsConfiguration/>"),
        Unsupported("GetBucketAccelerateConfiguration", .get, "/plain", query: [("accelerate", nil)]),
        Unsupported("GetObjectTorrent", .get, "/plain/existing", query: [("torrent", nil)]),
        Unsupported("PutBucketLogging", .put, "/plain", query: [("logging", nil)], body: "<BucketLoggingStatus/>"),
        Unsupported("DeleteBucketWebsite", .delete, "/plain", query: [("website", nil)]),
        Unsupported("SelectObjectContent", .post, "/plain/existing", query: [("select", nil), ("select-type", "2")],
                    body: "<SelectObjectContentRequest/>"),
        Unsupported("POST on the service", .post, "/", body: ""),
    ]

    @Test(arguments: unsupported)
    func unsupportedOperationsAreNotImplemented(_ test: Unsupported) async throws {
        try await withTestServer { client, store in
            try await store.createBucket("plain")
            let existing = try await client.put("plain", "existing", "old")
            try await client.put("plain", "source", "source")

            let response = try await client.send(test.request)
            expectS3Error(response, .notImplemented, "NotImplemented", resource: test.request.path)

            #expect(try store.listObjects(bucket: "plain").objects.map(\.key) == ["existing", "source"])
            #expect(try await store.text("plain", "existing") == "old")
            #expect(try store.headObject(bucket: "plain", key: "existing").quotedETag == existing.headers[.eTag])
            #expect(try await store.text("plain", "source") == "source")
            let versioning = try await client.send(.get, "/plain", query: [("versioning", nil)])
            #expect(versioning.xml?.name == "VersioningConfiguration")
            #expect(versioning.xml?.child("Status") == nil)
        }
    }
}
