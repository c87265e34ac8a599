/// RenameObject: S3-SEMANTICS.md, "RenameObject", in its evaluation order. The swap is one
/// write transaction over key records and the token table — plus, when it replaces a
/// destination, that object's blob reference (I1). No segment file is touched.
extension ObjectStore {
    public struct RenameOutcome: Sendable, Equatable {
        /// True when a retry with the same client token found the rename already done.
        public let replayed: Bool
    }

    @discardableResult
    public func renameObject(_ request: RenameRequest) async throws(StoreError) -> RenameOutcome {
        let candidates = try Self.validate(request)
        let fingerprint = request.fingerprint
        let now = Self.nowMilliseconds()
        let outcome: RenameOutcome
        do {
            outcome = try await mutate { [index] txn in
                try Self.refuseVersioned(try index.versioning(txn, request.bucket), "RenameObject")
                if let token = request.clientToken,
                   let earlier = try txn.withValue(index.tokens, Array(token.utf8), { try TokenRecord(decoding: $0) }),
                   earlier.expiresMilliseconds > now {
                    guard earlier.fingerprint == fingerprint else {
                        throw StoreError(.idempotencyParameterMismatch,
                                         "The client token was already used with different parameters")
                    }
                    return RenameOutcome(replayed: true)
                }
                let (sourceKey, source) = try Self.resolveSource(txn, index, request, candidates)
                try request.sourceConditions.checkRenameSource(source)
                let destination = try index.object(txn, bucket: request.bucket, key: request.destination)
                try request.destinationConditions.checkRenameDestination(destination)
                _ = try index.removeObjectKey(txn, bucket: request.bucket, key: sourceKey)
                try index.replaceObject(txn, bucket: request.bucket, key: request.destination,
                                        existing: destination, with: source)
                if let token = request.clientToken {
                    let record = TokenRecord(expiresMilliseconds: now + Limits.tokenLifetimeMilliseconds,
                                             fingerprint: fingerprint)
                    try txn.put(index.tokens, Array(token.utf8), record.encoded())
                }
                return RenameOutcome(replayed: false)
            }
        } catch {
            if request.clientToken != nil, error.code == .idempotencyParameterMismatch {
                EngineMetrics.clientTokens("mismatch").increment()
            }
            throw error
        }
        if !outcome.replayed { EngineMetrics.renamedObjects.increment() }
        if request.clientToken != nil { EngineMetrics.clientTokens(outcome.replayed ? "replayed" : "recorded").increment() }
        return outcome
    }

    /// RenameObject and prefix rename on a bucket whose versioning is, or ever was,
    /// enabled: 501 (S3-SEMANTICS.md), nothing changed. A rename there would have to move
    /// every version of the key, or leave its history behind under the old name.
    static func refuseVersioned(_ versioning: VersioningState, _ operation: String) throws(StoreError) {
        guard versioning == .never else {
            throw StoreError(.notImplemented, "\(operation) is not available on a bucket whose versioning is or was enabled (this bucket's is \(versioning.status ?? "off"))")
        }
    }

    /// Header and key rules, before anything is read (I8). Returns the source keys to try.
    static func validate(_ request: RenameRequest) throws(StoreError) -> [String] {
        guard !request.source.isEmpty else {
            throw StoreError(.invalidArgument, "The rename source is required and must not be empty")
        }
        if let token = request.clientToken { try Validation.checkClientToken(token) }
        if let ifNoneMatch = request.destinationConditions.ifNoneMatch, ifNoneMatch != .any {
            throw StoreError(.invalidRequest, "A rename's destination condition if-none-match only accepts '*'")
        }
        try Validation.checkBucketName(request.bucket)
        try Validation.checkKey(request.destination)
        let candidates = [request.source] + (request.fallbackSource.map { [$0] } ?? [])
        for candidate in candidates { try Validation.checkKey(candidate) }
        guard !request.destination.hasSuffix("/") else {
            throw StoreError(.invalidRequest, "The destination key must not end with '/'")
        }
        guard !sameKey(candidates[0], request.destination) else {
            throw StoreError(.invalidRequest, "The source and destination keys are the same")
        }
        return candidates
    }

    /// Keys are byte strings: Swift's `==` would call canonically equivalent text (é as
    /// one scalar or two) equal, but they are different S3 keys.
    static func sameKey(_ a: String, _ b: String) -> Bool { a.utf8.elementsEqual(b.utf8) }

    private static func resolveSource(_ txn: borrowing some IndexReading & ~Copyable, _ index: Index, _ request: RenameRequest,
                                      _ candidates: [String]) throws -> (String, ObjectRecord) {
        for candidate in candidates {
            if let record = try index.object(txn, bucket: request.bucket, key: candidate) {
                guard !sameKey(candidate, request.destination) else {
                    throw StoreError(.invalidRequest, "The source and destination keys are the same")
                }
                return (candidate, record)
            }
        }
        throw StoreError(.noSuchKey, "The specified rename source does not exist")
    }
}

extension RenameRequest {
    /// The canonical encoding of every parameter: a retry with the same token must carry
    /// exactly these to be answered from the token table.
    var fingerprint: [UInt8] {
        // Version 2: the source as decoded keys (version 1 held the raw header value).
        var w = RecordWriter(version: 2)
        w.string(bucket)
        w.string(source)
        w.string(fallbackSource ?? "")
        w.string(destination)
        for conditions in [destinationConditions, sourceConditions] {
            for tag in [conditions.ifMatch, conditions.ifNoneMatch] {
                switch tag {
                case nil: w.u8(0)
                case .any: w.u8(1)
                case .etags(let list):
                    w.u8(2)
                    w.string(list.joined(separator: ","))
                }
            }
            for date in [conditions.ifModifiedSince, conditions.ifUnmodifiedSince] {
                w.u8(date == nil ? 0 : 1)
                w.i64(date ?? 0)
            }
        }
        return w.bytes
    }
}
