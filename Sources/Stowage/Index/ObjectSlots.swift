/// Where a key's record lives in the `objects` table.
///
/// LMDB keys are at most 511 bytes (`MDB_MAXKEYSIZE`, compiled into liblmdb), but an S3
/// key is up to 1024 bytes after a bucket name of up to 63. So: when `bucket ‖ 0x00 ‖ key`
/// fits in `maxShortKeyBytes` (510), that is the LMDB key and the value is the
/// `ObjectRecord`. A longer key shares a *group* slot with every long key of the same
/// first 510 bytes: the slot's LMDB key is those 510 bytes followed by one 0x00 (511 bytes
/// in all), and its value a `KeyGroupRecord` listing `(full key, record)` in byte order.
///
/// Order is preserved: every short key that begins with the 510-byte prefix P *is* P (it
/// cannot be longer), and P < P ‖ 0x00 < anything else after P; within a group, entries
/// are sorted. So a cursor walk still yields keys in S3's raw byte order.
enum ObjectSlot {
    /// The LMDB maximum key size liblmdb is built with by default (at least this much is
    /// checked at open).
    static let lmdbMaxKeyBytes = 511
    static let maxShortKeyBytes = lmdbMaxKeyBytes - 1

    case single([UInt8])
    case group([UInt8])

    init(bucket: String, key: String) {
        let full = IndexKey.object(bucket: bucket, key: key)
        if full.count <= Self.maxShortKeyBytes {
            self = .single(full)
        } else {
            self = .group(Array(full.prefix(Self.maxShortKeyBytes)) + [0])
        }
    }

    /// Whether a raw LMDB key of the `objects` table is a group slot.
    static func isGroup(_ rawKey: UnsafeRawBufferPointer) -> Bool { rawKey.count == lmdbMaxKeyBytes }
}

/// `objects` group slot value: long keys sharing their first 510 index-key bytes.
struct KeyGroupRecord: Equatable {
    static let version: UInt8 = 1
    /// (full key, record), sorted by the key's bytes.
    var entries: [(key: [UInt8], record: ObjectRecord)]

    static func == (lhs: KeyGroupRecord, rhs: KeyGroupRecord) -> Bool {
        lhs.entries.elementsEqual(rhs.entries) { $0.key == $1.key && $0.record == $1.record }
    }

    init(entries: [(key: [UInt8], record: ObjectRecord)] = []) { self.entries = entries }

    func encoded() -> [UInt8] {
        var w = RecordWriter(version: Self.version)
        w.u32(UInt32(entries.count))
        for entry in entries {
            w.blob(entry.key)
            w.blob(entry.record.encoded())
        }
        return w.bytes
    }

    init(decoding bytes: UnsafeRawBufferPointer) throws {
        var r = try RecordReader(bytes, record: "key group", expectedVersion: Self.version)
        let count = Int(try r.u32())
        entries = []
        for _ in 0..<count {
            let key = try r.blob()
            let record = try r.blob()
            entries.append((key, try record.withUnsafeBytes { try ObjectRecord(decoding: $0) }))
        }
        try r.finish()
    }

    func find(_ key: [UInt8]) -> ObjectRecord? {
        entries.first { $0.key == key }?.record
    }

    mutating func upsert(_ key: [UInt8], _ record: ObjectRecord) {
        if let i = entries.firstIndex(where: { $0.key == key }) {
            entries[i].record = record
        } else {
            let at = entries.firstIndex { key.lexicographicallyPrecedes($0.key) } ?? entries.count
            entries.insert((key, record), at: at)
        }
    }

    mutating func remove(_ key: [UInt8]) -> Bool {
        guard let i = entries.firstIndex(where: { $0.key == key }) else { return false }
        entries.remove(at: i)
        return true
    }
}

extension Index {
    func object(_ txn: borrowing some IndexReading & ~Copyable, bucket: String, key: String) throws -> ObjectRecord? {
        switch ObjectSlot(bucket: bucket, key: key) {
        case .single(let slot):
            return try txn.withValue(objects, slot) { try ObjectRecord(decoding: $0) }
        case .group(let slot):
            return try txn.withValue(objects, slot) { try KeyGroupRecord(decoding: $0) }?.find(Array(key.utf8))
        }
    }

    func putObject(_ txn: borrowing WriteTransaction, bucket: String, key: String, _ record: ObjectRecord) throws {
        switch ObjectSlot(bucket: bucket, key: key) {
        case .single(let slot):
            try txn.put(objects, slot, record.encoded())
        case .group(let slot):
            var group = try txn.withValue(objects, slot) { try KeyGroupRecord(decoding: $0) } ?? KeyGroupRecord()
            group.upsert(Array(key.utf8), record)
            try txn.put(objects, slot, group.encoded())
        }
    }

    /// Removes `key`'s record (not its blob reference); false when it was not there.
    func removeObjectKey(_ txn: borrowing WriteTransaction, bucket: String, key: String) throws -> Bool {
        switch ObjectSlot(bucket: bucket, key: key) {
        case .single(let slot):
            return try txn.delete(objects, slot)
        case .group(let slot):
            guard var group = try txn.withValue(objects, slot, { try KeyGroupRecord(decoding: $0) }),
                  group.remove(Array(key.utf8)) else { return false }
            if group.entries.isEmpty {
                try txn.delete(objects, slot)
            } else {
                try txn.put(objects, slot, group.encoded())
            }
            return true
        }
    }

    // MARK: Many keys at once (prefix rename)
    //
    // Each group slot is decoded and written once per call, so moving n long keys that
    // share a slot costs O(n) rather than the O(n²) of n single-key calls.

    /// `object` for each of `keys`, in the same order.
    func objects(_ txn: borrowing some IndexReading & ~Copyable, bucket: String, keys: [String]) throws -> [ObjectRecord?] {
        var result = [ObjectRecord?](repeating: nil, count: keys.count)
        var groups: [[UInt8]: [Int]] = [:]
        for (i, key) in keys.enumerated() {
            switch ObjectSlot(bucket: bucket, key: key) {
            case .single: result[i] = try object(txn, bucket: bucket, key: key)
            case .group(let slot): groups[slot, default: []].append(i)
            }
        }
        for (slot, members) in groups {
            guard let group = try txn.withValue(objects, slot, { try KeyGroupRecord(decoding: $0) }) else { continue }
            let records = Dictionary(group.entries.map { ($0.key, $0.record) }, uniquingKeysWith: { first, _ in first })
            for i in members { result[i] = records[Array(keys[i].utf8)] }
        }
        return result
    }

    /// `removeObjectKey` for each of `keys` (records only, not blob references); returns
    /// how many were there.
    func removeObjectKeys(_ txn: borrowing WriteTransaction, bucket: String, keys: [String]) throws -> Int {
        var removed = 0
        var groups: [[UInt8]: Set<[UInt8]>] = [:]
        for key in keys {
            switch ObjectSlot(bucket: bucket, key: key) {
            case .single: if try removeObjectKey(txn, bucket: bucket, key: key) { removed += 1 }
            case .group(let slot): groups[slot, default: []].insert(Array(key.utf8))
            }
        }
        for (slot, members) in groups {
            guard var group = try txn.withValue(objects, slot, { try KeyGroupRecord(decoding: $0) }) else { continue }
            let before = group.entries.count
            group.entries.removeAll { members.contains($0.key) }
            removed += before - group.entries.count
            if group.entries.isEmpty {
                try txn.delete(objects, slot)
            } else {
                try txn.put(objects, slot, group.encoded())
            }
        }
        return removed
    }

    /// `putObject` for each entry; keys must be distinct.
    func putObjects(_ txn: borrowing WriteTransaction, bucket: String, _ entries: [(key: String, record: ObjectRecord)]) throws {
        var groups: [[UInt8]: [(key: [UInt8], record: ObjectRecord)]] = [:]
        for entry in entries {
            switch ObjectSlot(bucket: bucket, key: entry.key) {
            case .single: try putObject(txn, bucket: bucket, key: entry.key, entry.record)
            case .group(let slot): groups[slot, default: []].append((Array(entry.key.utf8), entry.record))
            }
        }
        for (slot, additions) in groups {
            let group = try txn.withValue(objects, slot) { try KeyGroupRecord(decoding: $0) } ?? KeyGroupRecord()
            var merged = Dictionary(group.entries.map { ($0.key, $0.record) }, uniquingKeysWith: { first, _ in first })
            for addition in additions { merged[addition.key] = addition.record }
            let sorted = merged.sorted { $0.key.lexicographicallyPrecedes($1.key) }
            try txn.put(objects, slot, KeyGroupRecord(entries: sorted.map { (key: $0.key, record: $0.value) }).encoded())
        }
    }

    /// Calls `body` with every (key bytes after the bucket prefix, record) of a raw
    /// `objects` entry: one for a single slot, each member for a group.
    static func expand(_ rawKey: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, bucketPrefixCount: Int,
                       _ body: ([UInt8], ObjectRecord) throws -> Bool) throws -> Bool {
        if ObjectSlot.isGroup(rawKey) {
            for entry in try KeyGroupRecord(decoding: value).entries {
                guard try body(entry.key, entry.record) else { return false }
            }
            return true
        }
        return try body(Array(rawKey[bucketPrefixCount...]), try ObjectRecord(decoding: value))
    }
}
