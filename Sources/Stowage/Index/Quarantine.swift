/// `meta`: "quarantine" ‖ blob id (big-endian u64) → why `repair` quarantined that blob.
///
/// A quarantined blob's bytes are known to be lost or wrong. GET and HEAD of any key whose
/// record names it answer `IntegrityError` at once, before touching a byte; a copy or a
/// rename keeps the blob id and so stays quarantined. The key itself is kept (repair never
/// deletes a key): deleting or overwriting it is the operator's call, and works even when
/// the blob record itself is gone. fsck reports quarantined keys as notices
/// (`quarantinedObject`), not as fresh problems; a full scan that finds the blob intact
/// again (a segment file restored from backup) lets `repair` lift the quarantine.
///
/// Keyed by blob rather than by key: keys can be longer than an LMDB key, and a blob is
/// what is damaged. A composite blob (multipart object) over a damaged data blob is
/// quarantined too, since keys name the composite.
struct QuarantineRecord: Equatable {
    static let version: UInt8 = 1
    static let keyPrefix = Array("quarantine".utf8)

    enum Reason: UInt8 {
        case corruptChunk = 1
        case unreadableExtent = 2
        case missingBlob = 3
        case invalidPiece = 4
        case sizeMismatch = 5

        var text: String {
            switch self {
            case .corruptChunk: return "stored bytes failed their checksum"
            case .unreadableExtent: return "stored bytes are missing (segment file missing or truncated)"
            case .missingBlob: return "its blob record is missing"
            case .invalidPiece: return "a part of it is missing or invalid"
            case .sizeMismatch: return "its size disagrees with its blob"
            }
        }
    }

    var reason: Reason
    var quarantinedMilliseconds: Int64
    /// Where the damage was found (segment, offset), for the operator.
    var detail: String

    static func key(_ blobID: UInt64) -> [UInt8] { keyPrefix + IndexKey.id(blobID) }

    static func blobID(key: [UInt8]) -> UInt64? {
        guard key.count == keyPrefix.count + 8, key.starts(with: keyPrefix) else { return nil }
        return key[keyPrefix.count...].reduce(0) { $0 << 8 | UInt64($1) }
    }

    func encoded() -> [UInt8] {
        var w = RecordWriter(version: Self.version)
        w.u8(reason.rawValue)
        w.i64(quarantinedMilliseconds)
        w.string(detail)
        return w.bytes
    }

    init(reason: Reason, quarantinedMilliseconds: Int64, detail: String) {
        self.reason = reason
        self.quarantinedMilliseconds = quarantinedMilliseconds
        self.detail = detail
    }

    init(decoding bytes: UnsafeRawBufferPointer) throws(RecordError) {
        var r = try RecordReader(bytes, record: "quarantine", expectedVersion: Self.version)
        let raw = try r.u8()
        guard let reason = Reason(rawValue: raw) else {
            throw RecordError(record: "quarantine", reason: "unknown reason \(raw)")
        }
        self.reason = reason
        quarantinedMilliseconds = try r.i64()
        detail = try r.string()
        try r.finish()
    }
}

extension Index {
    func quarantine(_ txn: borrowing some IndexReading & ~Copyable, _ blobID: UInt64) throws -> QuarantineRecord? {
        try txn.withValue(meta, QuarantineRecord.key(blobID)) { try QuarantineRecord(decoding: $0) }
    }

    /// GET and HEAD: a quarantined blob is an integrity error before any byte is read.
    func checkNotQuarantined(_ txn: borrowing some IndexReading & ~Copyable, _ blobID: UInt64, location: String) throws {
        guard blobID != 0, let record = try quarantine(txn, blobID) else { return }
        throw StoreError(.integrity,
                         "\(location) is quarantined: \(record.reason.text) (\(record.detail)); fsck found it, and it can only be deleted or overwritten")
    }
}
