import Foundation
import HTTPTypes
import Testing
@testable import StowageS3

/// The router tests' signer against botocore 1.43's `S3SigV4Auth` (same credentials, host
/// `localhost`, 2025-01-02T03:04:05Z): the `Authorization` values below are botocore's.
@Suite struct SignerTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let request: S3TestRequest
        let authorization: String
        var testDescription: String { "\(request.method) \(request.uri)" }
    }

    static let signedAt = Date(timeIntervalSince1970: 1_735_787_045)
    static let scope = "Credential=AKIASTOWAGEROUTER001/20250102/us-east-1/s3/aws4_request"

    static let cases: [Case] = [
        Case(request: S3TestRequest(method: .put, path: "/bucket/a%20b%2Bc/%E6%97%A5.txt", query: [("x-id", "PutObject")],
                                    headers: [("Content-Type", "text/plain"), ("x-amz-meta-colour", "blue")],
                                    body: Array("hello".utf8)),
             authorization: "AWS4-HMAC-SHA256 \(scope), SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-meta-colour, Signature=224ad4bac8102c2fd27991d5054a76c614329bcf2aef76fe746108844a3fe527"),
        Case(request: S3TestRequest(method: .get, path: "/bucket", query: [("list-type", "2"), ("prefix", "a/b"), ("delimiter", "/")]),
             authorization: "AWS4-HMAC-SHA256 \(scope), SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=2c5aad46f207e8f9cd224fadfae928dd99886e93afa35a57960c840b2acdc158"),
        Case(request: S3TestRequest(method: .post, path: "/bucket", query: [("delete", nil)], body: Array("<Delete/>".utf8)),
             authorization: "AWS4-HMAC-SHA256 \(scope), SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=54c35dfe2b06df37db02caf9406dd0e49eba0d05fae2c544020109f62415cdf6"),
    ]

    @Test(arguments: cases)
    func matchesBotocore(_ test: Case) {
        let fields = test.request.fields(at: Self.signedAt)
        #expect(fields["x-amz-date"] == "20250102T030405Z")
        #expect(fields["x-amz-content-sha256"] == SigV4SigningContext.sha256Hex(test.request.body ?? []))
        #expect(fields[.authorization] == test.authorization)
    }
}
