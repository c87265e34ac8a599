/// One thing verification found, with where it is. Like bbolt's `Tx.Check`, verification
/// reports every finding, never only the first.
public struct Finding: Sendable, Hashable, Encodable, CustomStringConvertible {
    /// What was found. Each kind has a fixed severity; docs/ARCHITECTURE.md ("Verification
    /// and repair") lists what `repair` does about each.
    public enum Kind: String, Sendable, Hashable, Encodable, CaseIterable {
        // Records
        /// A record does not decode (unknown format version, truncated, trailing bytes, bad key).
        case undecodableRecord
        /// `meta["next-blob"]` is not above every blob id: the next PUT would collide.
        case blobCounterBehind
        // Keys and blobs
        /// A key whose bucket record is missing.
        case objectWithoutBucket
        /// A key names a blob that does not exist.
        case danglingBlobReference
        /// A key's size differs from its blob's.
        case sizeMismatch
        /// A composite's or upload part's piece names a blob that does not exist.
        case danglingPiece
        /// A piece names a composite blob, or a range past its data blob's end.
        case invalidPiece
        /// A blob's reference count differs from the references counted.
        case wrongReferenceCount
        /// A blob nothing references (its bytes count as live but nobody can read them).
        case unreferencedBlob
        // Multipart uploads
        /// A part record whose upload record is missing.
        case orphanedPart
        // Versions
        /// A key with no current object whose newest version is not a delete marker (V1),
        /// or whose history repeats a version id (V3): GET would not find its latest version.
        case inconsistentVersions
        // Segments and extents
        /// A segment file referenced by extents is missing.
        case missingSegmentFile
        /// A segment file is shorter than its record's capacity.
        case truncatedSegmentFile
        /// An extent lies (partly) outside its segment file: its bytes cannot be read.
        case unreadableExtent
        /// An extent lies past its segment record's capacity (inside the file).
        case extentBeyondCapacity
        /// Extents point into a segment that has no record (its space is unaccounted).
        case missingSegmentRecord
        /// Two extents claim the same bytes.
        case overlappingExtents
        /// A segment's live/dead/high-water figures differ from the values recomputed (I7).
        case wrongSegmentAccounting
        /// A chunk's bytes do not hash to its XXH3 (the full scan).
        case chunkMismatch
        // Notices: no problem, but worth knowing
        /// A key whose blob `repair` quarantined: GET and HEAD answer an integrity error.
        case quarantinedObject
        /// A quarantine entry for a blob nothing references any more.
        case staleQuarantine
        /// Bytes below a segment's high-water mark that no extent references: deleted
        /// objects, aborted uploads, writes whose commit never happened. Already counted
        /// dead; compaction reclaims them.
        case orphanedBytes
        /// A segment file the index knows nothing about (a crash between creating it and
        /// the first commit into it; on a live directory, possibly a segment being filled).
        case unknownSegmentFile
        /// A segment record with no file and no extent in it.
        case segmentRecordWithoutFile

        public var severity: Severity {
            switch self {
            case .quarantinedObject, .staleQuarantine, .orphanedBytes, .unknownSegmentFile, .segmentRecordWithoutFile:
                return .notice
            default:
                return .problem
            }
        }
    }

    /// `problem`: the index or the bytes are wrong (fsck exits 1). `notice`: reported,
    /// but the store is consistent (fsck exits 0).
    public enum Severity: String, Sendable, Hashable, Encodable {
        case problem, notice
    }

    public var kind: Kind
    public var message: String
    public var bucket: String?
    public var key: String?
    public var blobID: UInt64?
    /// The other blob involved: the piece's target, or the other owner of overlapping bytes.
    public var otherBlobID: UInt64?
    public var segmentID: UInt64?
    public var offset: UInt64?
    public var length: UInt64?
    public var uploadID: String?
    public var partNumber: Int?
    /// For `undecodableRecord`: the table (`objects`, `blobs`, …).
    public var table: String?
    /// Every key whose bytes the finding affects (a blob may have several: copies,
    /// multipart objects sharing a part).
    public var objects: [ObjectName] = []
    /// For `orphanedBytes`: the unreferenced ranges (up to `VerifyOptions.maxRangesPerFinding`;
    /// `length` is always the exact total).
    public var ranges: [ByteRun] = []

    public var severity: Severity { kind.severity }

    init(_ kind: Kind, _ message: String, bucket: String? = nil, key: String? = nil, blobID: UInt64? = nil,
         segmentID: UInt64? = nil, offset: UInt64? = nil, length: UInt64? = nil,
         uploadID: String? = nil, partNumber: Int? = nil, table: String? = nil) {
        self.kind = kind
        self.message = message
        self.bucket = bucket
        self.key = key
        self.blobID = blobID
        self.segmentID = segmentID
        self.offset = offset
        self.length = length
        self.uploadID = uploadID
        self.partNumber = partNumber
        self.table = table
    }

    /// One line: kind, location, message.
    public var description: String {
        var location: [String] = []
        if let bucket, let key { location.append("\(bucket)/\(key)") }
        if let table { location.append("table \(table)") }
        if let blobID { location.append("blob \(blobID)") }
        if let otherBlobID { location.append("other blob \(otherBlobID)") }
        if let uploadID { location.append("upload \(uploadID)" + (partNumber.map { " part \($0)" } ?? "")) }
        if let segmentID { location.append("segment \(segmentID)") }
        if let offset { location.append("offset \(offset)") }
        if let length { location.append("\(length) bytes") }
        let extra = objects.count > 1 ? " (\(objects.count) keys: \(objects.prefix(5).map(\.description).joined(separator: ", "))\(objects.count > 5 ? ", …" : ""))" : ""
        return "\(kind.rawValue) [\(location.joined(separator: ", "))]: \(message)\(extra)"
    }

    private enum CodingKeys: String, CodingKey {
        case kind, severity, message, bucket, key, blobID, otherBlobID, segmentID, offset, length, uploadID, partNumber,
             table, objects, ranges
    }

    /// Absent fields are left out, so a consumer sees only what applies.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kind, forKey: .kind)
        try c.encode(severity, forKey: .severity)
        try c.encode(message, forKey: .message)
        try c.encodeIfPresent(bucket, forKey: .bucket)
        try c.encodeIfPresent(key, forKey: .key)
        try c.encodeIfPresent(blobID, forKey: .blobID)
        try c.encodeIfPresent(otherBlobID, forKey: .otherBlobID)
        try c.encodeIfPresent(segmentID, forKey: .segmentID)
        try c.encodeIfPresent(offset, forKey: .offset)
        try c.encodeIfPresent(length, forKey: .length)
        try c.encodeIfPresent(uploadID, forKey: .uploadID)
        try c.encodeIfPresent(partNumber, forKey: .partNumber)
        try c.encodeIfPresent(table, forKey: .table)
        if !objects.isEmpty { try c.encode(objects, forKey: .objects) }
        if !ranges.isEmpty { try c.encode(ranges, forKey: .ranges) }
    }

    /// Names the first affected key as the finding's bucket/key, and lists them all.
    mutating func affect(_ names: [ObjectName]) {
        objects = names
        if bucket == nil, let first = names.first {
            bucket = first.bucket
            key = first.key
        }
    }
}

/// A key: bucket and object key.
public struct ObjectName: Sendable, Hashable, Encodable, CustomStringConvertible {
    public var bucket: String
    public var key: String
    /// A noncurrent version's id (`null` for the null version); nil for a current object.
    public var versionID: String?
    public var description: String { "\(bucket)/\(key)" + (versionID.map { "?versionId=\($0)" } ?? "") }

    public init(bucket: String, key: String, versionID: String? = nil) {
        (self.bucket, self.key, self.versionID) = (bucket, key, versionID)
    }
}

/// A byte range of a segment file.
public struct ByteRun: Sendable, Hashable, Encodable {
    public var offset: UInt64
    public var length: UInt64
}
