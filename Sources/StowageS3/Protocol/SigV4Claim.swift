/// What a request claims about its signature, from the `Authorization` header or the
/// presigned query: who signed, when, for which scope, over which headers, and the result.
struct SigV4Claim {
    let accessKey: String
    /// `<day>/<region>/<service>/aws4_request`, exactly as sent.
    let scope: String
    let scopeElements: [Substring]
    /// The `SignedHeaders` value as sent, and split on `;`.
    let signedHeadersLine: String
    let signedHeaders: [Substring]
    let signature: String
    let timestamp: SigV4Timestamp

    static let service = "s3"
    static let terminator = "aws4_request"
    static let scopeElementCount = 4

    /// Parses `Credential`/`X-Amz-Credential`, `<access key>/<day>/<region>/s3/aws4_request`,
    /// checks it against the request time, and parses `SignedHeaders`.
    init(credential: String, signedHeaders: String, signature: String, timestamp: SigV4Timestamp,
         malformed: S3ProtocolError.Code) throws(S3ProtocolError) {
        let (accessKey, scopeElements) = try Self.credential(credential, malformed: malformed)
        guard scopeElements[0] == timestamp.day else {
            throw S3ProtocolError(malformed, "Invalid credential date \(scopeElements[0]). Date is not the same as X-Amz-Date.")
        }
        self.accessKey = accessKey
        // The elements are consecutive in the credential: the scope is what follows the key.
        self.scope = String(credential[scopeElements[0].startIndex...])
        self.scopeElements = scopeElements
        self.signedHeadersLine = signedHeaders
        self.signedHeaders = try Self.headerNames(signedHeaders, malformed: malformed)
        self.signature = signature
        self.timestamp = timestamp
    }

    /// The access key is everything before the last four elements, so keys of other S3
    /// servers that contain `/` still parse. One pass over the bytes (per request).
    private static func credential(_ credential: String, malformed: S3ProtocolError.Code)
        throws(S3ProtocolError) -> (accessKey: String, scope: [Substring]) {
        let utf8 = credential.utf8
        // The last four `/`s, from the end: the scope is what follows the fourth.
        var slashes: [String.Index] = []
        var index = utf8.endIndex
        while index > utf8.startIndex, slashes.count < scopeElementCount {
            index = utf8.index(before: index)
            if utf8[index] == UInt8(ascii: "/") { slashes.append(index) }
        }
        guard slashes.count == scopeElementCount else {
            throw S3ProtocolError(malformed, "The credential \(credential) is not of the form <key>/<date>/<region>/s3/aws4_request.")
        }
        let keyEnd = slashes[3]
        let scope = [credential[utf8.index(after: slashes[3])..<slashes[2]], credential[utf8.index(after: slashes[2])..<slashes[1]],
                     credential[utf8.index(after: slashes[1])..<slashes[0]], credential[utf8.index(after: slashes[0])...]]
        guard keyEnd > utf8.startIndex, !scope[1].isEmpty, scope[2] == service, scope[3] == terminator else {
            throw S3ProtocolError(malformed, "The credential scope of \(credential) must be <date>/<region>/s3/aws4_request.")
        }
        return (String(credential[..<keyEnd]), scope)
    }

    /// What presigned URLs sign nearly always (botocore's, the bench's): parsed once.
    private static let hostOnly: [Substring] = ["host"]

    /// `SignedHeaders`: `;`-separated names, `host` among them (S3 requires it signed).
    private static func headerNames(_ signedHeaders: String, malformed: S3ProtocolError.Code)
        throws(S3ProtocolError) -> [Substring] {
        if signedHeaders == "host" { return hostOnly }
        let names = signedHeaders.utf8.split(separator: UInt8(ascii: ";"), omittingEmptySubsequences: false).map(Substring.init)
        guard !signedHeaders.isEmpty, names.allSatisfy({ !$0.isEmpty }) else {
            throw S3ProtocolError(malformed, "SignedHeaders '\(signedHeaders)' is not a ;-separated list of header names.")
        }
        guard names.contains(where: { SigV4Encoding.equalsIgnoringASCIICase($0, "host") }) else {
            throw S3ProtocolError(malformed, "SignedHeaders must include host.")
        }
        return names
    }
}

/// The three fields of `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…,
/// Signature=…`. Clients differ on the separators (`, ` or `,`), so fields are split on
/// commas and trimmed.
struct SigV4AuthorizationHeader {
    let credential: String
    let signedHeaders: String
    let signature: String

    static let prefix = SigV4SigningContext.algorithm
    /// `Authorization: AWS <key>:<signature>` is SigV2, which Stowage does not speak.
    static let signatureV2Prefix = "AWS "

    init(_ value: String) throws(S3ProtocolError) {
        // Over the header's own bytes (walking String indices was most of this parse).
        var value = value
        switch value.withUTF8({ Self.fields(of: $0) }) {
        case .success(let fields):
            (credential, signedHeaders, signature) = fields
        case .failure(let error):
            throw error
        }
    }

    private static let credentialName = Array("Credential".utf8)
    private static let signedHeadersName = Array("SignedHeaders".utf8)
    private static let signatureName = Array("Signature".utf8)

    private static func fields(of bytes: UnsafeBufferPointer<UInt8>)
        -> Result<(credential: String, signedHeaders: String, signature: String), S3ProtocolError> {
        let prefixLength = prefix.utf8.count
        guard bytes.count > prefixLength, bytes.prefix(prefixLength).elementsEqual(prefix.utf8),
              SigV4Encoding.isWhitespace(bytes[prefixLength])
        else {
            if bytes.starts(with: signatureV2Prefix.utf8) { return .failure(SigV4Verifier.unsupportedMechanism) }
            return .failure(malformed("The authorization header must start with \(prefix)."))
        }
        func text(_ range: Range<Int>) -> String { String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self) }
        // `name=value` fields between commas, trimmed; empty ones skipped.
        var credential: Range<Int>?, signedHeaders: Range<Int>?, signature: Range<Int>?
        var others: [Range<Int>] = []
        var fieldStart = prefixLength
        while fieldStart < bytes.count {
            var fieldEnd = fieldStart
            while fieldEnd < bytes.count, bytes[fieldEnd] != UInt8(ascii: ",") { fieldEnd += 1 }
            var (start, end) = (fieldStart, fieldEnd)
            fieldStart = fieldEnd + 1
            while start < end, SigV4Encoding.isWhitespace(bytes[start]) { start += 1 }
            while end > start, SigV4Encoding.isWhitespace(bytes[end - 1]) { end -= 1 }
            guard start < end else { continue }
            guard let equals = bytes[start..<end].firstIndex(of: UInt8(ascii: "=")) else {
                return .failure(malformed("The authorization header field '\(text(start..<end))' has no '='."))
            }
            let name = bytes[start..<equals]
            let fieldValue = (equals + 1)..<end
            let repeated: Bool
            if name.elementsEqual(credentialName) {
                repeated = credential != nil
                credential = fieldValue
            } else if name.elementsEqual(signedHeadersName) {
                repeated = signedHeaders != nil
                signedHeaders = fieldValue
            } else if name.elementsEqual(signatureName) {
                repeated = signature != nil
                signature = fieldValue
            } else {
                repeated = others.contains { bytes[$0].elementsEqual(name) }
                others.append(start..<equals)
            }
            guard !repeated else { return .failure(malformed("The authorization header repeats \(text(start..<equals)).")) }
        }
        guard let credential, let signedHeaders, let signature else {
            return .failure(malformed("The authorization header needs Credential, SignedHeaders and Signature."))
        }
        return .success((text(credential), text(signedHeaders), text(signature)))
    }

    private static func malformed(_ message: String) -> S3ProtocolError {
        S3ProtocolError(.authorizationHeaderMalformed, message)
    }
}
