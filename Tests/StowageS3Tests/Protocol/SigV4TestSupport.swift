import Foundation
import Testing
@testable import StowageS3

/// A request as a client sent it, to verify as the server would.
struct ClientRequestFixture: Sendable, CustomTestStringConvertible {
    static let accessKey = "AKIASTOWAGETEST00001"
    static let secretKey = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYSTOWAGE"
    static let credentials = S3Credentials([accessKey: secretKey])

    let name: String
    let method: String
    /// The request target as received: path, then `?` and the query if any.
    let target: String
    let headers: [(name: String, value: String)]
    let body: String?

    init(name: String, method: String, target: String, headers: [(String, String)], body: String? = nil) {
        self.name = name
        self.method = method
        self.target = target
        self.headers = headers.map { (name: $0.0, value: $0.1) }
        self.body = body
    }

    var testDescription: String { name }

    var rawPath: String { String(target.prefix { $0 != "?" }) }

    var rawQuery: String {
        guard let question = target.firstIndex(of: "?") else { return "" }
        return String(target[target.index(after: question)...])
    }

    var isPresigned: Bool { rawQuery.contains("X-Amz-Signature=") }

    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// The time it was signed, from `x-amz-date`, `X-Amz-Date` or `Date`.
    var signedAt: Date {
        if let date = header("date"), header("x-amz-date") == nil {
            return SigV4Timestamp(rfc1123: date)!.date
        }
        let amzDate = header("x-amz-date") ?? SigV4Query(rawQuery).values("X-Amz-Date").first ?? ""
        return SigV4Timestamp(basicISO8601: amzDate)!.date
    }

    /// `X-Amz-Expires` of a presigned fixture.
    var expirySeconds: TimeInterval {
        TimeInterval(SigV4Query(rawQuery).values("X-Amz-Expires").first.flatMap { Int($0) } ?? 0)
    }

    func verify(now: Date? = nil, credentials: S3Credentials = Self.credentials,
                method: String? = nil, rawPath: String? = nil, rawQuery: String? = nil,
                headers: [(name: String, value: String)]? = nil) throws(S3ProtocolError) -> SigV4Authentication {
        try SigV4Verifier(credentials: credentials).verify(
            method: method ?? self.method, rawPath: rawPath ?? self.rawPath, rawQuery: rawQuery ?? self.rawQuery,
            headers: headers ?? self.headers, now: now ?? signedAt)
    }

    /// The headers with one value replaced (by case-insensitive name), or added.
    func headers(setting name: String, to value: String) -> [(name: String, value: String)] {
        var result = headers.filter { $0.name.lowercased() != name.lowercased() }
        result.append((name: name, value: value))
        return result
    }
}

/// The requests of AWS's "Signature Calculations for the Authorization Header" and
/// "Query String Authentication" pages (S3 API reference), credentials
/// AKIAIOSFODNN7EXAMPLE / wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY, 2013-05-24.
enum AWSExample {
    static let accessKey = "AKIAIOSFODNN7EXAMPLE"
    static let secretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    static let credentials = S3Credentials([accessKey: secretKey])
    static let credentialScope = "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"
    static let signedAt = SigV4Timestamp(basicISO8601: "20130524T000000Z")!.date
    static let emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    static func authorization(signedHeaders: String, signature: String) -> (name: String, value: String) {
        (name: "Authorization",
         value: "AWS4-HMAC-SHA256 Credential=\(credentialScope),SignedHeaders=\(signedHeaders),Signature=\(signature)")
    }

    /// PUT of 66,560 bytes of `a` as aws-chunked: a 65,536-byte chunk, a 1,024-byte one, and
    /// the final empty one.
    static let chunkSizes = [65536, 1024, 0]
    static let chunkedSeedSignature = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
    static let chunkSignatures = ["ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
                                  "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
                                  "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"]
    static let chunkedHeaders: [(name: String, value: String)] = [
        (name: "Host", value: "s3.amazonaws.com"),
        (name: "x-amz-date", value: "20130524T000000Z"),
        (name: "x-amz-storage-class", value: "REDUCED_REDUNDANCY"),
        (name: "x-amz-content-sha256", value: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
        (name: "Content-Encoding", value: "aws-chunked"),
        (name: "x-amz-decoded-content-length", value: "66560"),
        (name: "Content-Length", value: "66824"),
        authorization(signedHeaders: "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class",
                      signature: chunkedSeedSignature),
    ]

    /// The same object with a signed `x-amz-checksum-crc32c` trailer ("Including Trailing
    /// Headers" page).
    static let trailerSeedSignature = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
    static let trailerChunkSignatures = ["b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
                                         "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
                                         "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992"]
    static let trailerChecksum = "sOO8/Q=="
    static let trailerSignature = "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435"
    static let trailerHeaders: [(name: String, value: String)] = [
        (name: "Host", value: "s3.amazonaws.com"),
        (name: "x-amz-date", value: "20130524T000000Z"),
        (name: "x-amz-storage-class", value: "REDUCED_REDUNDANCY"),
        (name: "x-amz-content-sha256", value: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"),
        (name: "Content-Encoding", value: "aws-chunked"),
        (name: "x-amz-decoded-content-length", value: "66560"),
        (name: "x-amz-trailer", value: "x-amz-checksum-crc32c"),
        authorization(signedHeaders: "content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer",
                      signature: trailerSeedSignature),
    ]

    static let payload = [UInt8](repeating: UInt8(ascii: "a"), count: 66560)

    static func verifyChunked(_ headers: [(name: String, value: String)]) throws(S3ProtocolError) -> SigV4Authentication {
        try SigV4Verifier(credentials: credentials).verify(
            method: "PUT", rawPath: "/examplebucket/chunkObject.txt", rawQuery: "", headers: headers, now: signedAt)
    }

    /// The signed aws-chunked body, built from the published chunk signatures.
    static func signedBody(signatures: [String] = chunkSignatures) -> [UInt8] {
        var body: [UInt8] = []
        for (size, signature) in zip(chunkSizes, signatures) {
            body += Array("\(String(size, radix: 16));chunk-signature=\(signature)\r\n".utf8)
            body += [UInt8](repeating: UInt8(ascii: "a"), count: size) + Array("\r\n".utf8)
        }
        return body
    }

    /// The trailer body as the SDKs frame it: trailers straight after the final chunk header.
    static func signedTrailerBody(trailers: String? = nil) -> [UInt8] {
        var body: [UInt8] = []
        for (size, signature) in zip(chunkSizes, trailerChunkSignatures) {
            body += Array("\(String(size, radix: 16));chunk-signature=\(signature)\r\n".utf8)
            if size > 0 { body += [UInt8](repeating: UInt8(ascii: "a"), count: size) + Array("\r\n".utf8) }
        }
        let section = trailers ?? "x-amz-checksum-crc32c:\(trailerChecksum)\r\nx-amz-trailer-signature:\(trailerSignature)\r\n"
        return body + Array((section + "\r\n").utf8)
    }
}

/// SplitMix64: reproducible "random" splits without a global generator.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

/// Runs `body` and returns the `S3ProtocolError` it threw, recording an issue when it threw
/// nothing or something else.
func protocolError(sourceLocation: SourceLocation = #_sourceLocation,
                   _ body: () throws -> Void) -> S3ProtocolError? {
    do {
        try body()
        Issue.record("expected an S3ProtocolError, nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as S3ProtocolError {
        return error
    } catch {
        Issue.record("expected an S3ProtocolError, got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}
