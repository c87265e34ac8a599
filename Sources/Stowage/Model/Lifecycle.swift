/// A bucket's lifecycle rules (`PutBucketLifecycleConfiguration`), as the engine applies
/// them in its background pass (`Store/LifecycleRunner.swift`).
public struct LifecycleRule: Sendable, Equatable {
    public struct Tag: Sendable, Equatable {
        public var key: String
        public var value: String
        public init(key: String, value: String) { (self.key, self.value) = (key, value) }
    }

    public var id: String
    public var enabled: Bool
    // The filter: every condition given must hold (S3's `And`).
    public var prefix: String
    /// Every one of these must be among the object version's tags.
    public var tags: [Tag]
    public var sizeGreaterThan: UInt64?
    public var sizeLessThan: UInt64?
    // The actions.
    public var expirationDays: Int?
    public var expirationDateMilliseconds: Int64?
    /// Removes a delete marker that is the only version left of its key.
    public var expiredObjectDeleteMarker: Bool
    public var noncurrentDays: Int?
    /// With `noncurrentDays`: this many newest noncurrent versions are kept whatever age.
    public var newerNoncurrentVersions: Int?
    public var abortIncompleteUploadDays: Int?

    public init(id: String, enabled: Bool = true, prefix: String = "", tags: [Tag] = [],
                sizeGreaterThan: UInt64? = nil, sizeLessThan: UInt64? = nil, expirationDays: Int? = nil,
                expirationDateMilliseconds: Int64? = nil, expiredObjectDeleteMarker: Bool = false,
                noncurrentDays: Int? = nil, newerNoncurrentVersions: Int? = nil, abortIncompleteUploadDays: Int? = nil) {
        self.id = id
        self.enabled = enabled
        self.prefix = prefix
        self.tags = tags
        self.sizeGreaterThan = sizeGreaterThan
        self.sizeLessThan = sizeLessThan
        self.expirationDays = expirationDays
        self.expirationDateMilliseconds = expirationDateMilliseconds
        self.expiredObjectDeleteMarker = expiredObjectDeleteMarker
        self.noncurrentDays = noncurrentDays
        self.newerNoncurrentVersions = newerNoncurrentVersions
        self.abortIncompleteUploadDays = abortIncompleteUploadDays
    }

    /// Whether an object version passes the filter: the prefix, every tag of the rule
    /// among the version's, the sizes.
    func matches(key: String, size: UInt64, tags objectTags: [ObjectTag]) -> Bool {
        guard key.utf8.starts(with: prefix.utf8),
              tags.allSatisfy({ tag in objectTags.contains { $0.key == tag.key && $0.value == tag.value } }) else { return false }
        if let limit = sizeGreaterThan, size <= limit { return false }
        if let limit = sizeLessThan, size >= limit { return false }
        return true
    }

    /// For uploads and delete markers, which have no tags: the prefix, and no tag filter.
    func matches(key: String) -> Bool {
        tags.isEmpty && key.utf8.starts(with: prefix.utf8)
    }
}

/// What one lifecycle pass did (also kept as running totals in the store's statistics).
public struct LifecycleReport: Sendable, Equatable {
    /// Current objects deleted (unversioned bucket) or given a delete marker (versioned).
    public var expiredObjects = 0
    public var expiredNoncurrentVersions = 0
    public var removedDeleteMarkers = 0
    public var abortedUploads = 0
    /// Versions a rule would have deleted but Object Lock protects.
    public var lockedVersionsKept = 0

    public var total: Int { expiredObjects + expiredNoncurrentVersions + removedDeleteMarkers + abortedUploads }

    mutating func add(_ other: LifecycleReport) {
        expiredObjects += other.expiredObjects
        expiredNoncurrentVersions += other.expiredNoncurrentVersions
        removedDeleteMarkers += other.removedDeleteMarkers
        abortedUploads += other.abortedUploads
        lockedVersionsKept += other.lockedVersionsKept
    }
}
