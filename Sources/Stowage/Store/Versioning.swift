/// Bucket versioning and ListObjectVersions (the records: `Index/Versions.swift`).
extension ObjectStore {
    public func bucketVersioning(_ bucket: String) throws(StoreError) -> VersioningState {
        try Validation.checkBucketName(bucket)
        return try read { txn in try index.versioning(txn, bucket) }
    }

    /// PutBucketVersioning: Enabled or Suspended. There is no way back to "never
    /// enabled", so the bucket is from now on one RenameObject refuses.
    public func setBucketVersioning(_ bucket: String, enabled: Bool) async throws(StoreError) {
        try Validation.checkBucketName(bucket)
        try await mutate { [index] txn in
            var record = try index.bucketRecord(txn, bucket)
            guard enabled || !record.objectLockEnabled else {
                throw StoreError(.invalidBucketState, "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.")
            }
            record.versioning = enabled ? .enabled : .suspended
            try txn.put(index.buckets, Array(bucket.utf8), record.encoded())
        }
    }

    /// One page of ListObjectVersions: every version of every key under `prefix`, keys in
    /// byte order and each key's versions newest first (the current one, then its history),
    /// rolled up at `delimiter`; after (`keyMarker`, `versionIDMarker`). A common prefix
    /// counts as one entry toward `maxKeys`, as in ListObjects.
    public func listObjectVersions(bucket: String, prefix: String = "", delimiter: String? = nil,
                                   keyMarker: String? = nil, versionIDMarker: String? = nil,
                                   maxKeys: Int = Limits.maxListKeys) throws(StoreError) -> VersionList {
        try Validation.checkBucketName(bucket)
        let limit = min(max(maxKeys, 0), Limits.maxListKeys)
        return try read { txn in
            let versioning = try index.versioning(txn, bucket)
            var page = VersionPage(prefix: Array(prefix.utf8), delimiter: delimiter.flatMap { $0.isEmpty ? nil : Array($0.utf8) },
                                   keyMarker: keyMarker.map { Array($0.utf8) }, versionIDMarker: versionIDMarker,
                                   limit: limit, versioning: versioning)
            let marker = page.keyMarker ?? []
            var from: [UInt8]? = page.prefix.lexicographicallyPrecedes(marker) ? marker : page.prefix
            // Each round reads up to `batch` keys from each table and merges the keys both
            // have read past; a common prefix restarts the walk after it.
            let batch = limit + 1
            while let start = from, !page.isFull {
                from = nil
                let (current, currentDone) = try currentObjects(txn, bucket: bucket, from: start, prefix: page.prefix, limit: batch)
                let (histories, historiesDone) = try histories(txn, bucket: bucket, from: start, prefix: page.prefix, limit: batch)
                var horizon: [UInt8]?
                if !currentDone, let last = current.last?.key { horizon = last }
                if !historiesDone, let last = histories.last?.key, horizon.map({ last.lexicographicallyPrecedes($0) }) ?? true {
                    horizon = last
                }
                var i = 0, j = 0
                merging: while i < current.count || j < histories.count {
                    let key: [UInt8]
                    if j >= histories.count || (i < current.count && !histories[j].key.lexicographicallyPrecedes(current[i].key)) {
                        key = current[i].key
                    } else {
                        key = histories[j].key
                    }
                    if let horizon, horizon.lexicographicallyPrecedes(key) { break }
                    let object = i < current.count && current[i].key == key ? current[i].record : nil
                    let history = j < histories.count && histories[j].key == key ? histories[j].history : []
                    if object != nil { i += 1 }
                    if !history.isEmpty { j += 1 }
                    switch page.offer(key, current: object, history: history) {
                    case .next: continue
                    case .stop: break merging
                    case .skipPast(let rolledUp):
                        from = Self.prefixSuccessor(rolledUp)
                        break merging
                    }
                }
                if from == nil, !page.isFull, let horizon { from = horizon + [0] }
            }
            return page.result
        }
    }

    /// The first byte string after every string that starts with `prefix`; nil if none.
    static func prefixSuccessor(_ prefix: [UInt8]) -> [UInt8]? {
        var bytes = prefix
        while let last = bytes.last {
            if last < 0xFF {
                bytes[bytes.count - 1] = last + 1
                return bytes
            }
            bytes.removeLast()
        }
        return nil
    }

    /// Up to `limit` current objects with keys ≥ `from` under `prefix`; done when the
    /// bucket's keys under the prefix ran out.
    private func currentObjects(_ txn: borrowing some IndexReading & ~Copyable, bucket: String, from: [UInt8], prefix: [UInt8],
                                limit: Int) throws -> ([(key: [UInt8], record: ObjectRecord)], done: Bool) {
        let bucketPrefix = IndexKey.objectPrefix(bucket: bucket)
        var found: [(key: [UInt8], record: ObjectRecord)] = []
        var done = true
        try txn.scan(index.objects, from: Self.seekKey(bucketPrefix + from)) { rawKey, value in
            guard rawKey.starts(with: bucketPrefix) else { return false }
            return try Index.expand(rawKey, value, bucketPrefixCount: bucketPrefix.count) { key, record in
                guard !key.lexicographicallyPrecedes(from) else { return true }
                guard key.starts(with: prefix) else {
                    return prefix.lexicographicallyPrecedes(key) ? false : true
                }
                guard found.count < limit else {
                    done = false
                    return false
                }
                found.append((key, record))
                return true
            }
        }
        return (found, done)
    }

    /// As `currentObjects`, for the keys' histories.
    private func histories(_ txn: borrowing some IndexReading & ~Copyable, bucket: String, from: [UInt8], prefix: [UInt8],
                           limit: Int) throws -> ([(key: [UInt8], history: [VersionEntry])], done: Bool) {
        let bucketPrefix = IndexKey.objectPrefix(bucket: bucket)
        var found: [(key: [UInt8], history: [VersionEntry])] = []
        var done = true
        try txn.scan(index.versions, from: Self.seekKey(bucketPrefix + from)) { rawKey, value in
            guard rawKey.starts(with: bucketPrefix) else { return false }
            for entry in try VersionGroupRecord(decoding: value).entries {
                guard !entry.key.lexicographicallyPrecedes(from) else { continue }
                guard entry.key.starts(with: prefix) else {
                    if prefix.lexicographicallyPrecedes(entry.key) { return false }
                    continue
                }
                guard found.count < limit else {
                    done = false
                    return false
                }
                found.append((entry.key, entry.history))
            }
            return true
        }
        return (found, done)
    }
}

/// One version as ListObjectVersions shows it.
public struct ListedVersion: Sendable {
    public var info: ObjectInfo
    public var isLatest: Bool
}

public struct VersionList: Sendable {
    /// Object versions and delete markers (`info.isDeleteMarker`), in listing order.
    public var versions: [ListedVersion] = []
    public var commonPrefixes: [String] = []
    public var isTruncated = false
    public var nextKeyMarker: String?
    public var nextVersionIDMarker: String?
}

/// The state of one ListObjectVersions page as the merge walks keys.
private struct VersionPage {
    enum Step { case next, stop, skipPast([UInt8]) }

    let prefix: [UInt8]
    let delimiter: [UInt8]?
    let keyMarker: [UInt8]?
    let versionIDMarker: String?
    let limit: Int
    let versioning: VersioningState
    var result = VersionList()
    private var count: Int { result.versions.count + result.commonPrefixes.count }
    var isFull: Bool { result.isTruncated || (limit == 0) }

    init(prefix: [UInt8], delimiter: [UInt8]?, keyMarker: [UInt8]?, versionIDMarker: String?, limit: Int,
         versioning: VersioningState) {
        (self.prefix, self.delimiter, self.keyMarker, self.versionIDMarker, self.limit, self.versioning) =
            (prefix, delimiter, keyMarker, versionIDMarker, limit, versioning)
    }

    mutating func offer(_ key: [UInt8], current: ObjectRecord?, history: [VersionEntry]) -> Step {
        let name = String(decoding: key, as: UTF8.self)
        if let delimiter, let rolledUp = commonPrefix(of: key, delimiter) {
            if let keyMarker, !keyMarker.lexicographicallyPrecedes(rolledUp) || keyMarker.starts(with: rolledUp) {
                return .skipPast(rolledUp)
            }
            guard count < limit else { return truncate() }
            result.commonPrefixes.append(String(decoding: rolledUp, as: UTF8.self))
            result.nextKeyMarker = String(decoding: rolledUp, as: UTF8.self)
            result.nextVersionIDMarker = nil
            return .skipPast(rolledUp)
        }
        var versions: [ListedVersion] = []
        if let current {
            versions.append(ListedVersion(info: current.info(key: name, versioning: versioning.listed), isLatest: true))
        }
        for (n, entry) in history.enumerated() {
            let info = entry.isDeleteMarker ? entry.markerInfo(key: name) : entry.record.info(key: name, versioning: versioning.listed)
            versions.append(ListedVersion(info: info, isLatest: current == nil && n == 0))
        }
        if let keyMarker {
            if key.lexicographicallyPrecedes(keyMarker) { return .next }
            if key == keyMarker {
                guard let versionIDMarker, let at = versions.firstIndex(where: { $0.info.versionID == versionIDMarker }) else {
                    return .next
                }
                versions.removeFirst(at + 1)
            }
        }
        for version in versions {
            guard count < limit else { return truncate() }
            result.versions.append(version)
            result.nextKeyMarker = name
            result.nextVersionIDMarker = version.info.versionID
        }
        return .next
    }

    private mutating func truncate() -> Step {
        result.isTruncated = true
        return .stop
    }

    private func commonPrefix(of key: [UInt8], _ delimiter: [UInt8]) -> [UInt8]? {
        let rest = key[prefix.count...]
        guard let range = rest.firstRange(of: delimiter) else { return nil }
        return Array(key[..<range.upperBound])
    }
}

extension VersioningState {
    /// A listing shows `null` version ids even in a bucket never versioned.
    var listed: VersioningState { self == .never ? .enabled : self }
}
