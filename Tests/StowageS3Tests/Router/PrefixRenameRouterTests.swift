import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Stowage
import Testing
@testable import StowageS3

/// The prefix rename on the wire: its body both ways (`PrefixRenameBody`), the route, and
/// `S3Client` — what `stowage mv` sends — against a live server.
@Suite struct PrefixRenameRouterTests {
    /// Whatever the client writes the server reads back unchanged, awkward text included:
    /// spaces at the ends, XML's special characters, non-ASCII.
    @Test func bodyRoundTrips() throws {
        let full = PrefixRenameBody(sourcePrefix: " tmp/a&b<c>'é/ ", destinationPrefix: "final/\"q\"/", overwrite: true,
                                    expectedCount: 3,
                                    manifest: [PrefixManifestEntry(key: " tmp/a&b<c>'é/ x", etag: "\"0123\""),
                                               PrefixManifestEntry(key: " tmp/a&b<c>'é/ y", etag: "4567")])
        #expect(try PrefixRenameBody(parsing: Data(full.document.utf8)) == full)
        let minimal = PrefixRenameBody(sourcePrefix: "a/", destinationPrefix: "b/")
        #expect(try PrefixRenameBody(parsing: Data(minimal.document.utf8)) == minimal)
        let emptyManifest = PrefixRenameBody(sourcePrefix: "a/", destinationPrefix: "b/", manifest: [])
        #expect(try PrefixRenameBody(parsing: Data(emptyManifest.document.utf8)) == emptyManifest)
    }

    @Test func routeMovesThePrefixAndAnswersTheCount() async throws {
        try await withTestServer { client, store in
            try await store.createBucket("bkt")
            try await client.put("bkt", "from/1", "one")
            try await client.put("bkt", "from/2", "two")
            let body = PrefixRenameBody(sourcePrefix: "from/", destinationPrefix: "to/", expectedCount: 2)
            let response = try await client.send(.post, "/bkt", query: [("renamePrefix", nil)], body: Array(body.document.utf8))
            #expect(response.status == .ok, "\(response.text)")
            let result = try #require(response.xml)
            #expect(result.name == "RenamePrefixResult")
            #expect(result.text("Moved") == "2")
            #expect(result.text("Replaced") == "0")
            #expect(try await store.text("bkt", "to/2") == "two")
            #expect(!store.has("bkt", "from/1"))

            let again = try await client.send(.post, "/bkt", query: [("renamePrefix", nil)], body: Array(body.document.utf8))
            expectS3Error(again, .notFound, "NoSuchKey", resource: "/bkt")
            let onAnObject = try await client.send(.post, "/bkt/to/1", query: [("renamePrefix", nil)], body: Array(body.document.utf8))
            expectS3Error(onAnObject, .notImplemented, "NotImplemented")
            let unsignedBody = try await client.send(.post, "/bkt", query: [("renamePrefix", nil)],
                                                     body: Array(PrefixRenameBody(sourcePrefix: "to/", destinationPrefix: "back/").document.utf8),
                                                     payload: .literal("UNSIGNED-PAYLOAD"))
            #expect(unsignedBody.status == .ok, "an unsigned payload is allowed, as for every operation")
            #expect(store.has("bkt", "back/1"))
        }
    }

    /// The client's calls against a real socket: listing, RenameObject with a token (and its
    /// replay), HEAD, and the prefix rename with its errors parsed.
    @Test func s3ClientAgainstALiveServer() async throws {
        try await withTestServer(.live) { client, store in
            let port = try #require(client.port)
            let s3 = S3Client(endpoint: try #require(URL(string: "http://localhost:\(port)")), signer: .standard)
            try await store.createBucket("bkt")
            for i in 0..<3 { try await client.put("bkt", "from/\(i) é+&", "\(i)") }

            let listed = try await s3.listObjects(bucket: "bkt", prefix: "from/")
            #expect(listed.map(\.key) == ["from/0 é+&", "from/1 é+&", "from/2 é+&"])
            #expect(listed[0].etag == (try store.headObject(bucket: "bkt", key: "from/0 é+&").etag))

            try await s3.renameObject(bucket: "bkt", source: "from/0 é+&", destination: "moved/0 é+&", clientToken: "tok-1",
                                      destinationMustNotExist: true)
            try await s3.renameObject(bucket: "bkt", source: "from/0 é+&", destination: "moved/0 é+&", clientToken: "tok-1",
                                      destinationMustNotExist: true)
            #expect(try await s3.headObject(bucket: "bkt", key: "moved/0 é+&") == listed[0].etag)
            #expect(try await s3.headObject(bucket: "bkt", key: "from/0 é+&") == nil)

            let result = try await s3.renamePrefix(bucket: "bkt", PrefixRenameBody(sourcePrefix: "from/", destinationPrefix: "to/"))
            #expect(result == S3Client.PrefixRenameResult(moved: 2, replaced: 0))
            #expect(try await store.text("bkt", "to/2 é+&") == "2")

            try await client.put("bkt", "moved/1 é+&", "9")
            do {
                _ = try await s3.renamePrefix(bucket: "bkt", PrefixRenameBody(sourcePrefix: "to/", destinationPrefix: "moved/"))
                Issue.record("moving onto an existing key succeeded")
            } catch let error as S3ClientError {
                #expect(error.status == 412)
                #expect(error.code == "PreconditionFailed")
                #expect(error.condition == "Overwrite")
                #expect(error.requestID != nil)
            } catch {
                Issue.record("expected an S3ClientError, got \(error)")
            }
        }
    }
}
