/// The conditional-request rules of S3-SEMANTICS.md, one function per table.
/// Last-Modified compares at one-second resolution, as HTTP dates do.

extension ObjectRecord {
    var lastModifiedSeconds: Int64 { lastModifiedMilliseconds / 1000 }
}

extension WriteConditions {
    /// Header-level checks before anything is read (I8): `If-None-Match` takes only `*`,
    /// and Put/Complete do not take both conditions at once.
    func validate() throws(StoreError) {
        if let ifNoneMatch, ifNoneMatch != .any {
            throw StoreError(.invalidRequest, "If-None-Match on a write only accepts '*'")
        }
        if ifMatch != nil && ifNoneMatch != nil {
            throw StoreError(.notImplemented, "A write with both If-Match and If-None-Match is not implemented")
        }
    }

    /// Conditional writes: "Conditional writes: PutObject, CompleteMultipartUpload, CopyObject".
    func check(existing: ObjectRecord?) throws(StoreError) {
        if ifNoneMatch != nil, existing != nil {
            throw .precondition("If-None-Match")
        }
        if let ifMatch {
            guard let existing else {
                throw StoreError(.noSuchKey, "The specified key does not exist (If-Match on a missing object)")
            }
            if !ifMatch.matches(existing.etag) { throw .precondition("If-Match") }
        }
    }
}

extension ObjectConditions {
    /// GET/HEAD ("Conditional reads"): 412 conditions before 304 ones; a future
    /// If-Modified-Since is ignored.
    func checkForRead(_ record: ObjectRecord, key: String, nowSeconds: Int64) throws(StoreError) {
        if let ifMatch, !ifMatch.matches(record.etag) {
            throw .precondition("If-Match")
        }
        if let ifUnmodifiedSince, ifMatch == nil, record.lastModifiedSeconds > ifUnmodifiedSince {
            throw .precondition("If-Unmodified-Since")
        }
        if let ifNoneMatch, ifNoneMatch.matches(record.etag) {
            throw .notModified(record, key: key)
        }
        if let ifModifiedSince, ifNoneMatch == nil, ifModifiedSince <= nowSeconds,
           record.lastModifiedSeconds <= ifModifiedSince {
            throw .notModified(record, key: key)
        }
    }

    /// `x-amz-rename-source-if-*`: each failure is 412 naming the plain header.
    /// `If-None-Match: *` always fails, since the source exists.
    func checkRenameSource(_ record: ObjectRecord) throws(StoreError) {
        if let ifMatch, !ifMatch.matches(record.etag) { throw .precondition("If-Match") }
        if let ifNoneMatch, ifNoneMatch.matches(record.etag) { throw .precondition("If-None-Match") }
        if let ifModifiedSince, record.lastModifiedSeconds <= ifModifiedSince {
            throw .precondition("If-Modified-Since")
        }
        if let ifUnmodifiedSince, record.lastModifiedSeconds > ifUnmodifiedSince {
            throw .precondition("If-Unmodified-Since")
        }
    }

    /// Rename destination, in S3-SEMANTICS.md's order: If-Match, If-Unmodified-Since,
    /// If-None-Match, If-Modified-Since. If-Match and If-Modified-Since need the
    /// destination to exist; If-Unmodified-Since holds for an absent one.
    func checkRenameDestination(_ record: ObjectRecord?) throws(StoreError) {
        if let ifMatch {
            guard let record, ifMatch.matches(record.etag) else { throw .precondition("If-Match") }
        }
        if let ifUnmodifiedSince, let record, record.lastModifiedSeconds > ifUnmodifiedSince {
            throw .precondition("If-Unmodified-Since")
        }
        if ifNoneMatch != nil, record != nil { throw .precondition("If-None-Match") }
        if let ifModifiedSince {
            guard let record, record.lastModifiedSeconds > ifModifiedSince else {
                throw .precondition("If-Modified-Since")
            }
        }
    }
}

extension StoreError {
    static func notModified(_ record: ObjectRecord, key: String) -> StoreError {
        var error = StoreError(.notModified, "Not Modified")
        error.object = record.info(key: key)
        return error
    }
}
