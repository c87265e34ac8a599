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

    /// `SignedHeaders`: `;`-separated names, `host` among them (S3 requires it signed).
    private static func headerNames(_ signedHeaders: String, malformed: S3ProtocolError.Code)
        throws(S3ProtocolError) -> [Substring] {
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
        guard value.hasPrefix(Self.prefix),
              let separator = value.utf8.dropFirst(Self.prefix.utf8.count).first, SigV4Encoding.isWhitespace(separator)
        else {
            if value.hasPrefix(Self.signatureV2Prefix) { throw SigV4Verifier.unsupportedMechanism }
            throw Self.malformed("The authorization header must start with \(Self.prefix).")
        }
        // One pass over the bytes: `name=value` fields between commas, trimmed.
        var credential: Substring?, signedHeaders: Substring?, signature: Substring?
        var others: [Substring] = []
        let utf8 = value.utf8
        // Fields between commas, empty ones skipped (as `split` would), without an array of them.
        var fieldStart = utf8.index(utf8.startIndex, offsetBy: Self.prefix.utf8.count)
        while fieldStart < utf8.endIndex {
            let fieldEnd = utf8[fieldStart...].firstIndex(of: UInt8(ascii: ",")) ?? utf8.endIndex
            let field = value[fieldStart..<fieldEnd]
            fieldStart = fieldEnd < utf8.endIndex ? utf8.index(after: fieldEnd) : fieldEnd
            guard !field.isEmpty else { continue }
            let trimmed = SigV4Encoding.trim(field)
            guard let equals = trimmed.utf8.firstIndex(of: UInt8(ascii: "=")) else {
                throw Self.malformed("The authorization header field '\(trimmed)' has no '='.")
            }
            let name = trimmed[..<equals]
            let fieldValue = trimmed[trimmed.utf8.index(after: equals)...]
            let repeated: Bool
            switch name {
            case "Credential": repeated = credential != nil; credential = fieldValue
            case "SignedHeaders": repeated = signedHeaders != nil; signedHeaders = fieldValue
            case "Signature": repeated = signature != nil; signature = fieldValue
            default: repeated = others.contains(name); others.append(name)
            }
            guard !repeated else { throw Self.malformed("The authorization header repeats \(name).") }
        }
        guard let credential, let signedHeaders, let signature else {
            throw Self.malformed("The authorization header needs Credential, SignedHeaders and Signature.")
        }
        self.credential = String(credential)
        self.signedHeaders = String(signedHeaders)
        self.signature = String(signature)
    }

    private static func malformed(_ message: String) -> S3ProtocolError {
        S3ProtocolError(.authorizationHeaderMalformed, message)
    }
}
