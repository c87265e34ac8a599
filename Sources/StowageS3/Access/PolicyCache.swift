import Synchronization

/// Parsed policies by their exact text (and the bucket they were parsed for), so that the
/// JSON of a bucket's or a user's policy is parsed once, not on every request that needs
/// it. A changed policy is a different text, so nothing is ever stale; at most `capacity`
/// entries are kept (the whole cache is dropped when full — policies are few).
final class PolicyCache: Sendable {
    private struct Key: Hashable {
        var bucket: String?
        var text: [UInt8]
    }

    private let entries = Mutex<[Key: BucketPolicy]>([:])
    let capacity: Int

    init(capacity: Int = 1024) { self.capacity = capacity }

    func parsed(_ text: [UInt8], bucket: String?) throws(S3Error) -> BucketPolicy {
        let key = Key(bucket: bucket, text: text)
        if let hit = entries.withLock({ $0[key] }) { return hit }
        let policy = try PolicyParser.parse(text, bucket: bucket)
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = policy
        }
        return policy
    }

    var count: Int { entries.withLock { $0.count } }
}
