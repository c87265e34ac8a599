extension ObjectStore {
    /// DeleteObject: idempotent (deleting a missing key succeeds). With `ifMatch`, the key
    /// must exist (`NoSuchKey`) and match (`PreconditionFailed`); `*` matches any object.
    /// In a versioned bucket, without `versionID` a delete marker becomes the latest
    /// version; with it, that version is deleted for good.
    @discardableResult
    public func deleteObject(bucket: String, key: String, versionID: String? = nil,
                             ifMatch: ETagCondition? = nil, bypassGovernance: Bool = false) async throws(StoreError) -> DeleteResult {
        try Validation.checkBucketName(bucket)
        try Validation.checkKey(key)
        if let versionID, !VersionID.isWellFormed(versionID) {
            throw StoreError(.invalidArgument, "Invalid version id specified")
        }
        let markerID = VersionID.make()
        let now = Self.nowMilliseconds()
        return try await mutate { [index] txn in
            try Self.delete(txn, index, bucket: bucket,
                            target: DeleteTarget(key: key, versionID: versionID, ifMatch: ifMatch, bypassGovernance: bypassGovernance),
                            markerID: markerID, now: now)
        }
    }

    /// DeleteObjects: every key in one transaction, each with its own outcome.
    public func deleteObjects(bucket: String, keys: [String]) async throws(StoreError) -> [DeleteOutcome] {
        try await deleteObjects(bucket: bucket, targets: keys.map { DeleteTarget(key: $0) })
    }

    /// DeleteObjects with a condition per key: an `ifMatch` as DeleteObject's. Every key
    /// in one transaction when the index takes any size (LMDB); over etcd, whose
    /// transactions are bounded, in batches (`itemsPerMutation`), a batch that is still too
    /// large split in two — S3 promises each key its own outcome, not one for all.
    public func deleteObjects(bucket: String, targets: [DeleteTarget]) async throws(StoreError) -> [DeleteOutcome] {
        try Validation.checkBucketName(bucket)
        guard targets.count <= Limits.maxDeleteKeys else {
            throw StoreError(.invalidRequest, "A DeleteObjects request takes at most \(Limits.maxDeleteKeys) keys")
        }
        guard let batch = itemsPerMutation, targets.count > batch else {
            return try await deleteBatch(bucket: bucket, targets[...])
        }
        var outcomes: [DeleteOutcome] = []
        for start in stride(from: 0, to: targets.count, by: batch) {
            outcomes += try await deleteSplitting(bucket: bucket, targets[start..<min(start + batch, targets.count)])
        }
        return outcomes
    }

    private func deleteSplitting(bucket: String, _ targets: ArraySlice<DeleteTarget>) async throws(StoreError) -> [DeleteOutcome] {
        do {
            return try await deleteBatch(bucket: bucket, targets)
        } catch let error where error.code == .transactionTooLarge {
            guard targets.count > 1 else { return [DeleteOutcome(key: targets.first!.key, error: error)] }
            let middle = targets.startIndex + targets.count / 2
            return try await deleteSplitting(bucket: bucket, targets[..<middle])
                + deleteSplitting(bucket: bucket, targets[middle...])
        }
    }

    private func deleteBatch(bucket: String, _ targets: ArraySlice<DeleteTarget>) async throws(StoreError) -> [DeleteOutcome] {
        let markerIDs = targets.map { _ in VersionID.make() }
        let now = Self.nowMilliseconds()
        return try await mutate { [index] txn in
            try index.requireBucket(txn, bucket)
            return try zip(targets, markerIDs).map { target, markerID in
                do {
                    try Validation.checkKey(target.key)
                    if let versionID = target.versionID, !VersionID.isWellFormed(versionID) {
                        throw StoreError(.noSuchVersion, "The specified version does not exist.")
                    }
                    let result = try txn.nested { child in
                        try Self.delete(child, index, bucket: bucket, target: target, markerID: markerID, now: now)
                    }
                    return DeleteOutcome(key: target.key, error: nil, result: result)
                } catch let error as StoreError {
                    return DeleteOutcome(key: target.key, error: error)
                }
            }
        }
    }

    private static func delete(_ txn: borrowing WriteTransaction, _ index: Index, bucket: String, target: DeleteTarget,
                               markerID: String, now: Int64) throws -> DeleteResult {
        let versioning = try index.versioning(txn, bucket)
        let key = target.key
        if let ifMatch = target.ifMatch {
            let existing = try target.versionID.map { versionID in
                try index.findVersion(txn, bucket: bucket, key: key, versionID: versionID).flatMap { location in
                    switch location {
                    case .current(let record): return record
                    case .history(_, let entry): return entry.isDeleteMarker ? nil : entry.record
                    }
                }
            } ?? index.object(txn, bucket: bucket, key: key)
            guard let existing else { throw StoreError(.noSuchKey, "The specified key does not exist.") }
            guard ifMatch.matches(existing.etag) else { throw StoreError.precondition("If-Match") }
        }
        if let versionID = target.versionID {
            // A version that is not there: nothing to do, as S3 answers (204).
            guard let deleted = try index.deleteVersion(txn, bucket: bucket, key: key, versionID: versionID, now: now,
                                                        bypassGovernance: target.bypassGovernance) else {
                return DeleteResult(versionID: versionID)
            }
            return DeleteResult(versionID: deleted.versionID, isDeleteMarker: deleted.isDeleteMarker)
        }
        guard let marker = try index.deleteCurrent(txn, bucket: bucket, key: key, versioning: versioning,
                                                   markerID: markerID, now: now) else { return DeleteResult() }
        return DeleteResult(versionID: marker.versionID, isDeleteMarker: true)
    }
}
