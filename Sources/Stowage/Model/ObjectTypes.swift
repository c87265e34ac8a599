import Foundation

/// Everything about an object that a client sets at write time and gets back at read
/// time. Rename and copy carry it over unchanged.
public struct ObjectAttributes: Sendable, Equatable {
    public var contentType: String?
    public var contentEncoding: String?
    public var contentDisposition: String?
    public var contentLanguage: String?
    public var cacheControl: String?
    /// The `Expires` header, kept verbatim.
    public var expires: String?
    /// `x-amz-meta-*` pairs, names lowercased, in the order given.
    public var userMetadata: [(name: String, value: String)]
    public var storageClass: String?
    /// `x-amz-server-side-encryption` as given (Stowage stores bytes as they come).
    public var serverSideEncryption: String?
    /// S3 wire checksums (`CRC32`, `CRC32C`, `CRC64NVME`, `SHA1`, `SHA256`) → base64 value.
    public var checksums: [(algorithm: String, value: String)]

    public init(contentType: String? = nil, contentEncoding: String? = nil,
                contentDisposition: String? = nil, contentLanguage: String? = nil,
                cacheControl: String? = nil, expires: String? = nil,
                userMetadata: [(name: String, value: String)] = [],
                storageClass: String? = nil, serverSideEncryption: String? = nil,
                checksums: [(algorithm: String, value: String)] = []) {
        self.contentType = contentType
        self.contentEncoding = contentEncoding
        self.contentDisposition = contentDisposition
        self.contentLanguage = contentLanguage
        self.cacheControl = cacheControl
        self.expires = expires
        self.userMetadata = userMetadata
        self.storageClass = storageClass
        self.serverSideEncryption = serverSideEncryption
        self.checksums = checksums
    }

    public static func == (lhs: ObjectAttributes, rhs: ObjectAttributes) -> Bool {
        lhs.contentType == rhs.contentType && lhs.contentEncoding == rhs.contentEncoding
            && lhs.contentDisposition == rhs.contentDisposition
            && lhs.contentLanguage == rhs.contentLanguage && lhs.cacheControl == rhs.cacheControl
            && lhs.expires == rhs.expires
            && lhs.userMetadata.elementsEqual(rhs.userMetadata, by: { $0 == $1 })
            && lhs.storageClass == rhs.storageClass
            && lhs.serverSideEncryption == rhs.serverSideEncryption
            && lhs.checksums.elementsEqual(rhs.checksums, by: { $0 == $1 })
    }
}

/// What HEAD answers: the key's record, resolved.
public struct ObjectInfo: Sendable, Equatable {
    public var key: String
    public var size: UInt64
    /// The ETag without quotes: 32 hex digits, or `hex-N` for a multipart object.
    public var etag: String
    /// Milliseconds since 1970; S3 shows it at one-second resolution.
    public var lastModifiedMilliseconds: Int64
    public var attributes: ObjectAttributes
    /// Number of parts for a multipart object, nil otherwise.
    public var partCount: Int?
    /// `x-amz-version-id`: nil in a bucket that was never versioned; `null` for the null
    /// version of a versioned bucket.
    public var versionID: String?
    /// True for a delete marker (a version with no object: a versioned bucket's deletion).
    public var isDeleteMarker = false
    /// Object Lock retention and legal hold, when the version has either.
    public var lock: ObjectLock?
    /// The version's tags (GET and HEAD show their count in `x-amz-tagging-count`).
    public var tags: [ObjectTag] = []
    /// The owner its ACL names (a user; "" the administrator); nil: the bucket's owner.
    public var owner: String?

    public var lastModified: Date {
        Date(timeIntervalSince1970: Double(lastModifiedMilliseconds) / 1000)
    }
}

/// An `If-Match` / `If-None-Match` value: `*` or a list of ETags (quotes optional).
public enum ETagCondition: Sendable, Equatable, Hashable {
    case any
    case etags([String])

    /// Parses a header value: `*`, or a comma-separated list of (quoted or bare) ETags.
    public init(header: String) {
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        if trimmed == "*" {
            self = .any
        } else {
            self = .etags(trimmed.split(separator: ",").map { ETagCondition.normalize(String($0)) })
        }
    }

    /// Strong comparison with the surrounding quotes (and a `W/` prefix) stripped.
    public func matches(_ etag: String) -> Bool {
        switch self {
        case .any: return true
        case .etags(let list):
            let wanted = ETagCondition.normalize(etag)
            return list.contains { ETagCondition.normalize($0) == wanted }
        }
    }

    static func normalize(_ raw: String) -> String {
        var value = Substring(raw.trimmingCharacters(in: .whitespaces))
        if value.hasPrefix("W/") { value = value.dropFirst(2) }
        if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") {
            value = value.dropFirst().dropLast()
        }
        return String(value)
    }
}

/// Conditions on a write's destination (PutObject, Complete, Copy destination, Delete).
public struct WriteConditions: Sendable, Equatable, Hashable {
    public var ifMatch: ETagCondition?
    public var ifNoneMatch: ETagCondition?
    public init(ifMatch: ETagCondition? = nil, ifNoneMatch: ETagCondition? = nil) {
        self.ifMatch = ifMatch
        self.ifNoneMatch = ifNoneMatch
    }
}

/// The four HTTP preconditions on an existing object (GET/HEAD, and both sides of a rename).
public struct ObjectConditions: Sendable, Equatable, Hashable {
    public var ifMatch: ETagCondition?
    public var ifNoneMatch: ETagCondition?
    /// Seconds since 1970 (HTTP dates have one-second resolution).
    public var ifModifiedSince: Int64?
    public var ifUnmodifiedSince: Int64?

    public init(ifMatch: ETagCondition? = nil, ifNoneMatch: ETagCondition? = nil,
                ifModifiedSince: Int64? = nil, ifUnmodifiedSince: Int64? = nil) {
        self.ifMatch = ifMatch
        self.ifNoneMatch = ifNoneMatch
        self.ifModifiedSince = ifModifiedSince
        self.ifUnmodifiedSince = ifUnmodifiedSince
    }

    public var isEmpty: Bool {
        ifMatch == nil && ifNoneMatch == nil && ifModifiedSince == nil && ifUnmodifiedSince == nil
    }
}

/// A byte range request, as parsed from `Range: bytes=…`.
public enum ByteRange: Sendable, Equatable {
    /// `bytes=first-last` (last inclusive) or `bytes=first-` (last nil).
    case from(first: UInt64, last: UInt64?)
    /// `bytes=-n`: the last n bytes.
    case suffix(length: UInt64)

    /// The concrete half-open range for an object of `size` bytes, or nil when the range
    /// is unsatisfiable (S3 answers 416 InvalidRange).
    public func resolve(size: UInt64) -> Range<UInt64>? {
        switch self {
        case .from(let first, let last):
            guard first < size else { return nil }
            let end = min(last ?? size, size - 1) + 1
            guard end > first else { return nil }
            return first..<end
        case .suffix(let length):
            guard length > 0, size > 0 else { return nil }
            return (size - min(length, size))..<size
        }
    }
}

public struct BucketInfo: Sendable, Equatable {
    public var name: String
    public var createdMilliseconds: Int64
    /// The user that owns it; nil: the administrator.
    public var owner: String? = nil
    public var creationDate: Date { Date(timeIntervalSince1970: Double(createdMilliseconds) / 1000) }
}

/// One page of a listing.
public struct ListResult: Sendable {
    public var objects: [ObjectInfo]
    public var commonPrefixes: [String]
    public var isTruncated: Bool
    /// The last key or common prefix returned: where the next page starts (exclusive).
    public var nextMarker: String?
}

/// The rename of one object within a bucket: S3-SEMANTICS.md, RenameObject.
public struct RenameRequest: Sendable, Equatable, Hashable {
    public var bucket: String
    /// The source key.
    public var source: String
    /// A second source key, tried only when `source` does not exist (the S3 layer reads a
    /// `<bucket>/key` header value so: S3-SEMANTICS.md, "Source format").
    public var fallbackSource: String?
    public var destination: String
    public var destinationConditions: ObjectConditions
    public var sourceConditions: ObjectConditions
    public var clientToken: String?

    public init(bucket: String, source: String, fallbackSource: String? = nil, destination: String,
                destinationConditions: ObjectConditions = ObjectConditions(),
                sourceConditions: ObjectConditions = ObjectConditions(),
                clientToken: String? = nil) {
        self.bucket = bucket
        self.source = source
        self.fallbackSource = fallbackSource
        self.destination = destination
        self.destinationConditions = destinationConditions
        self.sourceConditions = sourceConditions
        self.clientToken = clientToken
    }
}

/// Per-key outcome of a batch delete.
public struct DeleteOutcome: Sendable {
    public var key: String
    public var error: StoreError?
    /// What the deletion did, when it succeeded.
    public var result = DeleteResult()
}

/// What a deletion did, as S3 reports it (`x-amz-version-id`, `x-amz-delete-marker`).
public struct DeleteResult: Sendable, Equatable {
    /// The version deleted (with a `versionId`), or the delete marker made (without one,
    /// in a versioned bucket); nil in a bucket never versioned.
    public var versionID: String?
    /// True when a delete marker was made, or the version deleted was one.
    public var isDeleteMarker = false

    public init(versionID: String? = nil, isDeleteMarker: Bool = false) {
        self.versionID = versionID
        self.isDeleteMarker = isDeleteMarker
    }
}

/// One key of a DeleteObjects request, with its condition.
public struct DeleteTarget: Sendable {
    public var key: String
    /// That version, for good, rather than the current object.
    public var versionID: String?
    /// As DeleteObject's `If-Match`: the key must exist and match.
    public var ifMatch: ETagCondition?
    /// `x-amz-bypass-governance-retention: true`: a version under GOVERNANCE retention
    /// may be deleted (COMPLIANCE and legal holds never).
    public var bypassGovernance: Bool

    public init(key: String, versionID: String? = nil, ifMatch: ETagCondition? = nil, bypassGovernance: Bool = false) {
        self.key = key
        self.versionID = versionID
        self.ifMatch = ifMatch
        self.bypassGovernance = bypassGovernance
    }
}
