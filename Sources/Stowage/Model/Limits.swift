/// Every limit the engine enforces, named once. Tests probe each at its edge.
public enum Limits {
    /// S3: object keys are at most 1024 bytes of UTF-8.
    public static let maxKeyBytes = 1024
    /// S3 bucket names: 3 to 63 characters.
    public static let minBucketNameLength = 3
    public static let maxBucketNameLength = 63
    /// A listing page holds at most this many keys and common prefixes.
    public static let maxListKeys = 1000
    /// Rules in one lifecycle configuration (S3's limit).
    public static let maxLifecycleRules = 1000
    /// Tags on one object version, and on one bucket (S3's limits).
    public static let maxObjectTags = 10
    public static let maxBucketTags = 50
    /// Grants in one ACL (S3's limit).
    public static let maxGrants = 100
    /// Largest ListBuckets page (`max-buckets`), as S3's.
    public static let maxListBuckets = 10_000
    /// DeleteObjects takes at most this many keys.
    public static let maxDeleteKeys = 1000
    /// A prefix rename moves at most this many keys (and a manifest lists at most this
    /// many): they all move in one write transaction, which holds the writer for its
    /// length (docs/ARCHITECTURE.md, "Prefix rename"). Above it, nothing moves.
    public static let maxPrefixRenameKeys = 100_000
    /// `x-amz-client-token`: 1–64 ASCII characters in 33–126.
    public static let maxClientTokenLength = 64
    /// Client tokens are kept at least this long (S3-SEMANTICS.md: at least 24 hours).
    public static let tokenLifetimeMilliseconds: Int64 = 24 * 60 * 60 * 1000
    /// User metadata: S3 allows 2 KiB of `x-amz-meta-*` names and values in all.
    public static let maxUserMetadataBytes = 2048
    /// A single PutObject body: S3's 5 GiB.
    public static let maxPutObjectBytes: UInt64 = 5 << 30
    /// Multipart: part numbers 1…10,000, each part at most 5 GiB.
    public static let maxPartNumber = 10_000
    public static let maxPartBytes: UInt64 = 5 << 30
    /// S3's smallest part but the last (StoreOptions.minPartSizeBytes defaults to it).
    public static let minPartBytes: UInt64 = 5 << 20
    /// ListParts and ListMultipartUploads pages.
    public static let maxListParts = 1000
    public static let maxListUploads = 1000
}

/// Checks on names, run before anything is read or written (I8).
public enum Validation {
    /// S3's bucket naming rules: 3–63 characters of lowercase letters, digits, dots and
    /// hyphens, beginning and ending with a letter or digit, no `..`, not an IPv4 address.
    public static func checkBucketName(_ name: String) throws(StoreError) {
        // One pass over the bytes: every request names its bucket, so this runs per request
        // (Foundation's `contains` and a split were 0.9 % of a 4 KiB GET load's CPU).
        let bytes = name.utf8
        func fail(_ why: String) -> StoreError {
            StoreError(.invalidBucketName, "The specified bucket is not valid: \(why)")
        }
        guard (Limits.minBucketNameLength...Limits.maxBucketNameLength).contains(bytes.count) else {
            throw fail("a bucket name is 3 to 63 characters long")
        }
        func alphanumeric(_ byte: UInt8) -> Bool { (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x30 && byte <= 0x39) }
        var dots = 0
        var adjacentDots = false
        var allDigitsAndDots = true
        var previous: UInt8 = 0
        for byte in bytes {
            guard alphanumeric(byte) || byte == 0x2e || byte == 0x2d else {
                throw fail("only lowercase letters, digits, dots and hyphens are allowed")
            }
            if byte == 0x2e {
                dots += 1
                adjacentDots = adjacentDots || previous == 0x2e
            } else if !(byte >= 0x30 && byte <= 0x39) {
                allDigitsAndDots = false
            }
            previous = byte
        }
        guard alphanumeric(bytes.first!), alphanumeric(previous) else {
            throw fail("a bucket name begins and ends with a letter or digit")
        }
        guard !adjacentDots else { throw fail("two adjacent dots") }
        if dots == 3, allDigitsAndDots,
           name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy({ UInt8($0) != nil }) {
            throw fail("a bucket name must not look like an IP address")
        }
    }

    /// A key is 1–1024 bytes of UTF-8.
    public static func checkKey(_ key: String) throws(StoreError) {
        let length = key.utf8.count
        guard length > 0 else { throw StoreError(.invalidKey, "The object key must not be empty") }
        guard length <= Limits.maxKeyBytes else {
            throw StoreError(.keyTooLong, "Your key is too long: \(length) bytes, the limit is \(Limits.maxKeyBytes)")
        }
    }

    /// Decodes raw key bytes (as they come off the wire) into a key, rejecting invalid UTF-8.
    public static func key(fromBytes bytes: [UInt8]) throws(StoreError) -> String {
        guard let key = String(validating: bytes, as: UTF8.self) else {
            throw StoreError(.invalidKey, "The object key is not valid UTF-8")
        }
        try checkKey(key)
        return key
    }

    /// `x-amz-client-token`: 1–64 ASCII characters in 33–126.
    public static func checkClientToken(_ token: String) throws(StoreError) {
        let bytes = Array(token.utf8)
        guard (1...Limits.maxClientTokenLength).contains(bytes.count),
              bytes.allSatisfy({ $0 >= 33 && $0 <= 126 }) else {
            throw StoreError(.invalidArgument,
                             "x-amz-client-token must be 1 to 64 ASCII characters in the range 33-126")
        }
    }

    static func checkUserMetadata(_ metadata: [(name: String, value: String)]) throws(StoreError) {
        guard metadata.allSatisfy({ !$0.name.isEmpty }) else {
            throw StoreError(.invalidArgument, "A user metadata name must not be empty")
        }
        let total = metadata.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count }
        guard total <= Limits.maxUserMetadataBytes else {
            throw StoreError(.invalidArgument,
                             "Your metadata headers exceed the maximum allowed metadata size (\(total) > \(Limits.maxUserMetadataBytes) bytes)")
        }
    }
}
