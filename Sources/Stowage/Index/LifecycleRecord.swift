/// The record of a bucket's lifecycle rules (layout: docs/ARCHITECTURE.md §2).
extension LifecycleRule {
    func encode(into w: inout RecordWriter) {
        w.string(id)
        w.u8(enabled ? 1 : 0)
        w.string(prefix)
        w.u32(UInt32(tags.count))
        for tag in tags {
            w.string(tag.key)
            w.string(tag.value)
        }
        for value in [sizeGreaterThan, sizeLessThan] {
            w.u8(value == nil ? 0 : 1)
            w.u64(value ?? 0)
        }
        for value in [expirationDays, noncurrentDays, newerNoncurrentVersions, abortIncompleteUploadDays] {
            w.u8(value == nil ? 0 : 1)
            w.i64(Int64(value ?? 0))
        }
        w.u8(expirationDateMilliseconds == nil ? 0 : 1)
        w.i64(expirationDateMilliseconds ?? 0)
        w.u8(expiredObjectDeleteMarker ? 1 : 0)
    }

    init(decoding r: inout RecordReader) throws(RecordError) {
        id = try r.string()
        enabled = try r.u8() == 1
        prefix = try r.string()
        let count = Int(try r.u32())
        guard count <= 50 else { throw RecordError(record: "lifecycle", reason: "\(count) tags") }
        tags = []
        for _ in 0..<count {
            let key = try r.string()
            tags.append(Tag(key: key, value: try r.string()))
        }
        var sizes: [UInt64?] = []
        for _ in 0..<2 {
            let present = try r.u8() == 1
            let value = try r.u64()
            sizes.append(present ? value : nil)
        }
        (sizeGreaterThan, sizeLessThan) = (sizes[0], sizes[1])
        var numbers: [Int?] = []
        for _ in 0..<4 {
            let present = try r.u8() == 1
            let value = try r.i64()
            numbers.append(present ? Int(value) : nil)
        }
        (expirationDays, noncurrentDays, newerNoncurrentVersions, abortIncompleteUploadDays) =
            (numbers[0], numbers[1], numbers[2], numbers[3])
        let hasDate = try r.u8() == 1
        let date = try r.i64()
        expirationDateMilliseconds = hasDate ? date : nil
        expiredObjectDeleteMarker = try r.u8() == 1
    }
}

/// `meta["lifecycle" ‖ bucket]`: a bucket's rules.
struct LifecycleRecord: Equatable {
    static let version: UInt8 = 1
    var rules: [LifecycleRule]

    static func key(bucket: String) -> [UInt8] { Array("lifecycle/".utf8) + Array(bucket.utf8) }
    static let keyPrefix = Array("lifecycle/".utf8)

    func encoded() -> [UInt8] {
        var w = RecordWriter(version: Self.version)
        w.u32(UInt32(rules.count))
        for rule in rules { rule.encode(into: &w) }
        return w.bytes
    }

    init(rules: [LifecycleRule]) { self.rules = rules }

    init(decoding bytes: UnsafeRawBufferPointer) throws(RecordError) {
        var r = try RecordReader(bytes, record: "lifecycle", expectedVersion: Self.version)
        let count = Int(try r.u32())
        guard count <= Limits.maxLifecycleRules else { throw RecordError(record: "lifecycle", reason: "\(count) rules") }
        rules = []
        for _ in 0..<count { rules.append(try LifecycleRule(decoding: &r)) }
        try r.finish()
    }
}

