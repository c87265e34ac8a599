import Foundation
import HTTPTypes
import HummingbirdTesting
import Stowage
import Testing
@testable import StowageS3

/// GetObject and HeadObject: ranges, the "Conditional reads" table of S3-SEMANTICS.md, and
/// `response-*` overrides. The object is `0123456789`.
@Suite struct GetObjectTests {
    static let etag = "\"781e5e245d69b566979b86e28d23f2c7\""

    struct RangeCase: Sendable, CustomTestStringConvertible {
        let range: String
        /// The bytes served, and Content-Range when partial; nil for 416.
        let body: String?
        let contentRange: String?
        var testDescription: String { range }
    }

    static let ranges: [RangeCase] = [
        RangeCase(range: "bytes=0-4", body: "01234", contentRange: "bytes 0-4/10"),
        RangeCase(range: "bytes=3-3", body: "3", contentRange: "bytes 3-3/10"),
        RangeCase(range: "bytes=7-", body: "789", contentRange: "bytes 7-9/10"),
        RangeCase(range: "bytes=-3", body: "789", contentRange: "bytes 7-9/10"),
        RangeCase(range: "bytes=-30", body: "0123456789", contentRange: "bytes 0-9/10"),
        RangeCase(range: "bytes=5-100", body: "56789", contentRange: "bytes 5-9/10"),
        RangeCase(range: "bytes=10-", body: nil, contentRange: nil),
        RangeCase(range: "bytes=10-20", body: nil, contentRange: nil),
        RangeCase(range: "bytes=-0", body: nil, contentRange: nil),
        // Forms S3 ignores: the whole object, 200.
        RangeCase(range: "bytes=4-2", body: "0123456789", contentRange: nil),
        RangeCase(range: "bytes=0-1,4-5", body: "0123456789", contentRange: nil),
        RangeCase(range: "items=0-1", body: "0123456789", contentRange: nil),
    ]

    @Test(arguments: ranges)
    func range(_ test: RangeCase) async throws {
        try await withTestServer { client, store in
            try await store.createBucket("get")
            try await client.put("get", "digits", "0123456789")
            let response = try await client.send(.get, "/get/digits", headers: [("Range", test.range)])
            guard let body = test.body else {
                expectS3Error(response, .rangeNotSatisfiable, "InvalidRange", resource: "/get/digits")
                return
            }
            #expect(response.status == (test.contentRange == nil ? .ok : .partialContent))
            #expect(response.text == body)
            #expect(response.headers[.contentLength] == String(body.utf8.count))
            #expect(response.headers[.contentRange] == test.contentRange)
            #expect(response.headers[.acceptRanges] == "bytes")
            #expect(response.headers[.eTag] == Self.etag)
        }
    }

    struct ConditionCase: Sendable, CustomTestStringConvertible {
        let name: String
        let headers: [(name: String, value: String)]
        let status: HTTPResponse.Status
        let condition: String?
        var testDescription: String { name }
    }

    static let past = "Sat, 01 Jan 2000 00:00:00 GMT"
    static let future = "Fri, 01 Jan 2100 00:00:00 GMT"

    /// "Conditional reads"; `LAST-MODIFIED` stands for the object's Last-Modified.
    static let conditions: [ConditionCase] = [
        ConditionCase(name: "If-Match equal", headers: [("If-Match", etag)], status: .ok, condition: nil),
        ConditionCase(name: "If-Match bare ETag", headers: [("If-Match", "781e5e245d69b566979b86e28d23f2c7")], status: .ok, condition: nil),
        ConditionCase(name: "If-Match in a list", headers: [("If-Match", "\"x\", \(etag)")], status: .ok, condition: nil),
        ConditionCase(name: "If-Match differs", headers: [("If-Match", "\"x\"")], status: .preconditionFailed, condition: "If-Match"),
        ConditionCase(name: "If-Unmodified-Since past", headers: [("If-Unmodified-Since", past)],
                      status: .preconditionFailed, condition: "If-Unmodified-Since"),
        ConditionCase(name: "If-Unmodified-Since past, If-Match true",
                      headers: [("If-Match", etag), ("If-Unmodified-Since", past)], status: .ok, condition: nil),
        ConditionCase(name: "If-None-Match equal", headers: [("If-None-Match", etag)], status: .notModified, condition: nil),
        ConditionCase(name: "If-None-Match *", headers: [("If-None-Match", "*")], status: .notModified, condition: nil),
        ConditionCase(name: "If-None-Match differs", headers: [("If-None-Match", "\"x\"")], status: .ok, condition: nil),
        ConditionCase(name: "If-Modified-Since Last-Modified", headers: [("If-Modified-Since", "LAST-MODIFIED")],
                      status: .notModified, condition: nil),
        ConditionCase(name: "If-Modified-Since past", headers: [("If-Modified-Since", past)], status: .ok, condition: nil),
        ConditionCase(name: "If-Modified-Since future is ignored", headers: [("If-Modified-Since", future)], status: .ok, condition: nil),
        ConditionCase(name: "412 before 304", headers: [("If-Match", "\"x\""), ("If-None-Match", etag)],
                      status: .preconditionFailed, condition: "If-Match"),
    ]

    @Test(arguments: conditions, [HTTPRequest.Method.get, .head])
    func conditionalRead(_ test: ConditionCase, _ method: HTTPRequest.Method) async throws {
        try await withTestServer { client, store in
            try await store.createBucket("get")
            try await client.put("get", "digits", "0123456789")
            let lastModified = try #require(try await client.send(.head, "/get/digits").headers[.lastModified])
            let headers = test.headers.map { (name: $0.name, value: $0.value == "LAST-MODIFIED" ? lastModified : $0.value) }
            let response = try await client.send(method, "/get/digits", headers: headers)
            #expect(response.status == test.status, "\(response.text)")
            #expect(response.requestID != nil)
            switch test.status {
            case .notModified:
                #expect(response.body.readableBytes == 0)
                #expect(response.headers[.eTag] == Self.etag)
                #expect(response.headers[.lastModified] == lastModified)
            case .preconditionFailed where method == .get:
                expectS3Error(response, .preconditionFailed, "PreconditionFailed", resource: "/get/digits",
                              condition: test.condition)
            case .preconditionFailed:
                #expect(response.body.readableBytes == 0)
            default:
                #expect(response.text == (method == .get ? "0123456789" : ""))
                #expect(response.headers[.contentLength] == "10")
            }
        }
    }

    @Test func responseOverridesReplaceStoredHeaders() async throws {
        try await withTestServer { client, store in
            try await store.createBucket("get")
            try await client.put("get", "page", "<p>hi</p>", headers: [("Content-Type", "text/html"), ("Cache-Control", "max-age=60")])
            let overridden = try await client.send(.get, "/get/page", query: [
                ("response-content-type", "application/json"),
                ("response-content-disposition", "attachment; filename=\"page one.html\""),
                ("response-cache-control", "no-cache"),
                ("response-content-language", "en-GB"),
            ])
            #expect(overridden.status == .ok)
            #expect(overridden.text == "<p>hi</p>")
            #expect(overridden.headers[.contentType] == "application/json")
            #expect(overridden.headers[.contentDisposition] == "attachment; filename=\"page one.html\"")
            #expect(overridden.headers[.cacheControl] == "no-cache")
            #expect(overridden.headers[.contentLanguage] == "en-GB")

            // Overrides change one answer, not the object.
            let plain = try await client.send(.get, "/get/page")
            #expect(plain.headers[.contentType] == "text/html")
            #expect(plain.headers[.cacheControl] == "max-age=60")
            #expect(plain.headers[.contentDisposition] == nil)
            let head = try await client.send(.head, "/get/page", query: [("response-content-type", "text/plain")])
            #expect(head.headers[.contentType] == "text/plain")
        }
    }
}
