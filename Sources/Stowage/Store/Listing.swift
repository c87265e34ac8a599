/// ListObjects straight from an LMDB cursor: keys sort by raw bytes, which is S3's order.
extension ObjectStore {
    /// One page of keys under `prefix`, after `startAfter`, rolled up at `delimiter`.
    /// A common prefix at or before `startAfter` is skipped, so a page may end on one and
    /// the next page (starting after it) never repeats it.
    public func listObjects(bucket: String, prefix: String = "", delimiter: String? = nil,
                            startAfter: String? = nil, maxKeys: Int = Limits.maxListKeys) throws(StoreError) -> ListResult {
        try Validation.checkBucketName(bucket)
        let limit = min(max(maxKeys, 0), Limits.maxListKeys)
        return try read { txn in
            try index.requireBucket(txn, bucket)
            var page = ListPage(prefix: Array(prefix.utf8), delimiter: delimiter.flatMap { $0.isEmpty ? nil : Array($0.utf8) },
                                startAfter: startAfter.map { Array($0.utf8) }, limit: limit)
            let bucketPrefix = IndexKey.objectPrefix(bucket: bucket)
            let after = page.startAfter ?? []
            var seek: [UInt8]? = Self.seekKey(bucketPrefix + (page.prefix.lexicographicallyPrecedes(after) ? after : page.prefix))
            while let start = seek {
                seek = nil
                try txn.scan(index.objects, from: start) { rawKey, value in
                    guard rawKey.starts(with: bucketPrefix) else { return false }
                    return try Index.expand(rawKey, value, bucketPrefixCount: bucketPrefix.count) { key, record in
                        switch page.offer(key, record) {
                        case .next: return true
                        case .stop: return false
                        case .seek(let after):
                            // A target past LMDB's key limit lies inside a group slot:
                            // walking on is as fast and never loops back.
                            guard bucketPrefix.count + after.count <= ObjectSlot.maxShortKeyBytes else { return true }
                            seek = bucketPrefix + after
                            return false
                        }
                    }
                }
            }
            return page.result
        }
    }

    /// Where a cursor must start to see `key` and everything after it: a key longer than
    /// LMDB allows starts at its group slot, whose earlier members the page then skips.
    static func seekKey(_ key: [UInt8]) -> [UInt8] {
        key.count <= ObjectSlot.maxShortKeyBytes ? key : Array(key.prefix(ObjectSlot.maxShortKeyBytes)) + [0]
    }
}

/// The state of one listing page as the cursor walks.
private struct ListPage {
    enum Step { case next, stop, seek([UInt8]) }

    let prefix: [UInt8]
    let delimiter: [UInt8]?
    let startAfter: [UInt8]?
    let limit: Int
    var result = ListResult(objects: [], commonPrefixes: [], isTruncated: false, nextMarker: nil)
    private var count: Int { result.objects.count + result.commonPrefixes.count }
    private var lastCommonPrefix: [UInt8]?

    init(prefix: [UInt8], delimiter: [UInt8]?, startAfter: [UInt8]?, limit: Int) {
        self.prefix = prefix
        self.delimiter = delimiter
        self.startAfter = startAfter
        self.limit = limit
    }

    mutating func offer(_ key: [UInt8], _ record: ObjectRecord) -> Step {
        guard key.starts(with: prefix) else {
            return key.lexicographicallyPrecedes(prefix) ? .next : .stop
        }
        if let startAfter, !startAfter.lexicographicallyPrecedes(key) { return .next }
        if let common = commonPrefix(of: key) {
            let passed = startAfter.map { !$0.lexicographicallyPrecedes(common) } ?? false
            if passed || common == lastCommonPrefix {
                return ObjectStore.prefixSuccessor(common).map { .seek($0) } ?? .stop
            }
            guard count < limit else { return truncate() }
            result.commonPrefixes.append(String(decoding: common, as: UTF8.self))
            result.nextMarker = String(decoding: common, as: UTF8.self)
            lastCommonPrefix = common
            return ObjectStore.prefixSuccessor(common).map { .seek($0) } ?? .stop
        }
        guard count < limit else { return truncate() }
        let name = String(decoding: key, as: UTF8.self)
        result.objects.append(record.info(key: name))
        result.nextMarker = name
        return .next
    }

    private mutating func truncate() -> Step {
        result.isTruncated = true
        return .stop
    }

    /// `prefix` + the rest of the key up to and including the first delimiter after it.
    private func commonPrefix(of key: [UInt8]) -> [UInt8]? {
        guard let delimiter, !delimiter.isEmpty else { return nil }
        let rest = key[prefix.count...]
        guard rest.count >= delimiter.count else { return nil }
        var i = rest.startIndex
        while i + delimiter.count <= rest.endIndex {
            if rest[i..<i + delimiter.count].elementsEqual(delimiter) {
                return Array(key[..<(i + delimiter.count)])
            }
            i += 1
        }
        return nil
    }

}
