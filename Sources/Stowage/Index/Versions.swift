import Crypto
import Synchronization
/// Object versioning in the index.
///
/// A key's *current* version, when it is an object, stays where every unversioned object
/// is: its `ObjectRecord` in the `objects` table. So listing, GET, HEAD and the
/// conditions read exactly what they read before. Everything older — noncurrent objects
/// and delete markers — is the key's *history* in the `versions` table, newest first,
/// under the same slot key as `objects` (`ObjectSlot`), in a `VersionGroupRecord`.
///
/// Invariant (V1): when `objects` has no record for a key, its history is empty or
/// begins with a delete marker (the key's latest version). fsck checks it.
/// Invariant (V2): every object version holds one reference on its blob, wherever it is;
/// moving a version between the tables moves no reference. Delete markers hold none.
/// Invariant (V3): version ids are unique within a key; at most one version is `null`.

/// A bucket's versioning state (`PutBucketVersioning`). It never returns to `.never`.
public enum VersioningState: UInt32, Sendable {
    case never = 0
    case enabled = 1
    case suspended = 2

    /// The `<Status>` S3 shows; nil before versioning was ever configured.
    public var status: String? {
        switch self {
        case .never: return nil
        case .enabled: return "Enabled"
        case .suspended: return "Suspended"
        }
    }
}

public enum VersionID {
    /// The version id of unversioned and suspended writes.
    public static let null = "null"
    static let length = 32
    private static let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    /// A new random version id, drawn before the mutation that stores it (the re-run rule).
    static func make() -> String {
        assert(!MutationScope.isActive, "a version id was drawn inside an index mutation")
        // Random bytes from swift-crypto's generator (BoringSSL's RAND_bytes, seeded by the
        // kernel), drawn 4 KiB at a time into a pool each byte of which is used once: drawing
        // each character from the system generator was one `getrandom` syscall per
        // character, 32 per PUT (perf: 3.7 % of a 4 KiB PUT load), and one draw per id was
        // still 1.7 %. Bytes of 248 or more are skipped so that every character is equally likely.
        var id: [UInt8] = []
        id.reserveCapacity(length)
        while id.count < length {
            for byte in randomPool.take(2 * length) where byte < acceptedBelow && id.count < length {
                id.append(alphabet[Int(byte) % alphabet.count])
            }
        }
        return String(decoding: id, as: UTF8.self)
    }

    private static let randomPool = RandomPool()

    /// The largest multiple of the alphabet's size that fits a byte.
    private static let acceptedBelow = UInt8(256 / alphabet.count * alphabet.count)

    /// Whether `text` could be a version id this store gave (or `null`): anything else is
    /// S3's 400 "Invalid version id specified", not a missing version.
    public static func isWellFormed(_ text: String) -> Bool {
        text == null || (text.utf8.count == length && text.utf8.allSatisfy { alphabet.contains($0) })
    }
}

/// One version in a key's history: a noncurrent object (its full record, whose blob it
/// references) or a delete marker (a record with no blob, size 0, empty ETag).
struct VersionEntry: Equatable {
    var isDeleteMarker: Bool
    var record: ObjectRecord

    static func deleteMarker(versionID: String?, at milliseconds: Int64) -> VersionEntry {
        VersionEntry(isDeleteMarker: true,
                     record: ObjectRecord(blobID: 0, size: 0, etag: "", lastModifiedMilliseconds: milliseconds,
                                          partCount: 0, attributes: ObjectAttributes(), versionID: versionID))
    }

    var versionID: String { record.versionID ?? VersionID.null }

    /// A delete marker as S3 shows it (`x-amz-delete-marker`, its version id).
    func markerInfo(key: String) -> ObjectInfo {
        var info = record.info(key: key, versioning: .enabled)
        info.isDeleteMarker = true
        return info
    }
}

/// `versions` value: the histories of every key sharing one slot (one key for a short
/// key; the long keys of a group slot), each newest first.
struct VersionGroupRecord: Equatable {
    static let version: UInt8 = 1
    /// (key without `bucket ‖ 0x00`, history), sorted by key bytes; no empty history.
    var entries: [(key: [UInt8], history: [VersionEntry])]

    static func == (lhs: VersionGroupRecord, rhs: VersionGroupRecord) -> Bool {
        lhs.entries.elementsEqual(rhs.entries) { $0.key == $1.key && $0.history == $1.history }
    }

    init(entries: [(key: [UInt8], history: [VersionEntry])] = []) { self.entries = entries }

    func encoded() -> [UInt8] {
        var w = RecordWriter(version: Self.version)
        w.u32(UInt32(entries.count))
        for entry in entries {
            w.blob(entry.key)
            w.u32(UInt32(entry.history.count))
            for version in entry.history {
                w.u8(version.isDeleteMarker ? 1 : 0)
                w.blob(version.record.encoded())
            }
        }
        return w.bytes
    }

    init(decoding bytes: UnsafeRawBufferPointer) throws {
        var r = try RecordReader(bytes, record: "versions", expectedVersion: Self.version)
        let count = Int(try r.u32())
        guard count <= r.remaining else { throw RecordError(record: "versions", reason: "bad entry count \(count)") }
        entries = []
        for _ in 0..<count {
            let key = try r.blob()
            let versions = Int(try r.u32())
            guard versions > 0, versions <= r.remaining else {
                throw RecordError(record: "versions", reason: "bad history length \(versions)")
            }
            var history: [VersionEntry] = []
            for _ in 0..<versions {
                let kind = try r.u8()
                guard kind <= 1 else { throw RecordError(record: "versions", reason: "unknown entry kind \(kind)") }
                let record = try r.blob()
                history.append(VersionEntry(isDeleteMarker: kind == 1,
                                            record: try record.withUnsafeBytes { try ObjectRecord(decoding: $0) }))
            }
            entries.append((key, history))
        }
        try r.finish()
    }

    func history(of key: [UInt8]) -> [VersionEntry] {
        entries.first { $0.key == key }?.history ?? []
    }

    mutating func set(_ key: [UInt8], _ history: [VersionEntry]) {
        let found = entries.firstIndex { $0.key == key }
        switch (found, history.isEmpty) {
        case (let i?, true): entries.remove(at: i)
        case (let i?, false): entries[i].history = history
        case (nil, true): break
        case (nil, false):
            let at = entries.firstIndex { key.lexicographicallyPrecedes($0.key) } ?? entries.count
            entries.insert((key, history), at: at)
        }
    }
}

extension Index {
    /// The versioning state of `bucket`; NoSuchBucket if there is none.
    func versioning(_ txn: borrowing some IndexReading & ~Copyable, _ bucket: String) throws -> VersioningState {
        try bucketRecord(txn, bucket).versioning
    }

    /// `bucket`'s record; NoSuchBucket if there is none.
    func bucketRecord(_ txn: borrowing some IndexReading & ~Copyable, _ bucket: String) throws -> BucketRecord {
        guard let record = try self.bucket(txn, bucket) else {
            throw StoreError(.noSuchBucket, "The specified bucket does not exist")
        }
        return record
    }

    /// The slot key of `key` in the `versions` table (as in `objects`).
    private func versionSlot(bucket: String, key: String) -> [UInt8] {
        switch ObjectSlot(bucket: bucket, key: key) {
        case .single(let slot), .group(let slot): return slot
        }
    }

    /// `key`'s history, newest first (empty for a key never overwritten or deleted in a
    /// versioned bucket).
    func history(_ txn: borrowing some IndexReading & ~Copyable, bucket: String, key: String) throws -> [VersionEntry] {
        try txn.withValue(versions, versionSlot(bucket: bucket, key: key)) { try VersionGroupRecord(decoding: $0) }?
            .history(of: Array(key.utf8)) ?? []
    }

    func setHistory(_ txn: borrowing WriteTransaction, bucket: String, key: String, _ history: [VersionEntry]) throws {
        let slot = versionSlot(bucket: bucket, key: key)
        var group = try txn.withValue(versions, slot) { try VersionGroupRecord(decoding: $0) } ?? VersionGroupRecord()
        group.set(Array(key.utf8), history)
        if group.entries.isEmpty {
            _ = try txn.delete(versions, slot)
        } else {
            try txn.put(versions, slot, group.encoded())
        }
    }

    /// Whether any version (current or not) of any key is in `bucket`.
    func hasHistory(_ txn: borrowing some IndexReading & ~Copyable, bucket: String) throws -> Bool {
        let prefix = IndexKey.objectPrefix(bucket: bucket)
        var found = false
        try txn.scan(versions, from: prefix) { key, _ in
            found = key.starts(with: prefix)
            return false
        }
        return found
    }

    /// Stores `record` as `key`'s current version, as the bucket's versioning says:
    /// never versioned, the old object is replaced and its blob released; Enabled, it
    /// becomes noncurrent; Suspended, the new version is `null` and replaces any `null`
    /// version, while a versioned current one becomes noncurrent. `record.versionID`
    /// must be the id drawn for an Enabled bucket; it is cleared otherwise.
    /// Object Lock: the bucket's default retention, then `lock`'s explicit retention and
    /// legal hold; an explicit lock in a bucket without Object Lock is refused.
    func writeVersion(_ txn: borrowing WriteTransaction, bucket: String, key: String, in bucketRecord: BucketRecord,
                      existing: ObjectRecord?, with record: ObjectRecord, lock: ObjectLock? = nil,
                      now: Int64) throws -> ObjectRecord {
        var record = record
        record.lock = ObjectLock()
        if bucketRecord.objectLockEnabled, let retention = bucketRecord.defaultRetention {
            record.lock = ObjectLock(mode: retention.mode, retainUntilMilliseconds: retention.retainUntil(from: now))
        }
        if let lock {
            guard bucketRecord.objectLockEnabled else {
                throw StoreError(.invalidRequest, "Bucket is missing Object Lock Configuration")
            }
            if let mode = lock.mode {
                record.lock.mode = mode
                record.lock.retainUntilMilliseconds = lock.retainUntilMilliseconds
            }
            record.lock.legalHold = lock.legalHold
        }
        let versioning = bucketRecord.versioning
        switch versioning {
        case .never:
            record.versionID = nil
            try replaceObject(txn, bucket: bucket, key: key, existing: existing, with: record)
        case .enabled:
            precondition(record.versionID != nil, "a write to a versioned bucket needs its version id")
            try putObject(txn, bucket: bucket, key: key, record)
            if let existing {
                try setHistory(txn, bucket: bucket, key: key,
                               [VersionEntry(isDeleteMarker: false, record: existing)] + history(txn, bucket: bucket, key: key))
            }
        case .suspended:
            record.versionID = nil
            try putObject(txn, bucket: bucket, key: key, record)
            try pushAsNoncurrent(txn, bucket: bucket, key: key, existing: existing, dropping: nil)
        }
        return record
    }

    /// A DELETE without a version id: never versioned, the object goes (its blob
    /// released); otherwise a delete marker becomes the latest version — with a new id when
    /// Enabled, `null` (replacing any `null` version) when Suspended. Returns the marker.
    func deleteCurrent(_ txn: borrowing WriteTransaction, bucket: String, key: String, versioning: VersioningState,
                       markerID: String, now: Int64) throws -> VersionEntry? {
        let existing = try object(txn, bucket: bucket, key: key)
        switch versioning {
        case .never:
            _ = try deleteObject(txn, bucket: bucket, key: key)
            return nil
        case .enabled, .suspended:
            let marker = VersionEntry.deleteMarker(versionID: versioning == .enabled ? markerID : nil, at: now)
            if existing != nil { _ = try removeObjectKey(txn, bucket: bucket, key: key) }
            try pushAsNoncurrent(txn, bucket: bucket, key: key, existing: existing, dropping: marker)
            return marker
        }
    }

    /// Moves `existing` (the current object, already replaced or removed in `objects`)
    /// into the history; in a Suspended bucket the `null` version it may be is released
    /// instead, as is any `null` version in the history. `marker`, if any, goes first.
    private func pushAsNoncurrent(_ txn: borrowing WriteTransaction, bucket: String, key: String,
                                  existing: ObjectRecord?, dropping marker: VersionEntry?) throws {
        var history = try self.history(txn, bucket: bucket, key: key)
        let newIsNull = marker.map { $0.record.versionID == nil } ?? true
        if newIsNull {
            for entry in history where entry.record.versionID == nil && !entry.isDeleteMarker {
                try releaseBlob(txn, entry.record.blobID)
            }
            history.removeAll { $0.record.versionID == nil }
        }
        if let existing {
            if existing.versionID == nil && newIsNull {
                try releaseBlob(txn, existing.blobID)
            } else {
                history.insert(VersionEntry(isDeleteMarker: false, record: existing), at: 0)
            }
        }
        if let marker { history.insert(marker, at: 0) }
        try setHistory(txn, bucket: bucket, key: key, history)
    }

    /// Where a version id is: the current object, or an entry of the history.
    enum VersionLocation {
        case current(ObjectRecord)
        case history(index: Int, VersionEntry)
    }

    func findVersion(_ txn: borrowing some IndexReading & ~Copyable, bucket: String, key: String,
                     versionID: String) throws -> VersionLocation? {
        let wanted: String? = versionID == VersionID.null ? nil : versionID
        if let current = try object(txn, bucket: bucket, key: key), current.versionID == wanted {
            return .current(current)
        }
        let history = try self.history(txn, bucket: bucket, key: key)
        guard let i = history.firstIndex(where: { $0.record.versionID == wanted }) else { return nil }
        return .history(index: i, history[i])
    }

    /// Rewrites one version's record where it is (a retention or legal-hold change).
    func replaceVersionRecord(_ txn: borrowing WriteTransaction, bucket: String, key: String,
                              at location: VersionLocation, with record: ObjectRecord) throws {
        switch location {
        case .current:
            try putObject(txn, bucket: bucket, key: key, record)
        case .history(let index, _):
            var history = try self.history(txn, bucket: bucket, key: key)
            history[index].record = record
            try setHistory(txn, bucket: bucket, key: key, history)
        }
    }

    /// The object version `versionID` names: 400 when it is not an id this store could
    /// have given, 404 NoSuchVersion when the key has no such version, 405 (with the
    /// marker) when it is a delete marker.
    func requireVersion(_ txn: borrowing some IndexReading & ~Copyable, bucket: String, key: String,
                        versionID: String, versioning: VersioningState) throws -> ObjectRecord {
        guard VersionID.isWellFormed(versionID) else {
            throw StoreError(.invalidArgument, "Invalid version id specified")
        }
        switch try findVersion(txn, bucket: bucket, key: key, versionID: versionID) {
        case .current(let record)?:
            return record
        case .history(_, let entry)? where !entry.isDeleteMarker:
            return entry.record
        case .history(_, let entry)?:
            var error = StoreError(.methodNotAllowed, "The specified method is not allowed against this resource.")
            error.object = entry.markerInfo(key: key)
            throw error
        case nil:
            throw StoreError(.noSuchVersion, "The specified version does not exist.")
        }
    }

    /// Deletes one version for good (its blob released). When it was the current object,
    /// or the latest delete marker, the newest remaining version becomes the latest: an
    /// object moves back into `objects` (V1). Returns what was deleted, nil if absent.
    func deleteVersion(_ txn: borrowing WriteTransaction, bucket: String, key: String,
                       versionID: String, now: Int64, bypassGovernance: Bool = false) throws -> VersionEntry? {
        guard let location = try findVersion(txn, bucket: bucket, key: key, versionID: versionID) else { return nil }
        let target: ObjectRecord
        switch location {
        case .current(let record): target = record
        case .history(_, let entry): target = entry.record
        }
        if let refusal = target.lock.refusal(now: now, bypassGovernance: bypassGovernance) { throw refusal }
        var history = try self.history(txn, bucket: bucket, key: key)
        let deleted: VersionEntry
        let wasLatest: Bool
        switch location {
        case .current(let record):
            _ = try removeObjectKey(txn, bucket: bucket, key: key)
            try releaseBlob(txn, record.blobID)
            deleted = VersionEntry(isDeleteMarker: false, record: record)
            wasLatest = true
        case .history(let index, let entry):
            history.remove(at: index)
            if !entry.isDeleteMarker { try releaseBlob(txn, entry.record.blobID) }
            deleted = entry
            let current = try object(txn, bucket: bucket, key: key)
            wasLatest = index == 0 && current == nil
        }
        if wasLatest, let newest = history.first, !newest.isDeleteMarker {
            history.removeFirst()
            try putObject(txn, bucket: bucket, key: key, newest.record)
        }
        try setHistory(txn, bucket: bucket, key: key, history)
        return deleted
    }
}

/// Random bytes handed out once each, refilled from swift-crypto's generator 4 KiB at a time.
final class RandomPool: Sendable {
    private static let refillBytes = 4096
    private let state = Mutex<(bytes: [UInt8], next: Int)>(([], 0))

    /// `count` fresh random bytes (at most `refillBytes`).
    func take(_ count: Int) -> ArraySlice<UInt8> {
        precondition(count <= Self.refillBytes)
        return state.withLock { state in
            if state.next + count > state.bytes.count {
                state.bytes = SymmetricKey(size: .init(bitCount: Self.refillBytes * 8)).withUnsafeBytes { Array($0) }
                state.next = 0
            }
            defer { state.next += count }
            return state.bytes[state.next..<state.next + count]
        }
    }
}
