import StowageChecksums

/// CopyObject as a metadata-only clone: the new key references the same blob (one more
/// reference), so a 10 GiB copy costs what a 1 KiB one does. Only a copy that changes how
/// the bytes are encrypted (another SSE-C key, SSE-C to none, plain to SSE-S3, …) reads
/// and writes them: decrypted from the source, encrypted anew (`copyBytes`).
public struct CopyRequest: Sendable {
    public enum MetadataDirective: String, Sendable { case copy = "COPY", replace = "REPLACE" }

    public var sourceBucket: String
    public var sourceKey: String
    /// `?versionId=` of `x-amz-copy-source`: that version rather than the current one.
    public var sourceVersionID: String?
    public var bucket: String
    public var key: String
    public var directive: MetadataDirective
    /// With `.replace`: the destination's content headers, metadata, storage class and
    /// SSE. With `.copy`, only `storageClass` and `serverSideEncryption` apply, when set.
    public var attributes: ObjectAttributes
    /// `x-amz-copy-source-if-*`.
    public var sourceConditions: ObjectConditions
    /// `If-Match` / `If-None-Match` on the destination.
    public var conditions: WriteConditions
    /// Object Lock headers for the new version (the source's lock is not copied).
    public var lock: ObjectLock?
    /// `x-amz-tagging-directive: REPLACE`: these tags; nil (COPY) keeps the source's.
    public var tags: [ObjectTag]?
    /// The destination's ACL (`x-amz-acl` / `x-amz-grant-*`); nil: private. A copy never
    /// takes the source's ACL.
    public var acl: AccessControlList?
    /// The checksum algorithm the copy must carry (wire name, `x-amz-checksum-algorithm`):
    /// a copy moves no bytes, so it carries the source's checksum in that algorithm, and a
    /// source without one is refused (NotImplemented) rather than copied without it.
    public var checksumAlgorithm: String?
    /// The destination's encryption as the request asks for it (SSE headers); nil: the
    /// destination bucket's default, else the source's own unless it is SSE-C.
    public var encryption: ServerSideEncryption?
    /// SSE-C keys: of the destination (`x-amz-server-side-encryption-customer-*`) and of
    /// the source (`x-amz-copy-source-server-side-encryption-customer-*`).
    public var customerKey: CustomerKey?
    public var sourceCustomerKey: CustomerKey?

    public init(sourceBucket: String, sourceKey: String, bucket: String, key: String,
                directive: MetadataDirective = .copy, attributes: ObjectAttributes = ObjectAttributes(),
                sourceConditions: ObjectConditions = ObjectConditions(), conditions: WriteConditions = WriteConditions(),
                checksumAlgorithm: String? = nil) {
        self.sourceBucket = sourceBucket
        self.sourceKey = sourceKey
        self.bucket = bucket
        self.key = key
        self.directive = directive
        self.attributes = attributes
        self.sourceConditions = sourceConditions
        self.conditions = conditions
        self.checksumAlgorithm = checksumAlgorithm
    }
}

extension ObjectStore {
    /// The copy's answer: the new object (with its version id in a versioned bucket), and
    /// the version id of the source (`x-amz-copy-source-version-id`).
    public struct CopyResult: Sendable {
        public var object: ObjectInfo
        public var sourceVersionID: String?
    }

    public func copyObject(_ request: CopyRequest) async throws(StoreError) -> CopyResult {
        for bucket in [request.sourceBucket, request.bucket] { try Validation.checkBucketName(bucket) }
        for key in [request.sourceKey, request.key] { try Validation.checkKey(key) }
        try Validation.checkUserMetadata(request.attributes.userMetadata)
        if let tags = request.tags { try Validation.checkTags(tags, limit: Limits.maxObjectTags) }
        try request.conditions.validate()
        let now = Self.nowMilliseconds()
        let versionID = VersionID.make()
        // Whether the copy can share the source's bytes: they must already be encrypted as
        // the destination is to be. Decided on a snapshot; the mutation below checks again.
        let plan = try await readOffLoop { [self] txn in
            let source = try copySource(txn, bucket: request.sourceBucket, key: request.sourceKey,
                                        versionID: request.sourceVersionID, conditions: request.sourceConditions)
            try Self.checkCustomerKey(source, request.sourceCustomerKey, copySource: true)
            return try copyEncryption(txn, request, source: source)
        }
        if plan.source != plan.destination {
            return try await copyBytes(request, destination: plan.destination)
        }
        return try await mutate { [index, self] txn in
            let source = try copySource(txn, bucket: request.sourceBucket, key: request.sourceKey,
                                        versionID: request.sourceVersionID, conditions: request.sourceConditions)
            let encryption = try copyEncryption(txn, request, source: source)
            guard encryption.source == encryption.destination else {
                throw StoreError(.conditionalRequestConflict, "The copy source or the bucket's encryption changed during the copy; retry")
            }
            let sourceVersioning = try index.versioning(txn, request.sourceBucket)
            let destination = try index.bucketRecord(txn, request.bucket)
            if let algorithm = request.checksumAlgorithm,
               !source.attributes.checksums.contains(where: { $0.algorithm == algorithm && !$0.value.contains("-") }) {
                throw StoreError(.notImplemented, "The copy source has no whole-object \(algorithm) checksum, and a copy reads no bytes to compute one")
            }
            let sameObject = request.sourceBucket == request.bucket && Self.sameKey(request.sourceKey, request.key)
                && request.sourceVersionID == nil
            if sameObject && request.directive == .copy && request.attributes.storageClass == nil
                && request.encryption == nil {
                throw StoreError(.invalidRequest, "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
            }
            let existing = try index.object(txn, bucket: request.bucket, key: request.key)
            try request.conditions.check(existing: existing)
            var record = source
            record.lastModifiedMilliseconds = now
            record.attributes = Self.copiedAttributes(source.attributes, request)
            record.attributes.serverSideEncryption = encryption.destination?.stored
            record.versionID = versionID
            if let tags = request.tags { record.tags = tags }
            record.acl = try objectACLForWrite(txn, bucket: request.bucket, request.acl)
            try index.retainBlob(txn, source.blobID)
            let stored = try index.writeVersion(txn, bucket: request.bucket, key: request.key, in: destination,
                                                existing: existing, with: record, lock: request.lock, now: now)
            return CopyResult(object: stored.info(key: request.key, versioning: destination.versioning),
                              sourceVersionID: source.info(key: request.sourceKey, versioning: sourceVersioning).versionID)
        }
    }

    static func copiedAttributes(_ source: ObjectAttributes, _ request: CopyRequest) -> ObjectAttributes {
        var attributes = request.directive == .replace ? request.attributes : source
        // The bytes are the same, so their checksums are too.
        attributes.checksums = source.checksums
        if request.directive == .copy {
            attributes.storageClass = request.attributes.storageClass ?? source.storageClass
        }
        return attributes
    }

    /// The source's encryption and the destination's: the request's, else the destination
    /// bucket's default, else the source's own when its keys are the server's (a copy never
    /// silently decrypts an SSE-S3 or SSE-KMS object), else none.
    func copyEncryption(_ txn: borrowing some IndexReading & ~Copyable, _ request: CopyRequest,
                        source: ObjectRecord) throws -> (source: ServerSideEncryption?, destination: ServerSideEncryption?) {
        let sourceEncryption = ServerSideEncryption(stored: source.attributes.serverSideEncryption)
        try index.requireBucket(txn, request.bucket)
        var destination = request.encryption
        if destination == nil { destination = try defaultEncryption(txn, request.bucket)?.encryption }
        if destination == nil, let inherited = sourceEncryption, !inherited.isCustomer { destination = inherited }
        if let destination { try checkUsable(txn, destination) }
        return (sourceEncryption, destination)
    }

    /// A copy that re-encrypts: the source's bytes read (verified, decrypted) and written
    /// as a new object, as a PUT would, with the copy's metadata, tags and conditions.
    func copyBytes(_ request: CopyRequest, destination: ServerSideEncryption?) async throws(StoreError) -> CopyResult {
        let location = "\(request.sourceBucket)/\(request.sourceKey)"
        let (source, sourceVersionID, body) = try read { txn -> (ObjectRecord, String?, ObjectBody) in
            let source = try copySource(txn, bucket: request.sourceBucket, key: request.sourceKey,
                                        versionID: request.sourceVersionID, conditions: request.sourceConditions)
            try Self.checkCustomerKey(source, request.sourceCustomerKey, copySource: true)
            let (spans, _) = try resolve(txn, blobID: source.blobID, location: location, reading: true,
                                         customerKey: request.sourceCustomerKey)
            let shown = source.info(key: request.sourceKey, versioning: try index.versioning(txn, request.sourceBucket)).versionID
            return (source, shown, ObjectBody(chunks: try plan(spans, range: 0..<source.size, location: location),
                                              verify: options.verifyReads, location: location, logger: options.logger))
        }
        var attributes = Self.copiedAttributes(source.attributes, request)
        attributes.checksums = []
        var algorithms = source.attributes.checksums.filter { !$0.value.contains("-") }
            .compactMap { S3ChecksumAlgorithm(wireName: $0.algorithm) }
        if let wire = request.checksumAlgorithm, let algorithm = S3ChecksumAlgorithm(wireName: wire), !algorithms.contains(algorithm) {
            algorithms.append(algorithm)
        }
        var put = PutRequest(bucket: request.bucket, key: request.key, attributes: attributes, conditions: request.conditions,
                             sizeHint: source.size, checksumAlgorithms: algorithms)
        put.lock = request.lock
        put.tags = request.tags ?? source.tags
        put.acl = request.acl
        put.encryption = destination
        put.customerKey = request.customerKey
        let writer = try beginPut(put)
        do {
            for try await piece in body { try await writer.write(piece) }
            let stored = try await writer.finish()
            return CopyResult(object: stored, sourceVersionID: sourceVersionID)
        } catch {
            await writer.abort()
            throw StoreError.wrapping(error, "copying \(location)")
        }
    }

    /// The copy source with `x-amz-copy-source-if-*` applied (S3-SEMANTICS.md, CopyObject row):
    /// failures are 412, never 304; a true if-match overrides a false if-unmodified-since,
    /// and a false if-none-match fails even when if-modified-since holds.
    /// The copy source: `versionID`'s version, or the current object.
    func copySourceRecord(_ txn: borrowing some IndexReading & ~Copyable, bucket: String, key: String,
                          versionID: String?) throws -> ObjectRecord? {
        let versioning = try index.versioning(txn, bucket)
        guard let versionID else { return try index.object(txn, bucket: bucket, key: key) }
        do {
            return try index.requireVersion(txn, bucket: bucket, key: key, versionID: versionID, versioning: versioning)
        } catch let error as StoreError where error.code == .methodNotAllowed {
            // A delete marker cannot be copied: S3 answers 400 for it.
            throw StoreError(.invalidRequest, "The source of a copy request may not specifically refer to a delete marker by version id.")
        }
    }

    func copySource(_ txn: borrowing some IndexReading & ~Copyable, bucket: String, key: String, versionID: String? = nil,
                    conditions: ObjectConditions) throws -> ObjectRecord {
        guard let source = try copySourceRecord(txn, bucket: bucket, key: key, versionID: versionID) else {
            throw StoreError(.noSuchKey, "The specified copy source key does not exist.")
        }
        if let ifMatch = conditions.ifMatch {
            guard ifMatch.matches(source.etag) else { throw StoreError.precondition("x-amz-copy-source-If-Match") }
        } else if let date = conditions.ifUnmodifiedSince, source.lastModifiedSeconds > date {
            throw StoreError.precondition("x-amz-copy-source-If-Unmodified-Since")
        }
        if let ifNoneMatch = conditions.ifNoneMatch {
            guard !ifNoneMatch.matches(source.etag) else { throw StoreError.precondition("x-amz-copy-source-If-None-Match") }
        } else if let date = conditions.ifModifiedSince, source.lastModifiedSeconds <= date {
            throw StoreError.precondition("x-amz-copy-source-If-Modified-Since")
        }
        return source
    }
}
