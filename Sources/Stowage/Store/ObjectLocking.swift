/// Object Lock on buckets and versions (the rules: `Model/ObjectLock.swift`; enforced on
/// every path that deletes a version for good: `Index.deleteVersion`).
extension ObjectStore {
    /// GetObjectLockConfiguration; `ObjectLockConfigurationNotFoundError` when the bucket
    /// has no Object Lock.
    public func objectLockConfiguration(_ bucket: String) throws(StoreError) -> ObjectLockConfiguration {
        try Validation.checkBucketName(bucket)
        let record = try read { txn in try index.bucketRecord(txn, bucket) }
        guard record.objectLockEnabled else {
            throw StoreError(.objectLockConfigurationNotFound, "Object Lock configuration does not exist for this bucket")
        }
        return ObjectLockConfiguration(enabled: true, defaultRetention: record.defaultRetention)
    }

    /// PutObjectLockConfiguration: turns Object Lock on (for good; versioning must be
    /// Enabled) and sets or clears the default retention.
    public func setObjectLockConfiguration(_ bucket: String, defaultRetention: DefaultRetention?) async throws(StoreError) {
        try Validation.checkBucketName(bucket)
        if let retention = defaultRetention {
            guard retention.period > 0, retention.period <= (retention.inYears ? 100 : 36_500) else {
                throw StoreError(.invalidArgument, "Default retention period must be a positive integer value (at most 36500 days or 100 years)")
            }
        }
        try await mutate { [index] txn in
            var record = try index.bucketRecord(txn, bucket)
            guard record.objectLockEnabled || record.versioning == .enabled else {
                throw StoreError(.invalidBucketState, "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration")
            }
            record.objectLockEnabled = true
            record.defaultRetention = defaultRetention
            try txn.put(index.buckets, Array(bucket.utf8), record.encoded())
        }
    }

    /// GetObjectRetention of a version (the current one without `versionID`).
    public func objectRetention(bucket: String, key: String, versionID: String? = nil) throws(StoreError) -> ObjectLock {
        let lock = try read { txn in try lockedVersion(txn, bucket: bucket, key: key, versionID: versionID).1.lock }
        guard lock.mode != nil else {
            throw StoreError(.noSuchObjectLockConfiguration, "The specified object does not have a ObjectLock configuration")
        }
        return lock
    }

    public func objectLegalHold(bucket: String, key: String, versionID: String? = nil) throws(StoreError) -> Bool {
        try read { txn in try lockedVersion(txn, bucket: bucket, key: key, versionID: versionID).1.lock.legalHold }
    }

    /// PutObjectRetention: sets, extends, shortens or removes a version's retention.
    /// COMPLIANCE only lengthens; weakening GOVERNANCE (an earlier date, or none) needs
    /// `bypassGovernance`; a new date must lie in the future.
    public func setObjectRetention(bucket: String, key: String, versionID: String? = nil, mode: RetentionMode?,
                                   retainUntilMilliseconds: Int64, bypassGovernance: Bool) async throws(StoreError) {
        let now = Self.nowMilliseconds()
        if mode != nil, retainUntilMilliseconds <= now {
            throw StoreError(.invalidArgument, "The retain until date must be in the future!")
        }
        try await mutate { [index, self] txn in
            let (location, record) = try lockedVersion(txn, bucket: bucket, key: key, versionID: versionID)
            let old = record.lock
            if let oldMode = old.mode, old.retainUntilMilliseconds > now {
                let weakened = mode == nil || retainUntilMilliseconds < old.retainUntilMilliseconds
                    || (oldMode == .compliance && mode == .governance)
                if weakened && (oldMode == .compliance || !bypassGovernance) {
                    throw StoreError(.accessDenied, "Access Denied because object protected by object lock (\(oldMode.name) retention cannot be shortened or removed\(oldMode == .governance ? " without x-amz-bypass-governance-retention" : "")).")
                }
            }
            var updated = record
            updated.lock = ObjectLock(mode: mode, retainUntilMilliseconds: retainUntilMilliseconds, legalHold: old.legalHold)
            try index.replaceVersionRecord(txn, bucket: bucket, key: key, at: location, with: updated)
        }
    }

    public func setObjectLegalHold(bucket: String, key: String, versionID: String? = nil, on: Bool) async throws(StoreError) {
        try await mutate { [index, self] txn in
            let (location, record) = try lockedVersion(txn, bucket: bucket, key: key, versionID: versionID)
            var updated = record
            updated.lock.legalHold = on
            try index.replaceVersionRecord(txn, bucket: bucket, key: key, at: location, with: updated)
        }
    }

    /// The object version a retention or legal-hold request names, in a bucket with
    /// Object Lock (400 otherwise).
    private func lockedVersion(_ txn: borrowing some IndexReading & ~Copyable, bucket: String, key: String,
                               versionID: String?) throws -> (Index.VersionLocation, ObjectRecord) {
        try Validation.checkBucketName(bucket)
        guard try index.bucketRecord(txn, bucket).objectLockEnabled else {
            throw StoreError(.invalidRequest, "Bucket is missing Object Lock Configuration")
        }
        let (location, record, _) = try namedVersion(txn, bucket: bucket, key: key, versionID: versionID)
        return (location, record)
    }
}
