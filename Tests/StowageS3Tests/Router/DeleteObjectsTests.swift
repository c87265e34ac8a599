import Foundation
import HTTPTypes
import HummingbirdTesting
import Stowage
import Testing
@testable import StowageS3

/// DeleteObjects: `POST /bucket?delete` with `<Delete>`, answered by `<DeleteResult>` —
/// every key in verbose mode, only the failures in quiet mode; a body that is not a
/// `Delete` document is MalformedXML and deletes nothing.
@Suite struct DeleteObjectsTests {
    static let tooLong = String(repeating: "k", count: Limits.maxKeyBytes + 1)

    static func document(_ keys: [String], quiet: String? = nil) -> String {
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        if let quiet { xml += "<Quiet>\(quiet)</Quiet>" }
        for key in keys { xml += "<Object><Key>\(XMLWriter.escape(key))</Key></Object>" }
        return xml + "</Delete>"
    }

    static func seed(_ client: any TestClientProtocol, _ store: ObjectStore) async throws {
        try await store.createBucket("del")
        for key in ["a", "b & c", "keep"] { try await client.put("del", key, key) }
    }

    @Test(arguments: [nil, "false"])
    func verboseListsEveryKey(_ quiet: String?) async throws {
        try await withTestServer { client, store in
            try await Self.seed(client, store)
            let response = try await client.send(.post, "/del", query: [("delete", nil)],
                                                 body: Array(Self.document(["a", "b & c", "never-was", Self.tooLong], quiet: quiet).utf8))
            #expect(response.status == .ok, "\(response.text)")
            let result = try #require(response.xml)
            #expect(result.name == "DeleteResult")
            #expect(result.all("Deleted").map { $0.text("Key") } == ["a", "b & c", "never-was"])
            let errors = result.all("Error")
            #expect(errors.map { $0.text("Key") } == [Self.tooLong])
            #expect(errors.map { $0.text("Code") } == ["KeyTooLongError"])
            #expect(errors.allSatisfy { !($0.text("Message") ?? "").isEmpty })
            #expect(try store.listObjects(bucket: "del").objects.map(\.key) == ["keep"])
        }
    }

    @Test(arguments: ["true", "TRUE", " true "])
    func quietListsOnlyFailures(_ quiet: String) async throws {
        try await withTestServer { client, store in
            try await Self.seed(client, store)
            let response = try await client.send(.post, "/del", query: [("delete", nil)],
                                                 body: Array(Self.document(["a", "b & c", Self.tooLong], quiet: quiet).utf8))
            #expect(response.status == .ok, "\(response.text)")
            let result = try #require(response.xml)
            #expect(result.name == "DeleteResult")
            #expect(result.all("Deleted").isEmpty)
            #expect(result.all("Error").map { $0.text("Code") } == ["KeyTooLongError"])
            #expect(try store.listObjects(bucket: "del").objects.map(\.key) == ["keep"])

            let clean = try await client.send(.post, "/del", query: [("delete", nil)],
                                              body: Array(Self.document(["keep"], quiet: quiet).utf8))
            #expect(clean.xml?.name == "DeleteResult")
            #expect(clean.xml?.children.isEmpty == true)
            #expect(try store.listObjects(bucket: "del").objects.isEmpty)
        }
    }

    struct MalformedCase: Sendable, CustomTestStringConvertible {
        let name: String
        let body: String?
        var testDescription: String { name }
    }

    static let malformed: [MalformedCase] = [
        MalformedCase(name: "not XML", body: "delete a and b please"),
        MalformedCase(name: "unclosed element", body: "<Delete><Object><Key>a</Key></Object>"),
        MalformedCase(name: "truncated inside a tag", body: "<Delete><Object><Key>a</Key></Obj"),
        MalformedCase(name: "content after the document", body: "<Delete><Object><Key>a</Key></Object></Delete><Delete/>"),
        MalformedCase(name: "text after the document", body: "<Delete><Object><Key>a</Key></Object></Delete>trailing"),
        MalformedCase(name: "mismatched tags", body: "<Delete><Object><Key>a</Object></Key></Delete>"),
        MalformedCase(name: "no body", body: nil),
        MalformedCase(name: "another document", body: "<DeleteObjects><Object><Key>a</Key></Object></DeleteObjects>"),
        MalformedCase(name: "no objects", body: "<Delete><Quiet>true</Quiet></Delete>"),
        MalformedCase(name: "more than the limit", body: document((0...Limits.maxDeleteKeys).map { "k\($0)" })),
    ]

    @Test(arguments: malformed)
    func malformedBodiesDeleteNothing(_ test: MalformedCase) async throws {
        try await withTestServer { client, store in
            try await Self.seed(client, store)
            let response = try await client.send(.post, "/del", query: [("delete", nil)], body: test.body.map { Array($0.utf8) })
            expectS3Error(response, .badRequest, "MalformedXML", resource: "/del")
            #expect(try store.listObjects(bucket: "del").objects.map(\.key) == ["a", "b & c", "keep"])
        }
    }

    @Test func missingBucketIsNoSuchBucket() async throws {
        try await withTestServer { client, _ in
            let response = try await client.send(.post, "/nobucket", query: [("delete", nil)], body: Array(Self.document(["a"]).utf8))
            expectS3Error(response, .notFound, "NoSuchBucket", resource: "/nobucket")
        }
    }
}
