import Crypto
import Foundation

/// Verifies S3's Signature Version 2 (HMAC-SHA1 over `SigV2StringToSign`), the default of
/// boto3's `generate_presigned_url`, `aws s3 presign` (CLI v1) and s3cmd's
/// `signature_v2`, in its two forms: `Authorization: AWS <key>:<signature>` (the `Date` or
/// `x-amz-date` within 15 minutes of the server's clock) and presigned URLs
/// (`AWSAccessKeyId`, `Signature`, `Expires` in seconds since 1970).
///
/// The body is not signed: it is taken as it comes (`S3PayloadMode.unsigned`), checked
/// only by a Content-MD5 or `x-amz-checksum-*` the client sends, or by an
/// `x-amz-content-sha256` hash (an `x-amz-*` header, so signed). aws-chunked bodies are
/// SigV4's and refused here.
public struct SigV2Verifier: Sendable {
    /// How far `Date`/`x-amz-date` may be from the server's clock: 15 minutes, as SigV4.
    public static let maxClockSkewSeconds = SigV4Verifier.maxClockSkewSeconds

    static let authorizationPrefix = "AWS "

    enum QueryParameter {
        static let accessKey = "AWSAccessKeyId"
        static let signature = "Signature"
        static let expires = "Expires"
    }

    /// Which form a request is signed in.
    enum Form: Equatable {
        case header(String)
        case query
    }

    public let credentials: S3Credentials

    public init(credentials: S3Credentials) {
        self.credentials = credentials
    }

    /// The SigV2 form a request uses; nil when it is SigV4 or anonymous (SigV4's verifier
    /// answers those, including a SigV2 header sent with `X-Amz-Algorithm`).
    static func form(headers: SigV4Headers, query: SigV4Query) -> Form? {
        guard !query.contains(SigV4Verifier.QueryParameter.algorithm) else { return nil }
        if let authorization = headers.first("authorization"), !authorization.isEmpty {
            return authorization.hasPrefix(authorizationPrefix) ? .header(authorization) : nil
        }
        let presigned = query.contains(QueryParameter.accessKey) || query.contains(QueryParameter.signature)
        return presigned ? .query : nil
    }

    /// Verifies a request whose `form` is not nil.
    /// - Parameters:
    ///   - hostBucket: the bucket a virtual-hosted request names in its Host, which the
    ///     canonical resource starts with; nil for path-style.
    func verify(_ form: Form, method: String, rawPath: String, rawQuery: String, query: SigV4Query,
                headers: SigV4Headers, hostBucket: String?, now: Date) throws(S3ProtocolError) -> SigV4Authentication {
        let request = Request(method: method, rawPath: rawPath, rawQuery: rawQuery, query: query, headers: headers,
                              hostBucket: hostBucket, now: Int64(now.timeIntervalSince1970.rounded(.down)))
        switch form {
        case .header(let authorization): return try verifyHeader(authorization, request)
        case .query: return try verifyQuery(request)
        }
    }

    struct Request {
        let method: String
        let rawPath: String
        let rawQuery: String
        let query: SigV4Query
        let headers: SigV4Headers
        let hostBucket: String?
        /// Seconds since 1970.
        let now: Int64
    }
}

// MARK: - The two forms

extension SigV2Verifier {
    private func verifyHeader(_ authorization: String, _ request: Request) throws(S3ProtocolError) -> SigV4Authentication {
        if request.query.contains(QueryParameter.accessKey) || request.query.contains(QueryParameter.signature) {
            throw S3ProtocolError(.invalidArgument,
                                  "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified")
        }
        let (accessKey, signature) = try Self.keyAndSignature(authorization)
        let secret = try secretKey(accessKey)
        let timestamp = try Self.headerTimestamp(request.headers)
        guard abs(request.now - timestamp) <= Self.maxClockSkewSeconds else {
            throw S3ProtocolError(.requestTimeTooSkewed,
                                  "The difference between the request time and the current time is too large.")
        }
        // With x-amz-date, the Date line is empty: the x-amz-date header carries the time.
        let date = request.headers.first("x-amz-date") == nil ? request.headers.first("date") ?? "" : ""
        let payload = try Self.payloadMode(request.headers)
        try check(signature, secret: secret, request, date: date, amzHeaders: request.headers.all)
        return SigV4Authentication(accessKey: accessKey, payload: payload, signing: nil, isPresigned: false)
    }

    private func verifyQuery(_ request: Request) throws(S3ProtocolError) -> SigV4Authentication {
        var values: [String] = []
        for name in [QueryParameter.accessKey, QueryParameter.signature, QueryParameter.expires] {
            let sent = request.query.values(name)
            guard sent.count == 1 else {
                throw S3ProtocolError(.accessDenied,
                                      "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters")
            }
            values.append(sent[0])
        }
        let (accessKey, signature, expiresText) = (values[0], values[1], values[2])
        guard expiresText.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let expires = Int64(expiresText) else {
            throw S3ProtocolError(.accessDenied, "Invalid date (should be seconds since epoch): \(expiresText)")
        }
        let secret = try secretKey(accessKey)
        guard request.now <= expires else {
            throw S3ProtocolError(.accessDenied, "Request has expired")
        }
        // botocore moves the x-amz-* headers it signed into the query of the URL.
        let amzParameters = request.query.pairs.compactMap { pair -> (name: String, value: String)? in
            let name = String(decoding: request.query.name(pair), as: UTF8.self)
            guard name.lowercased().hasPrefix(SigV2StringToSign.amzPrefix) else { return nil }
            return (name, request.query.valueString(pair))
        }
        let payload = try Self.payloadMode(request.headers)
        try check(signature, secret: secret, request, date: expiresText, amzHeaders: request.headers.all + amzParameters)
        return SigV4Authentication(accessKey: accessKey, payload: payload, signing: nil, isPresigned: true)
    }
}

// MARK: - Both forms

extension SigV2Verifier {
    /// `AWS <access key>:<signature>`; the access key may not contain `:`, the signature
    /// is base64 (never contains one).
    static func keyAndSignature(_ authorization: String) throws(S3ProtocolError) -> (String, String) {
        let credential = authorization.dropFirst(authorizationPrefix.count)
        guard let colon = credential.lastIndex(of: ":"), colon != credential.startIndex,
              credential.index(after: colon) != credential.endIndex else {
            throw S3ProtocolError(.invalidArgument, "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature")
        }
        return (String(credential[..<colon]), String(credential[credential.index(after: colon)...]))
    }

    /// `x-amz-date`, or failing that `Date`, in seconds since 1970: an HTTP date
    /// (`+0000` for GMT too, as s3cmd writes it).
    static func headerTimestamp(_ headers: SigV4Headers) throws(S3ProtocolError) -> Int64 {
        guard let text = headers.first("x-amz-date") ?? headers.first("date"),
              let seconds = SigV4Timestamp(rfc1123: text)?.secondsSince1970 ?? HTTPDate.parse(text) else {
            throw S3ProtocolError(.accessDenied, "AWS authentication requires a valid Date or x-amz-date header")
        }
        return seconds
    }

    /// The body is unsigned unless `x-amz-content-sha256` names its hash; aws-chunked
    /// framing needs SigV4's signing key and is refused.
    static func payloadMode(_ headers: SigV4Headers) throws(S3ProtocolError) -> S3PayloadMode {
        let chunked = S3ProtocolError(.invalidRequest,
                                      "aws-chunked bodies (STREAMING-* x-amz-content-sha256) need AWS4-HMAC-SHA256 (Signature Version 4).")
        let encodings = headers.values("content-encoding").joined(separator: ",").lowercased()
        guard !encodings.contains("aws-chunked") else { throw chunked }
        guard let value = headers.first("x-amz-content-sha256") else { return .unsigned }
        guard let mode = S3PayloadMode(headerValue: value) else {
            throw S3ProtocolError(.invalidArgument, "x-amz-content-sha256 must be UNSIGNED-PAYLOAD or a valid sha256 value.")
        }
        guard !mode.isAWSChunked else { throw chunked }
        return mode
    }

    private func secretKey(_ accessKey: String) throws(S3ProtocolError) -> String {
        guard let secret = credentials.secretKey(for: accessKey) else {
            throw S3ProtocolError(.invalidAccessKeyId, "The AWS Access Key Id you provided does not exist in our records.")
        }
        return secret
    }

    private func check(_ signature: String, secret: String, _ request: Request, date: String,
                       amzHeaders: [(name: String, value: String)]) throws(S3ProtocolError) {
        let amz = SigV2StringToSign.amzHeaders(amzHeaders)
        let resources = SigV2StringToSign.resources(rawPath: request.rawPath, hostBucket: request.hostBucket,
                                                    rawQuery: request.rawQuery)
        var matched = false
        for resource in resources {
            let stringToSign = SigV2StringToSign.build(
                method: request.method, contentMD5: request.headers.first("content-md5") ?? "",
                contentType: request.headers.first("content-type") ?? "", date: date, amzHeaders: amz, resource: resource)
            matched = SigV4Encoding.constantTimeEqual(Self.signature(secret: secret, of: stringToSign), signature) || matched
        }
        guard matched else {
            throw S3ProtocolError(.signatureDoesNotMatch,
                                  "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
        }
    }

    /// Base64 of HMAC-SHA1(secret, string to sign).
    static func signature(secret: String, of stringToSign: String) -> String {
        let code = HMAC<Insecure.SHA1>.authenticationCode(for: Array(stringToSign.utf8),
                                                          using: SymmetricKey(data: Array(secret.utf8)))
        return Data(code).base64EncodedString()
    }
}
