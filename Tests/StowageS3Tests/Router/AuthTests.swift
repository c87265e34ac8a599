import Foundation
import HTTPTypes
import HummingbirdTesting
import Stowage
import Testing
@testable import StowageS3

/// SigV4 at the router: a request that does not authenticate is refused before it reaches
/// a handler, so nothing is written and nothing about the store is revealed.
@Suite struct AuthTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let request: S3TestRequest
        let status: HTTPResponse.Status
        let code: String
        var testDescription: String { name }
    }

    static func put(signer: TestSigner? = .standard, payload: S3TestRequest.Payload = .signed, signedAt: Date? = nil,
                    unsignedHeaders: [(name: String, value: String)] = []) -> S3TestRequest {
        S3TestRequest(method: .put, path: "/auth/k", headers: [("Content-Type", "text/plain")], body: Array("secret".utf8),
                      payload: payload, signer: signer, signedAt: signedAt, unsignedHeaders: unsignedHeaders)
    }

    static let cases: [Case] = [
        Case(name: "unsigned", request: put(signer: nil), status: .forbidden, code: "AccessDenied"),
        Case(name: "wrong secret", request: put(signer: TestSigner(secretKey: "not/the/secret")),
             status: .forbidden, code: "SignatureDoesNotMatch"),
        Case(name: "unknown access key", request: put(signer: TestSigner(accessKey: "AKIANOBODY0000000001", secretKey: TestSigner.secretKey)),
             status: .forbidden, code: "InvalidAccessKeyId"),
        Case(name: "signed an hour ago", request: put(signedAt: Date().addingTimeInterval(-3600)),
             status: .forbidden, code: "RequestTimeTooSkewed"),
        Case(name: "x-amz header added after signing", request: put(unsignedHeaders: [("x-amz-meta-added", "1")]),
             status: .forbidden, code: "AccessDenied"),
        Case(name: "signed header repeated after signing", request: put(unsignedHeaders: [("Content-Type", "text/html")]),
             status: .forbidden, code: "SignatureDoesNotMatch"),
        Case(name: "body differs from its signed SHA-256",
             request: put(payload: .literal("d9298a10d1b0735837dc4bd85dac641b0f3cef27a47e5d53a54f2f3f5b2fcffa")),
             status: .badRequest, code: "XAmzContentSHA256Mismatch"),
    ]

    @Test(arguments: cases)
    func refusedRequestsStoreNothing(_ test: Case) async throws {
        try await withTestServer { client, store in
            try await store.createBucket("auth")
            let response = try await client.send(test.request)
            expectS3Error(response, test.status, test.code, resource: "/auth/k")
            #expect(!store.has("auth", "k"))
            #expect(try store.listObjects(bucket: "auth").objects.isEmpty)
        }
    }

    /// An unsigned request learns nothing: a missing bucket is 403 like an existing one,
    /// and no listing or object is served.
    @Test(arguments: [
        (HTTPRequest.Method.get, "/"), (.get, "/auth"), (.get, "/auth/k"), (.get, "/missing/k"),
        (.delete, "/auth/k"), (.delete, "/auth"), (.post, "/auth?delete"),
    ])
    func unsignedReadsAndDeletesAreDenied(_ method: HTTPRequest.Method, _ path: String) async throws {
        try await withTestServer { client, store in
            try await store.createBucket("auth")
            try await client.put("auth", "k", "secret")
            let parts = path.split(separator: "?", maxSplits: 1)
            let query: [(name: String, value: String?)] = parts.count > 1 ? [(String(parts[1]), nil)] : []
            let response = try await client.send(method, String(parts[0]), query: query,
                                                 body: method == .post ? Array("<Delete><Object><Key>k</Key></Object></Delete>".utf8) : nil,
                                                 signer: nil)
            expectS3Error(response, .forbidden, "AccessDenied")
            #expect(!response.text.contains("secret"))
            #expect(try await store.text("auth", "k") == "secret")
            #expect(try store.headBucket("auth").name == "auth")
        }
    }
}
