/// The engine's one error type. Every failure a caller can see is a `StoreError` with a
/// named `code`; the S3 layer maps codes to S3 error codes in one table.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        // Buckets
        public static let noSuchBucket = Code("NoSuchBucket")
        public static let bucketAlreadyExists = Code("BucketAlreadyOwnedByYou")
        public static let bucketNotEmpty = Code("BucketNotEmpty")
        public static let invalidBucketName = Code("InvalidBucketName")
        // Keys and requests
        public static let noSuchKey = Code("NoSuchKey")
        public static let keyTooLong = Code("KeyTooLongError")
        public static let invalidKey = Code("InvalidKey")
        public static let invalidArgument = Code("InvalidArgument")
        public static let invalidRequest = Code("InvalidRequest")
        public static let invalidRange = Code("InvalidRange")
        public static let invalidPartNumber = Code("InvalidPartNumber")
        public static let noSuchUpload = Code("NoSuchUpload")
        public static let invalidPart = Code("InvalidPart")
        public static let invalidPartOrder = Code("InvalidPartOrder")
        public static let entityTooSmall = Code("EntityTooSmall")
        public static let notImplemented = Code("NotImplemented")
        public static let badDigest = Code("BadDigest")
        public static let incompleteBody = Code("IncompleteBody")
        public static let entityTooLarge = Code("EntityTooLarge")
        // Conditions
        public static let preconditionFailed = Code("PreconditionFailed")
        public static let notModified = Code("NotModified")
        public static let conditionalRequestConflict = Code("ConditionalRequestConflict")
        public static let idempotencyParameterMismatch = Code("IdempotencyParameterMismatch")
        // The machine
        public static let integrity = Code("IntegrityError")
        public static let diskFull = Code("DiskFull")
        public static let indexFull = Code("IndexFull")
        public static let io = Code("IOError")
        public static let index = Code("IndexError")
        public static let corrupt = Code("CorruptRecord")
        public static let alreadyOpen = Code("AlreadyOpen")
        public static let closed = Code("StoreClosed")
    }

    public let code: Code
    public let message: String
    /// For `preconditionFailed`: the condition header that failed (`If-Match`, …).
    public let condition: String?
    public let cause: (any Error & Sendable)?
    /// For `notModified`: the object, whose ETag and Last-Modified a 304 carries.
    public var object: ObjectInfo?

    public init(_ code: Code, _ message: String, condition: String? = nil,
                cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.condition = condition
        self.cause = cause
    }

    public var description: String {
        var text = "\(code): \(message)"
        if let condition { text += " [\(condition)]" }
        if let cause { text += " (cause: \(cause))" }
        return text
    }

    static func precondition(_ condition: String) -> StoreError {
        StoreError(.preconditionFailed,
                   "At least one of the pre-conditions you specified did not hold",
                   condition: condition)
    }
}
