import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Stowage
import Testing
@testable import StowageS3

/// The error document of S3-SEMANTICS.md ("Error body") and `S3Error.engineCodes`, the one
/// table from engine errors to S3's (STYLE.md: "a test walks that table").
@Suite struct ErrorDocumentTests {
    struct Row: Sendable, CustomTestStringConvertible {
        let code: StoreError.Code
        let status: HTTPResponse.Status
        let s3Code: String
        var testDescription: String { "\(code.name) → \(status.code) \(s3Code)" }
    }

    static let rows = S3Error.engineCodes.map { Row(code: $0.key, status: $0.value.0, s3Code: $0.value.1) }
        .sorted { $0.code.name < $1.code.name }

    @Test func tableCoversEveryEngineCode() {
        #expect(Set(StoreError.Code.allCases) == Set(S3Error.engineCodes.keys))
        // The engine names client errors after S3's own codes; the table keeps them.
        // TransactionTooLarge is InvalidRequest on the wire; the engine tells it apart so
        // that DeleteObjects can split a batch etcd refused as too large.
        for row in Self.rows where row.status.code < 500 && row.code != .invalidKey && row.code != .notModified
            && row.code != .transactionTooLarge {
            #expect(row.s3Code == row.code.name, "\(row.code)")
        }
    }

    @Test(arguments: rows)
    func rowRendersAsAnErrorDocument(_ row: Row) throws {
        let condition = row.status == .preconditionFailed ? "If-None-Match" : nil
        let message = "engine says <\(row.code.name)> & more"
        var error = S3Error.from(StoreError(row.code, message, condition: condition))
        error.resource = "/bucket/a key & <more>"
        error.requestID = "0123456789ABCDEF"
        error.hostID = "aG9zdA=="

        let response = error.response(isHead: false)
        #expect(response.status == row.status)
        let head = error.response(isHead: true)
        #expect(head.status == row.status)
        #expect(head.body.contentLength == 0)
        guard row.status != .notModified else {
            #expect(response.body.contentLength == 0)
            return
        }
        let xml = error.xml()
        #expect(response.body.contentLength == xml.utf8.count)
        #expect(response.headers[.contentType] == "application/xml")
        #expect(xml.hasPrefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"))
        let document = try #require(XMLNode.parse(Data(xml.utf8)))
        #expect(document.name == "Error")
        #expect(document.text("Code") == row.s3Code)
        #expect(document.text("Message") == message)
        #expect(document.text("Resource") == "/bucket/a key & <more>")
        #expect(document.text("RequestId") == "0123456789ABCDEF")
        #expect(document.text("HostId") == "aG9zdA==")
        #expect(document.text("Condition") == condition)
    }

    // MARK: Through the router

    struct Reply: Sendable, CustomTestStringConvertible {
        let name: String
        let request: S3TestRequest
        let status: HTTPResponse.Status
        /// The error code, nil for a success or a body-less answer.
        let code: String?
        let condition: String?
        var testDescription: String { name }

        init(_ name: String, _ method: HTTPRequest.Method, _ path: String, query: [(name: String, value: String?)] = [],
             headers: [(name: String, value: String)] = [], body: String? = nil, signed: Bool = true,
             _ status: HTTPResponse.Status, _ code: String? = nil, condition: String? = nil) {
            self.name = name
            request = S3TestRequest(method: method, path: path, query: query, headers: headers,
                                    body: body.map { Array($0.utf8) }, signer: signed ? .standard : nil)
            self.status = status
            self.code = code
            self.condition = condition
        }
    }

    /// Successes and the errors a request can provoke (bucket `ids` holds `k` = "value").
    static let replies: [Reply] = [
        Reply("ListBuckets", .get, "/", .ok),
        Reply("GetObject", .get, "/ids/k", .ok),
        Reply("HeadObject", .head, "/ids/k", .ok),
        Reply("PutObject", .put, "/ids/new", body: "new", .ok),
        Reply("DeleteObject", .delete, "/ids/gone", .noContent),
        Reply("304", .get, "/ids/k", headers: [("If-None-Match", "\"2063c1608d6e0baf80249c42e2be5804\"")], .notModified),
        Reply("NoSuchKey", .get, "/ids/missing", .notFound, "NoSuchKey"),
        Reply("NoSuchBucket", .get, "/nobucket/k", .notFound, "NoSuchBucket"),
        Reply("NoSuchBucket on a listing", .get, "/nobucket", .notFound, "NoSuchBucket"),
        // us-east-1 (the router tests' region) keeps S3's legacy 200 for a bucket the caller
        // owns; other regions answer 409 BucketAlreadyOwnedByYou (test_wire_details.py).
        Reply("CreateBucket of an owned bucket in us-east-1", .put, "/ids", .ok, nil),
        Reply("BucketNotEmpty", .delete, "/ids", .conflict, "BucketNotEmpty"),
        Reply("InvalidBucketName", .put, "/Bad_Bucket", .badRequest, "InvalidBucketName"),
        Reply("GET If-Match", .get, "/ids/k", headers: [("If-Match", "\"other\"")], .preconditionFailed,
              "PreconditionFailed", condition: "If-Match"),
        Reply("PUT If-None-Match", .put, "/ids/k", headers: [("If-None-Match", "*")], body: "x", .preconditionFailed,
              "PreconditionFailed", condition: "If-None-Match"),
        Reply("PUT If-Match on a missing key", .put, "/ids/missing", headers: [("If-Match", "\"abc\"")], body: "x",
              .notFound, "NoSuchKey"),
        Reply("PUT If-None-Match other than *", .put, "/ids/k", headers: [("If-None-Match", "\"abc\"")], body: "x",
              .badRequest, "InvalidRequest"),
        Reply("PUT both conditions", .put, "/ids/k", headers: [("If-Match", "\"abc\""), ("If-None-Match", "*")], body: "x",
              .notImplemented, "NotImplemented"),
        Reply("rename source missing", .put, "/ids/to", query: [("renameObject", nil)],
              headers: [("x-amz-rename-source", "nothing")], .notFound, "NoSuchKey"),
        Reply("rename onto itself", .put, "/ids/k", query: [("renameObject", nil)],
              headers: [("x-amz-rename-source", "k")], .badRequest, "InvalidRequest"),
        Reply("rename token reused", .put, "/ids/other", query: [("renameObject", nil)],
              headers: [("x-amz-rename-source", "k"), ("x-amz-client-token", "token-1")], .badRequest,
              "IdempotencyParameterMismatch"),
        Reply("InvalidRange", .get, "/ids/k", headers: [("Range", "bytes=100-")], .rangeNotSatisfiable, "InvalidRange"),
        Reply("KeyTooLongError", .get, "/ids/" + String(repeating: "k", count: Limits.maxKeyBytes + 1), .badRequest,
              "KeyTooLongError"),
        Reply("NotImplemented", .get, "/ids/k", query: [("torrent", nil)], .notImplemented, "NotImplemented"),
        Reply("AccessDenied", .get, "/ids/k", signed: false, .forbidden, "AccessDenied"),
        Reply("HEAD NoSuchKey", .head, "/ids/missing", .notFound),
        Reply("HEAD NoSuchBucket", .head, "/nobucket", .notFound),
        Reply("HEAD If-Match", .head, "/ids/k", headers: [("If-Match", "\"other\"")], .preconditionFailed),
        Reply("HEAD 304", .head, "/ids/k", headers: [("If-None-Match", "*")], .notModified),
        Reply("HEAD unsigned", .head, "/ids/k", signed: false, .forbidden),
    ]

    /// S3-SEMANTICS.md: "Every response carries `x-amz-request-id`"; the id is the error
    /// document's `RequestId`, and HEAD errors have no body.
    @Test(arguments: replies)
    func everyResponseCarriesItsRequestID(_ reply: Reply) async throws {
        try await withTestServer { client, store in
            try await store.createBucket("ids")
            try await client.put("ids", "k", "value")
            // Uses the token with other parameters, so that reusing it is a mismatch.
            try await client.put("ids", "src", "src")
            let first = try await client.send(.put, "/ids/first", query: [("renameObject", nil)],
                                              headers: [("x-amz-rename-source", "src"), ("x-amz-client-token", "token-1")])
            #expect(first.status == .ok)

            let response = try await client.send(reply.request)
            let id = try #require(response.requestID)
            #expect(id.count == 16 && id.allSatisfy { $0.isHexDigit && !$0.isLowercase }, "\(id)")
            #expect(response.headers["x-amz-id-2"]?.isEmpty == false)
            #expect(response.headers[.server] == "Stowage")
            #expect(first.requestID != id)
            if let code = reply.code {
                let resource = reply.request.path.count > 100 ? nil : reply.request.path
                expectS3Error(response, reply.status, code, resource: resource, condition: reply.condition)
            } else {
                #expect(response.status == reply.status, "\(response.text)")
                if reply.request.method == .head || reply.status == .notModified {
                    #expect(response.body.readableBytes == 0)
                }
            }
            if reply.status == .notModified {
                #expect(response.headers[.eTag] == "\"2063c1608d6e0baf80249c42e2be5804\"")
                let stored = try store.headObject(bucket: "ids", key: "k")
                #expect(response.headers[.lastModified] == HTTPDate.format(milliseconds: stored.lastModifiedMilliseconds))
            }
        }
    }
}
