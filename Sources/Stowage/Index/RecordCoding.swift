/// Fixed little-endian binary layouts for index records (docs/ARCHITECTURE.md lists each).
/// Every record starts with a format version byte; a decoder that meets an unknown
/// version or runs out of bytes throws `RecordError` instead of guessing.
struct RecordError: Error, Sendable, CustomStringConvertible {
    let record: String
    let reason: String
    var description: String { "\(record) record: \(reason)" }
}

struct RecordWriter {
    private(set) var bytes: [UInt8] = []

    init(version: UInt8) { bytes.append(version) }

    mutating func u8(_ value: UInt8) { bytes.append(value) }

    mutating func u16(_ value: UInt16) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }

    mutating func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }

    mutating func u64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }

    mutating func i64(_ value: Int64) { u64(UInt64(bitPattern: value)) }

    /// u32 length, then the bytes.
    mutating func blob(_ value: [UInt8]) {
        u32(UInt32(value.count))
        bytes.append(contentsOf: value)
    }

    mutating func string(_ value: String) { blob(Array(value.utf8)) }

    /// A presence byte (0 or 1), then the string when present.
    /// Tags: nothing when there are none (the record's version says so), else u16 T and
    /// T × (string key, string value).
    mutating func tags(_ tags: [ObjectTag]) {
        guard !tags.isEmpty else { return }
        u16(UInt16(tags.count))
        for tag in tags {
            string(tag.key)
            string(tag.value)
        }
    }

    /// u16 T (0 too), then T × (string key, string value).
    mutating func tagList(_ tags: [ObjectTag]) {
        if tags.isEmpty { u16(0) } else { self.tags(tags) }
    }

    /// An ACL: string owner, u16 G, G × (u8 grantee kind: 0 user, 1 AllUsers,
    /// 2 AuthenticatedUsers, 3 LogDelivery; a user's name (string) after kind 0; u8 permission).
    mutating func acl(_ acl: AccessControlList) {
        string(acl.owner)
        u16(UInt16(acl.grants.count))
        for grant in acl.grants {
            switch grant.grantee {
            case .user(let name):
                u8(0)
                string(name)
            case .allUsers: u8(1)
            case .authenticatedUsers: u8(2)
            case .logDelivery: u8(3)
            }
            u8(grant.permission.rawValue)
        }
    }

    mutating func optionalString(_ value: String?) {
        guard let value else { return u8(0) }
        u8(1)
        string(value)
    }
}

struct RecordReader {
    private let bytes: UnsafeRawBufferPointer
    private var position = 0
    let record: String

    /// The record's format version (its first byte).
    private(set) var version: UInt8 = 0

    /// Reads the version byte and checks it against `expectedVersion`.
    init(_ bytes: UnsafeRawBufferPointer, record: String, expectedVersion: UInt8) throws(RecordError) {
        try self.init(bytes, record: record, acceptedVersions: expectedVersion...expectedVersion)
    }

    /// Reads the version byte: a record with more than one format version in use.
    init(_ bytes: UnsafeRawBufferPointer, record: String, acceptedVersions: ClosedRange<UInt8>) throws(RecordError) {
        self.bytes = bytes
        self.record = record
        version = try u8()
        guard acceptedVersions.contains(version) else {
            throw RecordError(record: record, reason: "unknown format version \(version)")
        }
    }

    private mutating func take(_ count: Int) throws(RecordError) -> UnsafeRawBufferPointer {
        guard count >= 0, bytes.count - position >= count else {
            throw RecordError(record: record, reason: "truncated at byte \(position) (needs \(count) more)")
        }
        defer { position += count }
        return UnsafeRawBufferPointer(rebasing: bytes[position..<position + count])
    }

    /// Bytes not read yet: a count read from the record is checked against it before
    /// anything is allocated for that many elements.
    var remaining: Int { bytes.count - position }

    mutating func u8() throws(RecordError) -> UInt8 { try take(1)[0] }

    mutating func u16() throws(RecordError) -> UInt16 {
        UInt16(littleEndian: try take(2).loadUnaligned(as: UInt16.self))
    }

    mutating func u32() throws(RecordError) -> UInt32 {
        UInt32(littleEndian: try take(4).loadUnaligned(as: UInt32.self))
    }

    mutating func u64() throws(RecordError) -> UInt64 {
        UInt64(littleEndian: try take(8).loadUnaligned(as: UInt64.self))
    }

    mutating func i64() throws(RecordError) -> Int64 { Int64(bitPattern: try u64()) }

    mutating func blob() throws(RecordError) -> [UInt8] {
        let count = Int(try u32())
        return Array(try take(count))
    }

    mutating func string() throws(RecordError) -> String {
        let raw = try blob()
        guard let text = String(validating: raw, as: UTF8.self) else {
            throw RecordError(record: record, reason: "invalid UTF-8 at byte \(position)")
        }
        return text
    }

    /// `RecordWriter.tags`: 1 to 50 of them.
    mutating func tags() throws(RecordError) -> [ObjectTag] {
        let count = Int(try u16())
        guard count > 0, count <= Limits.maxBucketTags else { throw RecordError(record: record, reason: "\(count) tags") }
        var tags: [ObjectTag] = []
        for _ in 0..<count {
            let key = try string()
            tags.append(ObjectTag(key: key, value: try string()))
        }
        return tags
    }

    /// As `tagList(_:)` wrote them.
    mutating func tagList() throws(RecordError) -> [ObjectTag] {
        var copy = self
        guard try copy.u16() != 0 else {
            self = copy
            return []
        }
        return try tags()
    }

    mutating func acl() throws(RecordError) -> AccessControlList {
        let owner = try string()
        let count = Int(try u16())
        guard count <= Limits.maxGrants else { throw RecordError(record: record, reason: "\(count) grants") }
        var grants: [AccessControlList.Grant] = []
        for _ in 0..<count {
            let grantee: AccessControlList.Grantee
            switch try u8() {
            case 0: grantee = .user(try string())
            case 1: grantee = .allUsers
            case 2: grantee = .authenticatedUsers
            case 3: grantee = .logDelivery
            case let other: throw RecordError(record: record, reason: "grantee kind \(other)")
            }
            let raw = try u8()
            guard let permission = AccessControlList.Permission(rawValue: raw) else {
                throw RecordError(record: record, reason: "ACL permission \(raw)")
            }
            grants.append(AccessControlList.Grant(grantee, permission))
        }
        return AccessControlList(owner: owner, grants: grants)
    }

    mutating func optionalString() throws(RecordError) -> String? {
        switch try u8() {
        case 0: return nil
        case 1: return try string()
        case let flag: throw RecordError(record: record, reason: "bad presence byte \(flag)")
        }
    }

    /// Decoding must consume the record exactly: trailing bytes mean a layout mismatch.
    func finish() throws(RecordError) {
        guard position == bytes.count else {
            throw RecordError(record: record, reason: "\(bytes.count - position) trailing bytes")
        }
    }
}
