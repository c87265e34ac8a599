/// A request the wire layer refuses: authentication (SigV4) and body framing (aws-chunked).
///
/// Each code carries the S3 error code and the HTTP status S3 answers it with, so the server
/// renders an `S3ProtocolError` without a second table.
public struct S3ProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The S3 error code, as in `<Code>` of the error body.
        public let name: String
        /// The HTTP status S3 answers this code with.
        public let status: Int

        private init(_ name: String, _ status: Int) {
            self.name = name
            self.status = status
        }

        public var description: String { name }

        // Authentication
        public static let accessDenied = Code("AccessDenied", 403)
        public static let invalidAccessKeyId = Code("InvalidAccessKeyId", 403)
        public static let signatureDoesNotMatch = Code("SignatureDoesNotMatch", 403)
        public static let requestTimeTooSkewed = Code("RequestTimeTooSkewed", 403)
        public static let authorizationHeaderMalformed = Code("AuthorizationHeaderMalformed", 400)
        public static let authorizationQueryParametersError = Code("AuthorizationQueryParametersError", 400)
        // Request shape
        public static let invalidArgument = Code("InvalidArgument", 400)
        public static let invalidRequest = Code("InvalidRequest", 400)
        public static let missingContentLength = Code("MissingContentLength", 411)
        // Body
        public static let incompleteBody = Code("IncompleteBody", 400)
        public static let contentSHA256Mismatch = Code("XAmzContentSHA256Mismatch", 400)
        public static let malformedTrailer = Code("MalformedTrailerError", 400)
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The HTTP status to answer with.
    public var status: Int { code.status }

    public var description: String { "\(code.name) (\(code.status)): \(message)" }
}
