import Foundation
import Testing
@testable import StowageS3

/// Every refusal of `SigV4Verifier`, one row per case, with the S3 code and HTTP status.
/// The base requests are AWS's GET-with-Range and presigned examples, valid as they stand.
@Suite struct SigV4VerifierErrorTests {
    /// `isBlank` says what `trimmingCharacters(in: .whitespaces).isEmpty` says (the
    /// Authorization header's "no credentials" test), ASCII fast, Unicode spaces too.
    @Test(arguments: ["", " ", "\t \t", "AWS4-HMAC-SHA256 Credential=x", " x ", "\u{00A0}", " \u{2003} ", "é", " é"])
    func blankIsWhatTrimmingSays(_ value: String) {
        #expect(value.isBlank == value.trimmingCharacters(in: .whitespaces).isEmpty)
        #expect(value[...].isBlank == value.isBlank)
    }

    struct Case: Sendable, CustomTestStringConvertible {
        let testDescription: String
        let rawQuery: String
        let headers: [(name: String, value: String)]
        let now: Date
        let code: S3ProtocolError.Code

        init(_ description: String, query: String = "", headers: [(name: String, value: String)],
             now: Date = AWSExample.signedAt, _ code: S3ProtocolError.Code) {
            self.testDescription = description
            self.rawQuery = query
            self.headers = headers
            self.now = now
            self.code = code
        }
    }

    static let signature = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    static let signedHeaders = "host;range;x-amz-content-sha256;x-amz-date"
    static let baseHeaders: [(name: String, value: String)] = [
        (name: "Host", value: "examplebucket.s3.amazonaws.com"),
        (name: "Range", value: "bytes=0-9"),
        (name: "x-amz-content-sha256", value: AWSExample.emptySHA256),
        (name: "x-amz-date", value: "20130524T000000Z"),
    ]

    static func headers(authorization: String?, replacing name: String? = nil,
                        with value: String? = nil) -> [(name: String, value: String)] {
        var result = baseHeaders.filter { $0.name != name }
        if let name, let value { result.append((name: name, value: value)) }
        if let authorization { result.append((name: "Authorization", value: authorization)) }
        return result
    }

    static func authorization(credential: String = AWSExample.credentialScope, signedHeaders: String = signedHeaders,
                              signature: String = signature) -> String {
        "AWS4-HMAC-SHA256 Credential=\(credential), SignedHeaders=\(signedHeaders), Signature=\(signature)"
    }

    static let valid = authorization()

    static let headerCases: [Case] = [
        Case("no authentication at all", headers: headers(authorization: nil), .accessDenied),
        Case("header and query authentication together", query: "X-Amz-Algorithm=AWS4-HMAC-SHA256",
             headers: headers(authorization: valid), .invalidArgument),
        Case("SigV2 header", headers: headers(authorization: "AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg="),
             .invalidRequest),
        Case("SigV2 presigned URL", query: "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1369353600&Signature=abc",
             headers: headers(authorization: nil), .invalidRequest),
        Case("another algorithm", headers: headers(authorization: "AWS4-HMAC-SHA512 Credential=x, SignedHeaders=host, Signature=y"),
             .authorizationHeaderMalformed),
        Case("algorithm only", headers: headers(authorization: "AWS4-HMAC-SHA256"), .authorizationHeaderMalformed),
        Case("no Signature field",
             headers: headers(authorization: "AWS4-HMAC-SHA256 Credential=\(AWSExample.credentialScope), SignedHeaders=host"),
             .authorizationHeaderMalformed),
        Case("field without =", headers: headers(authorization: valid + ", Extra"), .authorizationHeaderMalformed),
        Case("field given twice", headers: headers(authorization: valid + ", Signature=\(signature)"),
             .authorizationHeaderMalformed),
        Case("credential without scope", headers: headers(authorization: authorization(credential: "AKIAIOSFODNN7EXAMPLE")),
             .authorizationHeaderMalformed),
        Case("credential for another service",
             headers: headers(authorization: authorization(credential: "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/ec2/aws4_request")),
             .authorizationHeaderMalformed),
        Case("credential with another terminator",
             headers: headers(authorization: authorization(credential: "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws5_request")),
             .authorizationHeaderMalformed),
        Case("credential with an empty region",
             headers: headers(authorization: authorization(credential: "AKIAIOSFODNN7EXAMPLE/20130524//s3/aws4_request")),
             .authorizationHeaderMalformed),
        Case("credential date is not the request date",
             headers: headers(authorization: authorization(credential: "AKIAIOSFODNN7EXAMPLE/20130523/us-east-1/s3/aws4_request")),
             .authorizationHeaderMalformed),
        Case("host is not signed",
             headers: headers(authorization: authorization(signedHeaders: "range;x-amz-content-sha256;x-amz-date")),
             .authorizationHeaderMalformed),
        Case("empty signed header name",
             headers: headers(authorization: authorization(signedHeaders: "host;;range;x-amz-content-sha256;x-amz-date")),
             .authorizationHeaderMalformed),
        Case("no x-amz-date and no Date", headers: headers(authorization: valid, replacing: "x-amz-date"), .accessDenied),
        Case("x-amz-date not ISO 8601 basic",
             headers: headers(authorization: valid, replacing: "x-amz-date", with: "2013-05-24T00:00:00Z"), .accessDenied),
        Case("no x-amz-content-sha256", headers: headers(authorization: valid, replacing: "x-amz-content-sha256"),
             .invalidRequest),
        Case("x-amz-content-sha256 neither a hash nor a mode",
             headers: headers(authorization: valid, replacing: "x-amz-content-sha256", with: "STREAMING-PAYLOAD"),
             .invalidArgument),
        Case("x-amz-content-sha256 a short hash",
             headers: headers(authorization: valid, replacing: "x-amz-content-sha256", with: "e3b0c44298fc1c14"),
             .invalidArgument),
        Case("unknown access key",
             headers: headers(authorization: authorization(credential: "AKIANOBODY/20130524/us-east-1/s3/aws4_request")),
             .invalidAccessKeyId),
        Case("clock 16 minutes ahead", headers: headers(authorization: valid),
             now: AWSExample.signedAt.addingTimeInterval(16 * 60), .requestTimeTooSkewed),
        Case("wrong signature", headers: headers(authorization: authorization(signature: String(repeating: "0", count: 64))),
             .signatureDoesNotMatch),
        Case("tampered signed header", headers: headers(authorization: valid, replacing: "Range", with: "bytes=0-10"),
             .signatureDoesNotMatch),
    ]

    static let presignedQuery = SigV4AWSExampleTests.presignedQuery

    static func presigned(replacing name: String, with value: String?) -> String {
        var fields = presignedQuery.split(separator: "&").filter { !$0.hasPrefix(name + "=") }.map(String.init)
        if let value { fields.append("\(name)=\(value)") }
        return fields.joined(separator: "&")
    }

    static let presignedHeaders: [(name: String, value: String)] = [(name: "Host", value: "examplebucket.s3.amazonaws.com")]

    static let presignedCases: [Case] = [
        Case("no X-Amz-Signature", query: presigned(replacing: "X-Amz-Signature", with: nil), headers: presignedHeaders,
             .authorizationQueryParametersError),
        Case("no X-Amz-Expires", query: presigned(replacing: "X-Amz-Expires", with: nil), headers: presignedHeaders,
             .authorizationQueryParametersError),
        Case("another algorithm", query: presigned(replacing: "X-Amz-Algorithm", with: "AWS4-HMAC-SHA512"),
             headers: presignedHeaders, .authorizationQueryParametersError),
        Case("expiry over a week", query: presigned(replacing: "X-Amz-Expires", with: "604801"), headers: presignedHeaders,
             .authorizationQueryParametersError),
        Case("negative expiry", query: presigned(replacing: "X-Amz-Expires", with: "-1"), headers: presignedHeaders,
             .authorizationQueryParametersError),
        Case("expiry not a number", query: presigned(replacing: "X-Amz-Expires", with: "soon"), headers: presignedHeaders,
             .authorizationQueryParametersError),
        Case("X-Amz-Date not ISO 8601 basic", query: presigned(replacing: "X-Amz-Date", with: "2013-05-24"),
             headers: presignedHeaders, .authorizationQueryParametersError),
        Case("X-Amz-Date twice", query: presignedQuery + "&X-Amz-Date=20130524T000000Z", headers: presignedHeaders,
             .authorizationQueryParametersError),
        Case("credential for another service",
             query: presigned(replacing: "X-Amz-Credential", with: "AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fsqs%2Faws4_request"),
             headers: presignedHeaders, .authorizationQueryParametersError),
        Case("unknown access key",
             query: presigned(replacing: "X-Amz-Credential", with: "AKIANOBODY%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"),
             headers: presignedHeaders, .invalidAccessKeyId),
        Case("expired", query: presignedQuery, headers: presignedHeaders,
             now: AWSExample.signedAt.addingTimeInterval(86401), .accessDenied),
        Case("not valid yet", query: presignedQuery, headers: presignedHeaders,
             now: AWSExample.signedAt.addingTimeInterval(-16 * 60), .accessDenied),
        Case("tampered host", query: presignedQuery, headers: [(name: "Host", value: "otherbucket.s3.amazonaws.com")],
             .signatureDoesNotMatch),
    ]

    @Test(arguments: headerCases + presignedCases)
    func refusal(_ testCase: Case) {
        let error = protocolError {
            _ = try SigV4Verifier(credentials: AWSExample.credentials).verify(
                method: "GET", rawPath: "/test.txt", rawQuery: testCase.rawQuery, headers: testCase.headers, now: testCase.now)
        }
        #expect(error?.code == testCase.code)
        #expect(error?.status == testCase.code.status)
        #expect(error?.message.isEmpty == false)
    }

    /// The status of each code, as S3 answers it.
    @Test(arguments: [
        (S3ProtocolError.Code.accessDenied, 403), (.invalidAccessKeyId, 403), (.signatureDoesNotMatch, 403),
        (.requestTimeTooSkewed, 403), (.authorizationHeaderMalformed, 400), (.authorizationQueryParametersError, 400),
        (.invalidArgument, 400), (.invalidRequest, 400), (.missingContentLength, 411), (.incompleteBody, 400),
        (.contentSHA256Mismatch, 400), (.malformedTrailer, 400),
    ] as [(S3ProtocolError.Code, Int)])
    func codeStatus(_ code: S3ProtocolError.Code, _ status: Int) {
        #expect(code.status == status)
    }

    /// The base request is valid: the rows above fail for their one change only.
    @Test func baseRequestsVerify() throws {
        let verifier = SigV4Verifier(credentials: AWSExample.credentials)
        _ = try verifier.verify(method: "GET", rawPath: "/test.txt", rawQuery: "",
                                headers: Self.headers(authorization: Self.valid), now: AWSExample.signedAt)
        _ = try verifier.verify(method: "GET", rawPath: "/test.txt", rawQuery: Self.presignedQuery,
                                headers: Self.presignedHeaders, now: AWSExample.signedAt)
    }

    /// Any region in the scope is accepted; the signature is checked against that region.
    @Test func scopeRegionIsTheClients() throws {
        let fixture = try #require(ClientRequestFixture.all.first { $0.name.hasSuffix("presigned get") })
        let result = try fixture.verify(credentials: S3Credentials(
            [ClientRequestFixture.accessKey: ClientRequestFixture.secretKey], region: "us-east-1"))
        #expect(result.signing?.scope == "20260102/eu-west-3/s3/aws4_request")
    }
}
