extension ObjectStore {
    /// DeleteObject: idempotent (deleting a missing key succeeds). With `ifMatch`, the key
    /// must exist (`NoSuchKey`) and match (`PreconditionFailed`); `*` matches any object.
    public func deleteObject(bucket: String, key: String, ifMatch: ETagCondition? = nil) async throws(StoreError) {
        try Validation.checkBucketName(bucket)
        try Validation.checkKey(key)
        try await mutate { [index] txn in
            try index.requireBucket(txn, bucket)
            try Self.delete(txn, index, bucket: bucket, key: key, ifMatch: ifMatch)
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
        try await mutate { [index] txn in
            try index.requireBucket(txn, bucket)
            return try targets.map { target in
                do {
                    try Validation.checkKey(target.key)
                    try txn.nested { child in
                        try Self.delete(child, index, bucket: bucket, key: target.key, ifMatch: target.ifMatch)
                    }
                    return DeleteOutcome(key: target.key, error: nil)
                } catch let error as StoreError {
                    return DeleteOutcome(key: target.key, error: error)
                }
            }
        }
    }

    private static func delete(_ txn: borrowing WriteTransaction, _ index: Index, bucket: String, key: String,
                               ifMatch: ETagCondition?) throws {
        if let ifMatch {
            guard let existing = try index.object(txn, bucket: bucket, key: key) else {
                throw StoreError(.noSuchKey, "The specified key does not exist.")
            }
            guard ifMatch.matches(existing.etag) else { throw StoreError.precondition("If-Match") }
        }
        _ = try index.deleteObject(txn, bucket: bucket, key: key)
    }
}
