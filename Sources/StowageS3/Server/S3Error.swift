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
    /// Elements S3 adds after Message for some errors (a refused CORS preflight's Method
    /// and ResourceType, NoSuchCORSConfiguration's BucketName), in order.
    public var elements: [(name: String, value: String)] = []

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
            for (name, value) in elements { xml.element(name, value) }
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
    /// A `switch` over every code: a code without a row does not compile.
    static func engineCode(_ code: StoreError.Code) -> (HTTPResponse.Status, String) {
        switch code {
        case .noSuchBucket: (.notFound, "NoSuchBucket")
        case .invalidBucketState: (.conflict, "InvalidBucketState")
        case .objectLockConfigurationNotFound: (.notFound, "ObjectLockConfigurationNotFoundError")
        case .noSuchObjectLockConfiguration: (.notFound, "NoSuchObjectLockConfiguration")
        case .noSuchLifecycleConfiguration: (.notFound, "NoSuchLifecycleConfiguration")
        case .noSuchCORSConfiguration: (.notFound, "NoSuchCORSConfiguration")
        case .noSuchEncryptionConfiguration: (.notFound, "ServerSideEncryptionConfigurationNotFoundError")
        case .kmsKeyNotFound: (.badRequest, "KMS.NotFoundException")
        case .accessControlListNotSupported: (.badRequest, "AccessControlListNotSupported")
        case .invalidBucketAclWithObjectOwnership: (.badRequest, "InvalidBucketAclWithObjectOwnership")
        case .ownershipControlsNotFound: (.notFound, "OwnershipControlsNotFoundError")
        case .noSuchUser: (.notFound, "NoSuchEntity")
        case .userConflict: (.conflict, "EntityConflict")
        case .invalidTag: (.badRequest, "InvalidTag")
        case .noSuchTagSet: (.notFound, "NoSuchTagSet")
        case .accessDenied: (.forbidden, "AccessDenied")
        case .bucketAlreadyExists: (.conflict, "BucketAlreadyOwnedByYou")
        case .bucketOwnedByAnother: (.conflict, "BucketAlreadyExists")
        case .bucketNotEmpty: (.conflict, "BucketNotEmpty")
        case .invalidBucketName: (.badRequest, "InvalidBucketName")
        case .noSuchKey: (.notFound, "NoSuchKey")
        case .noSuchVersion: (.notFound, "NoSuchVersion")
        case .methodNotAllowed: (.methodNotAllowed, "MethodNotAllowed")
        case .keyTooLong: (.badRequest, "KeyTooLongError")
        case .invalidKey: (.badRequest, "InvalidArgument")
        case .invalidArgument: (.badRequest, "InvalidArgument")
        case .invalidRequest: (.badRequest, "InvalidRequest")
        case .transactionTooLarge: (.badRequest, "InvalidRequest")
        case .invalidRange: (.rangeNotSatisfiable, "InvalidRange")
        case .invalidPartNumber: (.rangeNotSatisfiable, "InvalidPartNumber")
        case .noSuchUpload: (.notFound, "NoSuchUpload")
        case .invalidPart: (.badRequest, "InvalidPart")
        case .invalidPartOrder: (.badRequest, "InvalidPartOrder")
        case .entityTooSmall: (.badRequest, "EntityTooSmall")
        case .notImplemented: (.notImplemented, "NotImplemented")
        case .badDigest: (.badRequest, "BadDigest")
        case .incompleteBody: (.badRequest, "IncompleteBody")
        case .entityTooLarge: (.badRequest, "EntityTooLarge")
        case .preconditionFailed: (.preconditionFailed, "PreconditionFailed")
        case .notModified: (.notModified, "NotModified")
        case .conditionalRequestConflict: (.conflict, "ConditionalRequestConflict")
        case .idempotencyParameterMismatch: (.badRequest, "IdempotencyParameterMismatch")
        case .integrity: (.internalServerError, "InternalError")
        case .diskFull: (Self.insufficientStorage, "InsufficientStorage")
        case .indexFull: (Self.insufficientStorage, "InsufficientStorage")
        case .io: (.internalServerError, "InternalError")
        case .index: (.internalServerError, "InternalError")
        case .corrupt: (.internalServerError, "InternalError")
        case .alreadyOpen: (.serviceUnavailable, "ServiceUnavailable")
        case .closed: (.serviceUnavailable, "ServiceUnavailable")
        case .unavailable: (.serviceUnavailable, "ServiceUnavailable")
        }
    }

    /// The table as rows, for the tests that walk it.
    static var engineCodes: [StoreError.Code: (HTTPResponse.Status, String)] {
        Dictionary(uniqueKeysWithValues: StoreError.Code.allCases.map { ($0, engineCode($0)) })
    }

    init(_ error: StoreError) {
        let (status, code) = Self.engineCode(error.code)
        self.init(status, code, error.message, condition: error.condition)
        if error.code == .notModified, let object = error.object {
            headers[.eTag] = object.quotedETag
            headers[.lastModified] = HTTPDate.format(milliseconds: object.lastModifiedMilliseconds)
        }
        // The latest version is a delete marker (404), or the version asked for is one (405).
        if let marker = error.object, marker.isDeleteMarker {
            headers[.xAmzDeleteMarker] = "true"
            if let versionID = marker.versionID { headers[.xAmzVersionID] = versionID }
            if error.code == .methodNotAllowed {
                headers[.lastModified] = HTTPDate.format(milliseconds: marker.lastModifiedMilliseconds)
                headers[.allow] = "DELETE"
            }
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
