/// Atomic prefix ("directory") rename: every key under one prefix moves to another in one
/// write transaction — what S3 itself cannot do (S3-SEMANTICS.md, "Beyond the providers").
/// Like RenameObject it is metadata only (I1): key records move, no blob or segment is
/// touched except the blobs of destinations it replaces. Readers see every key under its
/// old name or every key under its new one, never a mix (I2).
public struct PrefixRenameRequest: Sendable, Equatable {
    public var bucket: String
    public var sourcePrefix: String
    public var destinationPrefix: String
    /// Replace destination keys that exist, releasing their blobs. Off by default: then
    /// any existing destination key fails the whole rename (412, Condition `Overwrite`).
    public var overwrite: Bool
    /// When set, the source prefix must hold exactly this many keys (412, `ExpectedCount`).
    public var expectedCount: Int?
    /// When set, the keys under the source prefix and their ETags must be exactly these
    /// (412, `Manifest`): a guard against a writer that added, removed or replaced a key
    /// since the caller looked.
    public var manifest: [PrefixManifestEntry]?

    public init(bucket: String, sourcePrefix: String, destinationPrefix: String, overwrite: Bool = false,
                expectedCount: Int? = nil, manifest: [PrefixManifestEntry]? = nil) {
        self.bucket = bucket
        self.sourcePrefix = sourcePrefix
        self.destinationPrefix = destinationPrefix
        self.overwrite = overwrite
        self.expectedCount = expectedCount
        self.manifest = manifest
    }
}

/// One source key and the ETag it must have (quotes optional).
public struct PrefixManifestEntry: Sendable, Equatable, Hashable {
    public var key: String
    public var etag: String

    public init(key: String, etag: String) {
        self.key = key
        self.etag = etag
    }
}

public struct PrefixRenameOutcome: Sendable, Equatable {
    /// Keys moved: every key that was under the source prefix.
    public let moved: Int
    /// Destination keys that existed and were replaced (only with `overwrite`).
    public let replaced: Int
}

extension ObjectStore {
    /// Moves every key under `sourcePrefix` to `destinationPrefix` + the rest of the key, in
    /// one write transaction: all of them or none.
    ///
    /// Evaluation order (each failure leaves everything as it was, I8): request rules
    /// (`validate`); then in the transaction: bucket exists → at most
    /// `Limits.maxPrefixRenameKeys` keys under the source prefix (`InvalidRequest`) → at
    /// least one (`NoSuchKey`) → every destination key ≤ 1024 bytes (`KeyTooLongError`) →
    /// `expectedCount` → `manifest` → no destination key exists unless `overwrite` → the move.
    @discardableResult
    public func renamePrefix(_ request: PrefixRenameRequest) async throws(StoreError) -> PrefixRenameOutcome {
        try Self.validate(request)
        let outcome = try await mutate { [index] txn in
            try Self.refuseVersioned(try index.versioning(txn, request.bucket), "Prefix rename")
            let sources = try Self.objects(txn, index, bucket: request.bucket, under: request.sourcePrefix)
            guard !sources.isEmpty else {
                throw StoreError(.noSuchKey, "No object exists under the source prefix '\(request.sourcePrefix)'")
            }
            let destinations = try sources.map { source throws(StoreError) in
                try Self.destination(of: source.key, request)
            }
            try Self.checkGuards(request, sources)
            let existing = try index.objects(txn, bucket: request.bucket, keys: destinations)
            if !request.overwrite, let taken = existing.firstIndex(where: { $0 != nil }) {
                throw StoreError(.preconditionFailed,
                                 "The destination key '\(destinations[taken])' exists; set Overwrite to replace it",
                                 condition: "Overwrite")
            }
            _ = try index.removeObjectKeys(txn, bucket: request.bucket, keys: sources.map(\.key))
            try index.putObjects(txn, bucket: request.bucket,
                                 zip(destinations, sources).map { (key: $0, record: $1.record) })
            var replaced = 0
            for case let old? in existing {
                try index.releaseBlob(txn, old.blobID)
                replaced += 1
            }
            return PrefixRenameOutcome(moved: sources.count, replaced: replaced)
        }
        EngineMetrics.renamedObjects.increment(by: outcome.moved)
        return outcome
    }

    /// Rules on the request alone, before anything is read (I8).
    static func validate(_ request: PrefixRenameRequest) throws(StoreError) {
        try Validation.checkBucketName(request.bucket)
        for (name, prefix) in [("source", request.sourcePrefix), ("destination", request.destinationPrefix)] {
            guard !prefix.isEmpty else {
                throw StoreError(.invalidArgument, "The \(name) prefix must not be empty")
            }
            guard prefix.utf8.count <= Limits.maxKeyBytes else {
                throw StoreError(.keyTooLong, "The \(name) prefix is longer than \(Limits.maxKeyBytes) bytes")
            }
        }
        let source = request.sourcePrefix.utf8, destination = request.destinationPrefix.utf8
        guard !source.starts(with: destination) && !destination.starts(with: source) else {
            throw StoreError(.invalidRequest,
                             "The source and destination prefixes overlap (one starts with the other)")
        }
        if let expected = request.expectedCount, expected < 0 {
            throw StoreError(.invalidArgument, "ExpectedCount must not be negative")
        }
        if let manifest = request.manifest {
            guard manifest.count <= Limits.maxPrefixRenameKeys else {
                throw Self.tooManyKeys("A manifest lists")
            }
            guard manifest.allSatisfy({ $0.key.utf8.starts(with: source) }) else {
                throw StoreError(.invalidArgument, "Every manifest key must start with the source prefix")
            }
            guard Set(manifest.map { Array($0.key.utf8) }).count == manifest.count else {
                throw StoreError(.invalidArgument, "A manifest lists a key more than once")
            }
        }
    }

    static func tooManyKeys(_ what: String) -> StoreError {
        StoreError(.invalidRequest,
                   "\(what) more than \(Limits.maxPrefixRenameKeys) keys, the most one prefix rename moves; nothing was moved")
    }

    /// Every (key, record) under `prefix`, in key order, from a cursor walk that expands
    /// group slots; more than the limit is an error.
    private static func objects(_ txn: borrowing some IndexReading & ~Copyable, _ index: Index, bucket: String,
                                under prefix: String) throws -> [(key: String, record: ObjectRecord)] {
        let bucketPrefix = IndexKey.objectPrefix(bucket: bucket)
        let prefixBytes = Array(prefix.utf8)
        // The first slot that can hold a key starting with `prefix`: its own, or its group's.
        let start: [UInt8]
        switch ObjectSlot(bucket: bucket, key: prefix) {
        case .single(let slot), .group(let slot): start = slot
        }
        var found: [(key: String, record: ObjectRecord)] = []
        try txn.scan(index.objects, from: start) { rawKey, value in
            guard rawKey.starts(with: bucketPrefix) else { return false }
            return try Index.expand(rawKey, value, bucketPrefixCount: bucketPrefix.count) { key, record in
                guard key.starts(with: prefixBytes) else {
                    // Earlier members of the first group slot sort before the prefix.
                    return key.lexicographicallyPrecedes(prefixBytes)
                }
                guard found.count < Limits.maxPrefixRenameKeys else { throw Self.tooManyKeys("The source prefix holds") }
                found.append((String(decoding: key, as: UTF8.self), record))
                return true
            }
        }
        return found
    }

    /// `destinationPrefix` + what follows the source prefix. The source prefix is whole
    /// UTF-8, so the rest of a key starts on a character boundary.
    private static func destination(of key: String, _ request: PrefixRenameRequest) throws(StoreError) -> String {
        let rest = Array(key.utf8).dropFirst(request.sourcePrefix.utf8.count)
        let destination = String(decoding: Array(request.destinationPrefix.utf8) + rest, as: UTF8.self)
        guard destination.utf8.count <= Limits.maxKeyBytes else {
            throw StoreError(.keyTooLong,
                             "Moving '\(key)' would make a key of \(destination.utf8.count) bytes; the limit is \(Limits.maxKeyBytes)")
        }
        return destination
    }

    /// `expectedCount`, then `manifest`, against what is under the source prefix now.
    private static func checkGuards(_ request: PrefixRenameRequest,
                                    _ sources: [(key: String, record: ObjectRecord)]) throws(StoreError) {
        if let expected = request.expectedCount, expected != sources.count {
            throw StoreError(.preconditionFailed,
                             "Expected \(expected) keys under '\(request.sourcePrefix)', found \(sources.count)",
                             condition: "ExpectedCount")
        }
        guard let manifest = request.manifest else { return }
        let listed = manifest.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        func mismatch(_ why: String) -> StoreError {
            StoreError(.preconditionFailed, "The manifest does not match the source prefix: \(why)", condition: "Manifest")
        }
        for (entry, source) in zip(listed, sources) {
            guard sameKey(entry.key, source.key) else {
                let first = entry.key.utf8.lexicographicallyPrecedes(source.key.utf8) ? entry.key : source.key
                throw mismatch(sources.contains { sameKey($0.key, first) } ? "'\(first)' is not listed" : "'\(first)' does not exist")
            }
            guard ETagCondition.normalize(entry.etag) == source.record.etag else {
                throw mismatch("'\(entry.key)' has ETag \"\(source.record.etag)\", not \(entry.etag)")
            }
        }
        if listed.count != sources.count {
            throw mismatch(listed.count > sources.count ? "'\(listed[sources.count].key)' does not exist"
                                                        : "'\(sources[listed.count].key)' is not listed")
        }
    }
}
