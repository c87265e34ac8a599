import Synchronization

/// Lifecycle configurations and the background pass that applies them.
///
/// A pass walks every bucket that has rules, in read snapshots, and collects what is due;
/// each action is then its own mutation that checks again that the version is still the
/// one found (a concurrent write or another gateway's pass may have changed it), so a pass
/// that runs twice, or on two gateways at once, does each thing once. Deletions for good
/// go through `Index.deleteVersion`, which Object Lock guards. At most `actionsPerSecond`
/// actions run per second (rate-bounded as compaction is); a pass does at most
/// `maxActionsPerPass` and the next pass goes on.
///
/// Ages: an object is `Days` old once `Days × dayMilliseconds` passed since it was written
/// (S3 rounds to the next midnight UTC; this store does not). A noncurrent version's age
/// counts from when it became noncurrent: the moment its successor was written.
extension ObjectStore {
    public static let millisecondsPerDay: Int64 = 86_400_000

    public func lifecycleConfiguration(_ bucket: String) throws(StoreError) -> [LifecycleRule] {
        try Validation.checkBucketName(bucket)
        let record = try read { txn in
            try index.requireBucket(txn, bucket)
            return try txn.withValue(index.meta, LifecycleRecord.key(bucket: bucket)) { try LifecycleRecord(decoding: $0) }
        }
        guard let record else {
            throw StoreError(.noSuchLifecycleConfiguration, "The lifecycle configuration does not exist")
        }
        return record.rules
    }

    public func setLifecycleConfiguration(_ bucket: String, rules: [LifecycleRule]) async throws(StoreError) {
        try Validation.checkBucketName(bucket)
        guard !rules.isEmpty, rules.count <= Limits.maxLifecycleRules else {
            throw StoreError(.invalidArgument, "A lifecycle configuration has 1 to \(Limits.maxLifecycleRules) rules")
        }
        let encoded = LifecycleRecord(rules: rules).encoded()
        try await mutate { [index] txn in
            try index.requireBucket(txn, bucket)
            try txn.put(index.meta, LifecycleRecord.key(bucket: bucket), encoded)
        }
    }

    public func deleteLifecycleConfiguration(_ bucket: String) async throws(StoreError) {
        try Validation.checkBucketName(bucket)
        try await mutate { [index] txn in
            try index.requireBucket(txn, bucket)
            _ = try txn.delete(index.meta, LifecycleRecord.key(bucket: bucket))
        }
    }

    /// Runs lifecycle passes every `interval` until the store closes. `dayMilliseconds`
    /// is the length of a "day" of the rules (tests shorten it).
    public func startLifecycle(interval: Duration, dayMilliseconds: Int64 = millisecondsPerDay,
                               actionsPerSecond: Int = 1_000) {
        let task = Task.detached { [self] in
            while !Task.isCancelled {
                do {
                    let report = try await applyLifecycle(dayMilliseconds: dayMilliseconds, actionsPerSecond: actionsPerSecond)
                    if report.total > 0 || report.lockedVersionsKept > 0 {
                        options.logger.info("lifecycle: expired \(report.expiredObjects) objects and \(report.expiredNoncurrentVersions) noncurrent versions, removed \(report.removedDeleteMarkers) delete markers, aborted \(report.abortedUploads) uploads; \(report.lockedVersionsKept) locked versions kept")
                    }
                } catch let error as StoreError {
                    if error.code == .closed { return }
                    options.logger.error("lifecycle: \(error)")
                } catch {
                    options.logger.error("lifecycle: \(error)")
                }
                try? await Task.sleep(for: interval)
            }
        }
        compaction.lifecycle.withLock { $0?.cancel(); $0 = task }
    }

    /// One pass over every bucket with rules, at `now`.
    @discardableResult
    public func applyLifecycle(now: Int64? = nil, dayMilliseconds: Int64 = millisecondsPerDay,
                               actionsPerSecond: Int = 1_000) async throws(StoreError) -> LifecycleReport {
        let now = now ?? Self.nowMilliseconds()
        let configured = try await offLoopAlways { store in try store.configuredBuckets() }
        var report = LifecycleReport()
        var budget = Self.maxActionsPerPass
        let pause = Duration.milliseconds(max(0, 1_000 / max(actionsPerSecond, 1)))
        for (bucket, rules) in configured {
            let limit = budget
            let due = try await offLoopAlways { store in
                try store.dueActions(bucket: bucket, rules: rules.filter(\.enabled), now: now, day: dayMilliseconds,
                                     limit: limit)
            }
            budget -= due.count
            for action in due {
                report.add(try await perform(action, bucket: bucket, now: now))
                if pause > .zero { try? await Task.sleep(for: pause) }
            }
            if budget <= 0 { break }
        }
        compaction.totals.withLock { totals in
            totals.lifecyclePasses += 1
            totals.lifecycle.add(report)
        }
        EngineMetrics.lifecycleActions(report)
        return report
    }

    static let maxActionsPerPass = 10_000

    enum LifecycleAction: Sendable {
        /// Expire the current object `versionID` (nil: the null version) of `key`.
        case expireCurrent(key: String, versionID: String?, etag: String)
        case expireNoncurrent(key: String, versionID: String)
        case removeMarker(key: String, versionID: String)
        case abortUpload(key: String, uploadID: String)
    }

    private func configuredBuckets() throws -> [(String, [LifecycleRule])] {
        try read { txn in
            var found: [(String, [LifecycleRule])] = []
            let prefix = LifecycleRecord.keyPrefix
            try txn.scan(index.meta, from: prefix) { key, value in
                guard key.starts(with: prefix) else { return false }
                let bucket = String(decoding: key[prefix.count...], as: UTF8.self)
                found.append((bucket, try LifecycleRecord(decoding: value).rules))
                return true
            }
            return found
        }
    }

    /// What is due in `bucket` at `now`, from one read snapshot.
    private func dueActions(bucket: String, rules: [LifecycleRule], now: Int64, day: Int64,
                            limit: Int) throws -> [LifecycleAction] {
        guard !rules.isEmpty, limit > 0 else { return [] }
        return try read { txn in
            guard let record = try index.bucket(txn, bucket) else { return [] }
            var due: [LifecycleAction] = []
            let prefix = IndexKey.objectPrefix(bucket: bucket)
            // Current objects past their expiration.
            let expiring = rules.filter { $0.expirationDays != nil || $0.expirationDateMilliseconds != nil }
            if !expiring.isEmpty {
                try txn.scan(index.objects, from: prefix) { rawKey, value in
                    guard rawKey.starts(with: prefix), due.count < limit else { return false }
                    return try Index.expand(rawKey, value, bucketPrefixCount: prefix.count) { keyBytes, object in
                        let key = String(decoding: keyBytes, as: UTF8.self)
                        let expired = expiring.contains { rule in
                            guard rule.matches(key: key, size: object.size, tags: object.tags) else { return false }
                            if let days = rule.expirationDays { return now - object.lastModifiedMilliseconds >= Int64(days) * day }
                            return now >= rule.expirationDateMilliseconds!
                        }
                        if expired { due.append(.expireCurrent(key: key, versionID: object.versionID, etag: object.etag)) }
                        return due.count < limit
                    }
                }
            }
            // Noncurrent versions and lone delete markers.
            let noncurrent = rules.filter { $0.noncurrentDays != nil }
            let markers = rules.filter(\.expiredObjectDeleteMarker)
            if record.versioning != .never, !noncurrent.isEmpty || !markers.isEmpty {
                try txn.scan(index.versions, from: prefix) { rawKey, value in
                    guard rawKey.starts(with: prefix), due.count < limit else { return false }
                    for entry in try VersionGroupRecord(decoding: value).entries {
                        let key = String(decoding: entry.key, as: UTF8.self)
                        let current = try index.object(txn, bucket: bucket, key: key)
                        var successorWritten = current?.lastModifiedMilliseconds
                        var newer = 0
                        for version in entry.history {
                            defer { successorWritten = version.record.lastModifiedMilliseconds }
                            if version.isDeleteMarker { continue }
                            newer += 1
                            let since = successorWritten ?? version.record.lastModifiedMilliseconds
                            let expired = noncurrent.contains { rule in
                                guard rule.matches(key: key, size: version.record.size, tags: version.record.tags) else { return false }
                                if let keep = rule.newerNoncurrentVersions, newer <= keep { return false }
                                return now - since >= Int64(rule.noncurrentDays!) * day
                            }
                            if expired { due.append(.expireNoncurrent(key: key, versionID: version.versionID)) }
                        }
                        if current == nil, entry.history.count == 1, let marker = entry.history.first, marker.isDeleteMarker,
                           markers.contains(where: { $0.matches(key: key) }) {
                            due.append(.removeMarker(key: key, versionID: marker.versionID))
                        }
                    }
                    return due.count < limit
                }
            }
            // Uploads begun too long ago.
            let aborting = rules.filter { $0.abortIncompleteUploadDays != nil }
            if !aborting.isEmpty {
                try txn.scan(index.uploads, from: []) { key, value in
                    guard due.count < limit else { return false }
                    guard key.count == Self.uploadIDLength else { return true }
                    let upload = try UploadRecord(decoding: value)
                    guard upload.bucket == bucket else { return true }
                    let old = aborting.contains { rule in
                        rule.matches(key: upload.key)
                            && now - upload.initiatedMilliseconds >= Int64(rule.abortIncompleteUploadDays!) * day
                    }
                    if old { due.append(.abortUpload(key: upload.key, uploadID: String(decoding: key, as: UTF8.self))) }
                    return true
                }
            }
            return due
        }
    }

    /// One action, checked again inside its own mutation.
    private func perform(_ action: LifecycleAction, bucket: String, now: Int64) async throws(StoreError) -> LifecycleReport {
        var done = LifecycleReport()
        let markerID = VersionID.make()
        do {
            switch action {
            case .expireCurrent(let key, let versionID, let etag):
                let expired = try await mutate { [index] txn in
                    let record = try index.bucketRecord(txn, bucket)
                    guard let current = try index.object(txn, bucket: bucket, key: key),
                          current.versionID == versionID, current.etag == etag else { return false }
                    _ = try index.deleteCurrent(txn, bucket: bucket, key: key, versioning: record.versioning,
                                                markerID: markerID, now: now)
                    return true
                }
                if expired { done.expiredObjects = 1 }
            case .expireNoncurrent(let key, let versionID):
                let removed = try await mutate { [index] txn in
                    try index.deleteVersion(txn, bucket: bucket, key: key, versionID: versionID, now: now) != nil
                }
                if removed { done.expiredNoncurrentVersions = 1 }
            case .removeMarker(let key, let versionID):
                let removed = try await mutate { [index] txn in
                    let history = try index.history(txn, bucket: bucket, key: key)
                    guard try index.object(txn, bucket: bucket, key: key) == nil, history.count == 1,
                          history[0].isDeleteMarker, history[0].versionID == versionID else { return false }
                    return try index.deleteVersion(txn, bucket: bucket, key: key, versionID: versionID, now: now) != nil
                }
                if removed { done.removedDeleteMarkers = 1 }
            case .abortUpload(let key, let uploadID):
                try await abortMultipartUpload(bucket: bucket, key: key, uploadID: uploadID)
                done.abortedUploads = 1
            }
        } catch let error where error.code == .accessDenied {
            done.lockedVersionsKept = 1
        } catch let error where [.noSuchUpload, .noSuchBucket, .noSuchKey].contains(error.code) {
            // Gone meanwhile: nothing to do.
        }
        return done
    }
}
