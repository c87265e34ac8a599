import HTTPTypes
import Hummingbird
import Stowage

/// An S3 error response: status, code, message, and the elements S3 adds (Condition on a
/// 412, Resource, RequestId). Renders S3's XML body itself (`HTTPResponseError`).
public struct S3Error: Error, Sendable, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var condition: String?
    public var resource: String = ""
    public var requestID: String = ""
    public var hostID: String = ""
    /// Extra headers (a 304 carries ETag and Last-Modified).
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String, condition: String? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.condition = condition
    }

    public var description: String { "\(status.code) \(code): \(message)" }

    static let insufficientStorage = HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage")

    static func notImplemented(_ what: String) -> S3Error {
        S3Error(.notImplemented, "NotImplemented", "A header or query you provided requests a function that is not implemented: \(what)")
    }

    static func malformedXML(_ why: String) -> S3Error {
        S3Error(.badRequest, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema: \(why)")
    }

    static func invalidArgument(_ message: String) -> S3Error {
        S3Error(.badRequest, "InvalidArgument", message)
    }

    func xml() -> String {
        var xml = XMLWriter()
        xml.element("Error") { xml in
            xml.element("Code", code)
            xml.element("Message", message)
            if let condition { xml.element("Condition", condition) }
            xml.element("Resource", resource)
            xml.element("RequestId", requestID)
            xml.element("HostId", hostID)
        }
        return xml.document
    }

    /// The response; HEAD and 304 answers carry no body.
    func response(isHead: Bool) -> Response {
        var fields = headers
        guard !isHead && status != .notModified else {
            return Response(status: status, headers: fields)
        }
        let body = xml()
        fields[.contentType] = "application/xml"
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }
}

extension S3Error {
    /// The one table from engine error codes to S3's (STYLE.md: "a test walks that table").
    static let engineCodes: [StoreError.Code: (HTTPResponse.Status, String)] = [
        .noSuchBucket: (.notFound, "NoSuchBucket"),
        .bucketAlreadyExists: (.conflict, "BucketAlreadyOwnedByYou"),
        .bucketNotEmpty: (.conflict, "BucketNotEmpty"),
        .invalidBucketName: (.badRequest, "InvalidBucketName"),
        .noSuchKey: (.notFound, "NoSuchKey"),
        .keyTooLong: (.badRequest, "KeyTooLongError"),
        .invalidKey: (.badRequest, "InvalidArgument"),
        .invalidArgument: (.badRequest, "InvalidArgument"),
        .invalidRequest: (.badRequest, "InvalidRequest"),
        .invalidRange: (.rangeNotSatisfiable, "InvalidRange"),
        .invalidPartNumber: (.rangeNotSatisfiable, "InvalidPartNumber"),
        .noSuchUpload: (.notFound, "NoSuchUpload"),
        .invalidPart: (.badRequest, "InvalidPart"),
        .invalidPartOrder: (.badRequest, "InvalidPartOrder"),
        .entityTooSmall: (.badRequest, "EntityTooSmall"),
        .notImplemented: (.notImplemented, "NotImplemented"),
        .badDigest: (.badRequest, "BadDigest"),
        .incompleteBody: (.badRequest, "IncompleteBody"),
        .entityTooLarge: (.badRequest, "EntityTooLarge"),
        .preconditionFailed: (.preconditionFailed, "PreconditionFailed"),
        .notModified: (.notModified, "NotModified"),
        .conditionalRequestConflict: (.conflict, "ConditionalRequestConflict"),
        .idempotencyParameterMismatch: (.badRequest, "IdempotencyParameterMismatch"),
        .integrity: (.internalServerError, "InternalError"),
        .diskFull: (Self.insufficientStorage, "InsufficientStorage"),
        .indexFull: (Self.insufficientStorage, "InsufficientStorage"),
        .io: (.internalServerError, "InternalError"),
        .index: (.internalServerError, "InternalError"),
        .corrupt: (.internalServerError, "InternalError"),
        .alreadyOpen: (.serviceUnavailable, "ServiceUnavailable"),
        .closed: (.serviceUnavailable, "ServiceUnavailable"),
    ]

    init(_ error: StoreError) {
        let (status, code) = Self.engineCodes[error.code] ?? (.internalServerError, "InternalError")
        self.init(status, code, error.message, condition: error.condition)
        if error.code == .notModified, let object = error.object {
            headers[.eTag] = object.quotedETag
            headers[.lastModified] = HTTPDate.format(milliseconds: object.lastModifiedMilliseconds)
        }
    }

    init(_ error: S3ProtocolError) {
        self.init(HTTPResponse.Status(code: error.code.status), error.code.name, error.message)
    }

    /// Any error a handler throws, as S3 sees it.
    static func from(_ error: Error) -> S3Error {
        switch error {
        case let error as S3Error: return error
        case let error as StoreError: return S3Error(error)
        case let error as S3ProtocolError: return S3Error(error)
        default: return S3Error(.internalServerError, "InternalError", "We encountered an internal error. Please try again. (\(error))")
        }
    }
}

extension ObjectInfo {
    var quotedETag: String { "\"\(etag)\"" }
}
