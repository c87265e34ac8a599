import Foundation

/// Who signed a request, and what its body is owed: the answer of `SigV4Verifier` and of
/// `SigV2Verifier` alike, so the rest of the server does not care which version signed.
public struct SigV4Authentication: Sendable {
    public let accessKey: String
    /// How to read and check the body (`x-amz-content-sha256`; SigV2: unsigned unless
    /// that header names a hash).
    public let payload: S3PayloadMode
    /// Key, timestamp, scope and seed signature: what `AWSChunkedDecoder` needs to verify
    /// a signed aws-chunked body. Nil for SigV2, which has no chunk signatures.
    public let signing: SigV4SigningContext?
    /// Authenticated by query parameters (`X-Amz-*`, or SigV2's `Signature`) rather than
    /// the `Authorization` header.
    public let isPresigned: Bool

    /// The checker of a body whose SHA-256 was signed, nil for every other payload mode.
    public func makePayloadVerifier() -> SignedPayloadVerifier? {
        SignedPayloadVerifier(payload)
    }
}

/// Verifies AWS Signature Version 4 on a request, from plain values: the method, the path
/// and query exactly as received (still percent-encoded), every header, and the time.
///
/// Both forms are accepted: the `Authorization` header, and presigned URLs (`X-Amz-*`
/// query parameters, at most seven days valid). SigV2 and anonymous requests are refused
/// here; the server reaches it through `S3Authenticator`, which sends SigV2 to `SigV2Verifier`.
public struct SigV4Verifier: Sendable {
    /// How far `X-Amz-Date` may be from the server's clock (S3: 15 minutes).
    public static let maxClockSkewSeconds: Int64 = 15 * 60
    /// The shortest `X-Amz-Expires` S3 accepts: one second (0 is refused).
    static let minPresignedExpirySeconds: Int64 = 1
    /// The longest `X-Amz-Expires` S3 accepts: seven days.
    public static let maxPresignedExpirySeconds: Int64 = 7 * 24 * 60 * 60

    enum QueryParameter {
        static let algorithm = "X-Amz-Algorithm"
        static let credential = "X-Amz-Credential"
        static let date = "X-Amz-Date"
        static let expires = "X-Amz-Expires"
        static let signedHeaders = "X-Amz-SignedHeaders"
        static let signature = "X-Amz-Signature"
        static let contentSHA256 = "X-Amz-Content-Sha256"
        /// SigV2 presigned URLs carry these instead.
        static let signatureV2AccessKey = "AWSAccessKeyId"
    }

    public let credentials: S3Credentials
    /// Signing keys derived once per secret and scope (day, region, service).
    let signingKeys = SigV4SigningKeyCache()

    public init(credentials: S3Credentials) {
        self.credentials = credentials
    }

    /// - Parameters:
    ///   - rawPath: the request target's path as received, percent-encoding intact.
    ///   - rawQuery: the request target after `?`, as received (empty when there is none).
    ///   - headers: every header as received; `host` must be among them (for HTTP/2, pass
    ///     `:authority` as `host`).
    public func verify(method: String, rawPath: String, rawQuery: String,
                       headers: [(name: String, value: String)], now: Date) throws(S3ProtocolError) -> SigV4Authentication {
        try verify(method: method, rawPath: rawPath, query: SigV4Query(rawQuery), headers: SigV4Headers(headers), now: now)
    }

    /// The same, with the query and headers already parsed (`S3Authenticator` parses them
    /// once for both signature versions).
    func verify(method: String, rawPath: String, query: SigV4Query, headers: SigV4Headers,
                now: Date) throws(S3ProtocolError) -> SigV4Authentication {
        let request = Request(method: method, rawPath: rawPath, query: query,
                              headers: headers, now: Int64(now.timeIntervalSince1970.rounded(.down)))
        // A blank Authorization value is no credentials at all: an anonymous request,
        // refused with 403 like a missing header (never a malformed-header 400).
        let authorization = request.headers.first("authorization").flatMap {
            $0.isBlank ? nil : $0
        }
        let presigned = request.query.contains(QueryParameter.algorithm)
        switch (authorization, presigned) {
        case (.some, true):
            throw S3ProtocolError(.invalidArgument,
                                  "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified.")
        case (.some(let value), false):
            return try verifyHeader(value, request)
        case (.none, true):
            return try verifyPresigned(request)
        case (.none, false):
            if request.query.contains(QueryParameter.signatureV2AccessKey) { throw Self.unsupportedMechanism }
            throw S3ProtocolError(.accessDenied, "Access Denied")
        }
    }

    static let unsupportedMechanism = S3ProtocolError(
        .invalidRequest, "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.")

    struct Request {
        let method: String
        let rawPath: String
        let query: SigV4Query
        let headers: SigV4Headers
        /// Seconds since 1970.
        let now: Int64
    }
}

// MARK: - The Authorization header

extension SigV4Verifier {
    private func verifyHeader(_ authorization: String, _ request: Request) throws(S3ProtocolError) -> SigV4Authentication {
        let fields = try SigV4AuthorizationHeader(authorization)
        let timestamp = try headerTimestamp(request.headers)
        let claim = try SigV4Claim(credential: fields.credential, signedHeaders: fields.signedHeaders,
                                   signature: fields.signature, timestamp: timestamp,
                                   malformed: .authorizationHeaderMalformed)
        let secret = try secretKey(claim.accessKey)
        guard abs(request.now - timestamp.secondsSince1970) <= Self.maxClockSkewSeconds else {
            throw S3ProtocolError(.requestTimeTooSkewed,
                                  "The difference between the request time and the current time is too large.")
        }
        guard let payloadValue = request.headers.first("x-amz-content-sha256") else {
            throw S3ProtocolError(.invalidRequest, "Missing required header for this request: x-amz-content-sha256")
        }
        let payload = try payloadMode(payloadValue)
        return try finish(claim, secret: secret, request, payloadLine: payloadValue, payload: payload, presigned: false)
    }

    /// `x-amz-date`, or failing that `Date`; the string to sign carries it in ISO 8601 basic form.
    private func headerTimestamp(_ headers: SigV4Headers) throws(S3ProtocolError) -> SigV4Timestamp {
        if let amzDate = headers.first("x-amz-date") {
            guard let timestamp = SigV4Timestamp(basicISO8601: amzDate) else {
                throw S3ProtocolError(.accessDenied, "AWS authentication requires a valid Date or x-amz-date header")
            }
            return timestamp
        }
        guard let date = headers.first("date"), let timestamp = SigV4Timestamp(rfc1123: date) else {
            throw S3ProtocolError(.accessDenied, "AWS authentication requires a valid Date or x-amz-date header")
        }
        return timestamp
    }

    private func payloadMode(_ value: String) throws(S3ProtocolError) -> S3PayloadMode {
        guard let mode = S3PayloadMode(headerValue: value) else {
            throw S3ProtocolError(.invalidArgument,
                                  "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.")
        }
        return mode
    }
}

// MARK: - Presigned URLs

extension SigV4Verifier {
    private func verifyPresigned(_ request: Request) throws(S3ProtocolError) -> SigV4Authentication {
        let parameters = try presignedParameters(request.query)
        guard parameters.algorithm == SigV4SigningContext.algorithm else {
            throw Self.queryError("X-Amz-Algorithm only supports \(SigV4SigningContext.algorithm)")
        }
        guard let timestamp = SigV4Timestamp(basicISO8601: parameters.date) else {
            throw Self.queryError("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
        }
        let expires = try expirySeconds(parameters.expires)
        let claim = try SigV4Claim(credential: parameters.credential, signedHeaders: parameters.signedHeaders,
                                   signature: parameters.signature, timestamp: timestamp,
                                   malformed: .authorizationQueryParametersError)
        let secret = try secretKey(claim.accessKey)
        try checkValidity(timestamp, expires: expires, now: request.now)
        // botocore and the other SDKs sign the constant UNSIGNED-PAYLOAD unless the URL
        // itself names a payload hash.
        let payloadLine = request.query.values(QueryParameter.contentSHA256).first ?? S3PayloadMode.unsignedValue
        // The body follows the header when one is sent (an aws-chunked upload through a
        // presigned URL still says so there); otherwise the signed line.
        let payload = try payloadMode(request.headers.first("x-amz-content-sha256") ?? payloadLine)
        return try finish(claim, secret: secret, request, payloadLine: payloadLine, payload: payload, presigned: true)
    }

    private struct PresignedParameters {
        let algorithm, credential, date, expires, signedHeaders, signature: String
    }

    private static let presignedNames = [QueryParameter.algorithm, QueryParameter.credential, QueryParameter.date,
                                         QueryParameter.expires, QueryParameter.signedHeaders, QueryParameter.signature]
    private static let presignedNameBytes = presignedNames.map { Array($0.utf8) }

    private func presignedParameters(_ query: SigV4Query) throws(S3ProtocolError) -> PresignedParameters {
        // One pass over the query: where each name's value is and how often it was sent.
        var found = [SigV4Query.Pair?](repeating: nil, count: Self.presignedNames.count)
        var counts = [Int](repeating: 0, count: Self.presignedNames.count)
        for pair in query.pairs {
            guard let position = query.position(of: pair, in: Self.presignedNameBytes) else { continue }
            counts[position] += 1
            found[position] = pair
        }
        if let position = counts.firstIndex(where: { $0 != 1 }) {
            throw Self.queryError(counts[position] == 0
                ? "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."
                : "\(Self.presignedNames[position]) must be given once.")
        }
        let values = found.compactMap { $0.map(query.valueString) }
        return PresignedParameters(algorithm: values[0], credential: values[1], date: values[2],
                                   expires: values[3], signedHeaders: values[4], signature: values[5])
    }

    private func expirySeconds(_ value: String) throws(S3ProtocolError) -> Int64 {
        guard value.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let seconds = Int64(value) else {
            throw Self.queryError("X-Amz-Expires should be a number")
        }
        guard seconds >= Self.minPresignedExpirySeconds else {
            throw Self.queryError("X-Amz-Expires must be non-negative and at least 1 second")
        }
        guard seconds <= Self.maxPresignedExpirySeconds else {
            throw Self.queryError("X-Amz-Expires must be less than a week (in seconds) that is 604800")
        }
        return seconds
    }

    /// A presigned URL is good from its date (less the allowed skew) until date + expiry.
    private func checkValidity(_ timestamp: SigV4Timestamp, expires: Int64, now: Int64) throws(S3ProtocolError) {
        guard now >= timestamp.secondsSince1970 - Self.maxClockSkewSeconds else {
            throw S3ProtocolError(.accessDenied, "Request is not valid yet")
        }
        guard now <= timestamp.secondsSince1970 + expires else {
            throw S3ProtocolError(.accessDenied, "Request has expired")
        }
    }

    private static func queryError(_ message: String) -> S3ProtocolError {
        S3ProtocolError(.authorizationQueryParametersError, message)
    }
}

// MARK: - Both forms

extension SigV4Verifier {
    private func secretKey(_ accessKey: String) throws(S3ProtocolError) -> String {
        guard let secret = credentials.secretKey(for: accessKey) else {
            throw S3ProtocolError(.invalidAccessKeyId, "The AWS Access Key Id you provided does not exist in our records.")
        }
        return secret
    }

    /// Every `x-amz-*` header sent must be signed, as S3 requires: an unsigned one (say
    /// `x-amz-copy-source`) could be added to a captured request to change what it does.
    private func checkAmzHeadersSigned(_ claim: SigV4Claim, _ headers: SigV4Headers) throws(S3ProtocolError) {
        // A handful of signed names: a scan beats building a set on every request.
        var unsigned: [String] = []
        for header in headers.all where header.name.hasPrefix("x-amz-") && !unsigned.contains(header.name) {
            if !claim.signedHeaders.contains(where: { SigV4Encoding.equalsIgnoringASCIICase($0, lowercase: header.name) }) {
                unsigned.append(header.name)
            }
        }
        unsigned.sort()
        guard unsigned.isEmpty else {
            throw S3ProtocolError(.accessDenied,
                                  "There were headers present in the request which were not signed: \(unsigned.joined(separator: ", "))")
        }
    }

    /// Checks the signature itself; on success hands on the signing context, seeded with it.
    private func finish(_ claim: SigV4Claim, secret: String, _ request: Request, payloadLine: String,
                        payload: S3PayloadMode, presigned: Bool) throws(S3ProtocolError) -> SigV4Authentication {
        try checkAmzHeadersSigned(claim, request.headers)
        let canonical = SigV4CanonicalRequest.bytes(
            method: request.method, rawPath: request.rawPath, query: request.query, excludingSignature: presigned,
            headers: request.headers, signed: claim.signedHeaders, signedHeadersLine: claim.signedHeadersLine,
            payload: payloadLine)
        let timestamp = claim.timestamp.basicISO8601
        // The string to sign: algorithm, timestamp, scope and the canonical request's hash.
        var stringToSign: [UInt8] = []
        stringToSign.reserveCapacity(160)
        stringToSign.append(contentsOf: SigV4SigningContext.algorithm.utf8)
        stringToSign.append(UInt8(ascii: "\n"))
        stringToSign.append(contentsOf: timestamp.utf8)
        stringToSign.append(UInt8(ascii: "\n"))
        stringToSign.append(contentsOf: claim.scope.utf8)
        stringToSign.append(UInt8(ascii: "\n"))
        SigV4SigningContext.appendSHA256Hex(of: canonical, to: &stringToSign)
        let key = signingKeys.prepared(secret: secret, scope: claim.scope, scopeElements: claim.scopeElements)
        let expected = key.signature(stringToSign)
        guard SigV4Encoding.constantTimeEqual(expected, SigV4Encoding.lowercased(claim.signature)) else {
            throw S3ProtocolError(.signatureDoesNotMatch,
                                  "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
        }
        return SigV4Authentication(
            accessKey: claim.accessKey, payload: payload,
            signing: SigV4SigningContext(timestamp: timestamp, scope: claim.scope, seedSignature: expected, key: key),
            isPresigned: presigned)
    }
}

extension StringProtocol {
    /// Nothing but whitespace (or nothing): what `trimmingCharacters(in: .whitespaces).isEmpty`
    /// says, without Foundation's bridging for the ASCII values headers are (perf showed the
    /// bridge at 6 % of a 4 KiB GET load's CPU, for the Authorization header alone).
    var isBlank: Bool {
        var ascii = true
        let blank = utf8.allSatisfy { byte in
            if byte >= 0x80 { ascii = false }
            return byte == 0x20 || byte == 0x09
        }
        return ascii ? blank : trimmingCharacters(in: .whitespaces).isEmpty
    }
}
