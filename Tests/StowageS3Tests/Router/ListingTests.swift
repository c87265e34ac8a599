import Foundation
import HTTPTypes
import HummingbirdTesting
import Stowage
import Testing
@testable import StowageS3

/// ListObjects (v1) and ListObjectsV2 as XML: pages with a delimiter and continuation
/// tokens, `encoding-type=url`, and the parameters' validation.
@Suite struct ListingTests {
    static let keys = ["a.txt", "b/1", "b/2", "c/1", "d.txt", "e/x/1", "e/y", "f.txt"]

    static func seed(_ client: any TestClientProtocol, _ store: ObjectStore, _ keys: [String] = keys) async throws {
        try await store.createBucket("list")
        for key in keys { try await client.put("list", key, key) }
    }

    /// Two entries a page, objects and common prefixes counted alike; each token leads to
    /// the next page and no entry repeats.
    @Test func v2PagesWithDelimiterAndContinuationTokens() async throws {
        try await withTestServer { client, store in
            try await Self.seed(client, store)
            var pages: [[String]] = []
            var token: String?
            repeat {
                var query: [(name: String, value: String?)] = [("list-type", "2"), ("delimiter", "/"), ("max-keys", "2")]
                if let token { query.append(("continuation-token", token)) }
                let response = try await client.send(.get, "/list", query: query)
                #expect(response.status == .ok, "\(response.text)")
                let page = try #require(response.xml)
                #expect(page.text("Name") == "list")
                #expect(page.text("Delimiter") == "/")
                #expect(page.text("MaxKeys") == "2")
                #expect(page.text("ContinuationToken") == token)
                let entries = page.all("Contents").compactMap { $0.text("Key") }
                    + page.all("CommonPrefixes").compactMap { $0.text("Prefix") }
                #expect(page.text("KeyCount") == String(entries.count))
                pages.append(entries)
                let truncated = page.text("IsTruncated") == "true"
                token = page.text("NextContinuationToken")
                #expect(truncated == (token != nil))
                #expect(pages.count <= Self.keys.count)
            } while token != nil && pages.count <= Self.keys.count
            #expect(pages == [["a.txt", "b/"], ["d.txt", "c/"], ["f.txt", "e/"]])
        }
    }

    @Test func v2PrefixAndStartAfter() async throws {
        try await withTestServer { client, store in
            try await Self.seed(client, store)
            let underE = try await client.send(.get, "/list", query: [("list-type", "2"), ("prefix", "e/"), ("delimiter", "/")])
            #expect(underE.xml?.text("Prefix") == "e/")
            #expect(underE.xml?.all("Contents").map { $0.text("Key") } == ["e/y"])
            #expect(underE.xml?.all("CommonPrefixes").map { $0.text("Prefix") } == ["e/x/"])

            let after = try await client.send(.get, "/list", query: [("list-type", "2"), ("start-after", "c/1")])
            #expect(after.xml?.text("StartAfter") == "c/1")
            #expect(after.xml?.all("Contents").map { $0.text("Key") } == ["d.txt", "e/x/1", "e/y", "f.txt"])
        }
    }

    /// v1 pages by `marker`; `NextMarker` is the last entry of a truncated page.
    @Test func v1PagesByMarker() async throws {
        try await withTestServer { client, store in
            try await Self.seed(client, store)
            var marker = ""
            var seen: [String] = []
            for _ in 0..<Self.keys.count {
                let response = try await client.send(.get, "/list", query: [("marker", marker), ("max-keys", "3")])
                let page = try #require(response.xml)
                #expect(page.text("Marker") == marker)
                #expect(page.child("KeyCount") == nil)
                let keys = page.all("Contents").compactMap { $0.text("Key") }
                #expect(keys.count <= 3)
                #expect(page.all("Contents").allSatisfy { $0.child("Owner") != nil })
                seen += keys
                guard page.text("IsTruncated") == "true" else { break }
                marker = try #require(page.text("NextMarker"))
                #expect(marker == keys.last)
            }
            #expect(seen == Self.keys)
        }
    }

    /// `encoding-type=url`: keys, prefixes, the delimiter and markers come back URL-encoded
    /// (what XML 1.0 cannot carry, like U+0001, included).
    @Test func urlEncodingType() async throws {
        try await withTestServer { client, store in
            try await Self.seed(client, store, ["a b/c+d.txt", "ü/é", "x&y<z>", "ctl\u{1}char"])
            let v2 = try await client.send(.get, "/list", query: [("list-type", "2"), ("encoding-type", "url"),
                                                                  ("delimiter", "/"), ("start-after", "a b")])
            #expect(v2.status == .ok, "\(v2.text)")
            let page = try #require(v2.xml)
            #expect(page.text("EncodingType") == "url")
            #expect(page.text("StartAfter") == "a%20b")
            #expect(page.text("Delimiter") == "/")
            #expect(page.all("Contents").map { $0.text("Key") } == ["ctl%01char", "x%26y%3Cz%3E"])
            #expect(page.all("CommonPrefixes").map { $0.text("Prefix") } == ["a%20b/", "%C3%BC/"])

            let prefixed = try await client.send(.get, "/list", query: [("list-type", "2"), ("encoding-type", "url"), ("prefix", "a b/")])
            #expect(prefixed.xml?.text("Prefix") == "a%20b/")
            #expect(prefixed.xml?.all("Contents").map { $0.text("Key") } == ["a%20b/c%2Bd.txt"])

            let v1 = try await client.send(.get, "/list", query: [("encoding-type", "url"), ("marker", "a b/c"), ("max-keys", "1")])
            #expect(v1.xml?.text("Marker") == "a%20b/c")
            #expect(v1.xml?.all("Contents").map { $0.text("Key") } == ["a%20b/c%2Bd.txt"])
            #expect(v1.xml?.text("NextMarker") == "a%20b/c%2Bd.txt")
            let last = try await client.send(.get, "/list", query: [("encoding-type", "url"), ("marker", "x")])
            #expect(last.xml?.all("Contents").map { $0.text("Key") } == ["x%26y%3Cz%3E", "%C3%BC/%C3%A9"])

            let plain = try await client.send(.get, "/list", query: [("prefix", "x")])
            #expect(plain.xml?.all("Contents").map { $0.text("Key") } == ["x&y<z>"])
        }
    }

    struct ParameterCase: Sendable, CustomTestStringConvertible {
        let name: String
        let query: [(name: String, value: String?)]
        /// `MaxKeys` answered, or nil for 400 InvalidArgument.
        let maxKeys: String?
        var testDescription: String { name }
    }

    static let parameters: [ParameterCase] = [
        ParameterCase(name: "max-keys=abc", query: [("max-keys", "abc")], maxKeys: nil),
        ParameterCase(name: "max-keys=-1", query: [("max-keys", "-1")], maxKeys: nil),
        ParameterCase(name: "max-keys=2.5", query: [("max-keys", "2.5")], maxKeys: nil),
        ParameterCase(name: "max-keys empty", query: [("max-keys", "")], maxKeys: nil),
        ParameterCase(name: "max-keys=99999999999999999999", query: [("max-keys", "99999999999999999999")], maxKeys: nil),
        ParameterCase(name: "v2 max-keys=abc", query: [("list-type", "2"), ("max-keys", "abc")], maxKeys: nil),
        ParameterCase(name: "list-type=3", query: [("list-type", "3")], maxKeys: nil),
        ParameterCase(name: "encoding-type=base64", query: [("encoding-type", "base64")], maxKeys: nil),
        ParameterCase(name: "continuation token not base64", query: [("list-type", "2"), ("continuation-token", "!!!")], maxKeys: nil),
        ParameterCase(name: "max-keys=3", query: [("max-keys", "3")], maxKeys: "3"),
        ParameterCase(name: "max-keys above the page limit", query: [("list-type", "2"), ("max-keys", "5000")],
                      maxKeys: String(Limits.maxListKeys)),
        ParameterCase(name: "no max-keys", query: [("list-type", "2")], maxKeys: String(Limits.maxListKeys)),
    ]

    @Test(arguments: parameters)
    func parametersAreValidated(_ test: ParameterCase) async throws {
        try await withTestServer { client, store in
            try await Self.seed(client, store)
            let response = try await client.send(.get, "/list", query: test.query)
            guard let maxKeys = test.maxKeys else {
                expectS3Error(response, .badRequest, "InvalidArgument", resource: "/list")
                return
            }
            #expect(response.status == .ok)
            #expect(response.xml?.text("MaxKeys") == maxKeys)
            #expect(response.xml?.all("Contents").count == min(Int(maxKeys)!, Self.keys.count))
        }
    }
}
