/// One tag of an object version or a bucket.
public struct ObjectTag: Sendable, Equatable, Hashable {
    public var key: String
    public var value: String

    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }
}

extension Validation {
    /// S3's tag rules: at most `limit` tags (10 on an object, 50 on a bucket), keys of 1 to
    /// 128 characters and values of at most 256, each key once, none in the reserved
    /// `aws:` namespace.
    public static func checkTags(_ tags: [ObjectTag], limit: Int) throws(StoreError) {
        guard tags.count <= limit else {
            throw StoreError(.invalidTag, limit == Limits.maxObjectTags ? "Object tags cannot be greater than \(limit)"
                                                                          : "Bucket tag count cannot be greater than \(limit)")
        }
        var seen = Set<String>()
        for tag in tags {
            guard (1...128).contains(tag.key.count) else {
                throw StoreError(.invalidTag, "The TagKey you have provided is invalid: a key has 1 to 128 characters")
            }
            guard tag.value.count <= 256 else {
                throw StoreError(.invalidTag, "The TagValue you have provided is invalid: a value has at most 256 characters")
            }
            guard !tag.key.lowercased().hasPrefix("aws:") else {
                throw StoreError(.invalidTag, "Your TagKey cannot be prefixed with aws:")
            }
            guard seen.insert(tag.key).inserted else {
                throw StoreError(.invalidTag, "Cannot provide multiple Tags with the same key")
            }
        }
    }
}
