import Foundation
import StowageS3
import Testing
@testable import StowageBench

/// The bench's signer against three oracles: AWS's published example, botocore's
/// `SigV4Auth`, and StowageS3's `SigV4Signer` (what the router tests sign with).
@Suite struct BenchSignerTests {
    static let accessKey = "AKIAIOSFODNN7EXAMPLE"
    static let secretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    static let emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// The S3 API reference's "Example: List Objects" (GET /?max-keys=2&prefix=J).
    @Test func awsListObjectsExample() {
        var signer = BenchSigner(accessKey: Self.accessKey, secretKey: Self.secretKey, region: "us-east-1")
        let (date, authorization) = signer.sign(method: "GET", canonicalPath: "/", canonicalQuery: "max-keys=2&prefix=J",
                                                host: "examplebucket.s3.amazonaws.com", payloadHash: Self.emptySHA256,
                                                secondsSince1970: 1_369_353_600)
        #expect(date == "20130524T000000Z")
        #expect(authorization == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            + "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
            + "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")
    }

    /// botocore 1.43's SigV4Auth on the bench's RenameObject, UNSIGNED-PAYLOAD, at 2026-12-03T15:52:03Z.
    @Test func botocoreRenameObject() {
        var signer = BenchSigner(accessKey: Self.accessKey, secretKey: Self.secretKey, region: "us-east-1")
        let (date, authorization) = signer.sign(
            method: "PUT", canonicalPath: "/bench/bench/obj-7.moved", canonicalQuery: "renameObject=", host: "127.0.0.1:9000",
            amzHeaders: [("x-amz-rename-source", "/bench/bench/obj-7")], payloadHash: BenchSigner.unsignedPayload,
            secondsSince1970: 1_796_313_123)
        #expect(date == "20261203T155203Z")
        #expect(authorization.hasSuffix("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-rename-source, "
            + "Signature=91eaf1fec0139bd9975812d519d83f7b13b38a3fb8386dab83bf8476f64286f3"))
    }

    /// The cached signing key is the day's: a request on the next day signs with the new one.
    @Test(arguments: [(Int64(1_796_313_123), "list-type=2&max-keys=100&prefix=bench%2F"),
                      (Int64(1_796_313_123 + 86_400), "uploads="),
                      (Int64(951_782_400), "partNumber=3&uploadId=abc%2Bdef")])  // 2000-02-29, a leap day
    func agreesWithStowageS3Signer(seconds: Int64, query: String) {
        var signer = BenchSigner(accessKey: Self.accessKey, secretKey: Self.secretKey, region: "eu-west-1")
        let reference = SigV4Signer(accessKey: Self.accessKey, secretKey: Self.secretKey, region: "eu-west-1")
        for _ in 0..<2 {  // the second time from the caches
            let (date, authorization) = signer.sign(
                method: "PUT", canonicalPath: "/bench/a/b", canonicalQuery: query, host: "127.0.0.1:9000",
                amzHeaders: [("x-amz-copy-source", "/bench/a/c")], payloadHash: BenchSigner.unsignedPayload,
                secondsSince1970: seconds)
            let expected = reference.sign(method: "PUT", rawPath: "/bench/a/b", rawQuery: query, host: "127.0.0.1:9000",
                                          headers: [(name: "x-amz-copy-source", value: "/bench/a/c")],
                                          payload: BenchSigner.unsignedPayload, at: Date(timeIntervalSince1970: TimeInterval(seconds)))
            #expect(expected.first { $0.name == "x-amz-date" }?.value == date)
            #expect(expected.first { $0.name == "Authorization" }?.value == authorization)
        }
    }

    /// botocore 1.43's `S3SigV4QueryAuth` (expires 3600) at 2026-12-03T15:52:03Z.
    @Test(arguments: [("GET", "5f4dcec099c51137572a8d063019c71b3195073b33df21eb486d96b4f0e92dfd"),
                      ("PUT", "6a599b89a726c01f7371dbffc315b6603661804d44d1950f2224fd0469a00b06")])
    func botocorePresignedURL(method: String, signature: String) {
        var signer = BenchSigner(accessKey: Self.accessKey, secretKey: Self.secretKey, region: "us-east-1")
        let query = signer.presignedQuery(method: method, canonicalPath: "/bench/bench/obj-7", host: "127.0.0.1:9000",
                                          expiresSeconds: 3600, secondsSince1970: 1_796_313_123)
        #expect(query == "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20261203%2Fus-east-1%2Fs3"
            + "%2Faws4_request&X-Amz-Date=20261203T155203Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature="
            + signature)
    }

    /// The server's verifier takes the bench's presigned URL while it is valid, after a
    /// header-signed request on the same signer (their buffers are shared), and refuses it
    /// once expired.
    @Test func presignedURLPassesTheServersVerifier() throws {
        var signer = BenchSigner(accessKey: Self.accessKey, secretKey: Self.secretKey, region: "eu-west-1")
        let signedAt: Int64 = 951_782_400  // 2000-02-29
        _ = signer.sign(method: "GET", canonicalPath: "/bench/a", canonicalQuery: "", host: "127.0.0.1:9000",
                        payloadHash: BenchSigner.unsignedPayload, secondsSince1970: signedAt)
        let query = signer.presignedQuery(method: "HEAD", canonicalPath: "/bench/a/b", host: "127.0.0.1:9000",
                                          expiresSeconds: 60, secondsSince1970: signedAt)
        let verifier = SigV4Verifier(credentials: S3Credentials([Self.accessKey: Self.secretKey], region: "eu-west-1"))
        let headers = [(name: "host", value: "127.0.0.1:9000")]
        let authentication = try verifier.verify(method: "HEAD", rawPath: "/bench/a/b", rawQuery: query, headers: headers,
                                                 now: Date(timeIntervalSince1970: TimeInterval(signedAt + 59)))
        #expect(authentication.accessKey == Self.accessKey)
        #expect(throws: S3ProtocolError.self) {
            try verifier.verify(method: "HEAD", rawPath: "/bench/a/b", rawQuery: query, headers: headers,
                                now: Date(timeIntervalSince1970: TimeInterval(signedAt + 61)))
        }
        #expect(throws: S3ProtocolError.self) {  // signed for HEAD, sent as GET
            try verifier.verify(method: "GET", rawPath: "/bench/a/b", rawQuery: query, headers: headers,
                                now: Date(timeIntervalSince1970: TimeInterval(signedAt + 1)))
        }
    }

    @Test(arguments: [(Int64(0), "19700101T000000Z"), (Int64(951_782_400), "20000229T000000Z"),
                      (Int64(1_796_313_123), "20261203T155203Z"), (Int64(4_102_444_799), "20991231T235959Z")])
    func timestamps(seconds: Int64, expected: String) {
        #expect(BenchSigner.basicISO8601(seconds) == expected)
    }
}
