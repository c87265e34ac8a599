import Foundation

public struct VerifyOptions: Sendable {
    /// Skip the byte scan: check the index, and the segment files' presence and sizes.
    public var quick = false
    /// Threads hashing chunks in the byte scan; the extents are split between them.
    public var scanWorkers = max(1, ProcessInfo.processInfo.activeProcessorCount)
    /// Ranges listed in one `orphanedBytes` finding (its `length` is always the exact total).
    public var maxRangesPerFinding = 1000

    public init() {}
}

/// How far the byte scan is: called from the scanning threads, often; keep it cheap.
public struct VerifyProgress: Sendable {
    public var bytesVerified: UInt64
    public var bytesTotal: UInt64
}

/// Everything one verification found, and what it looked at.
public struct VerificationReport: Sendable, Encodable {
    public var directory: String
    /// True when the byte scan was skipped.
    public var quick: Bool
    /// True when another process (a running server) held the data directory. The index was
    /// still read in one consistent snapshot; a segment file created after it (one a
    /// server is filling) shows up as unknown, and bytes in flight as orphaned.
    public var live: Bool
    /// Problems first, then notices; each group in the order found.
    public var findings: [Finding]
    public var statistics: VerificationStatistics
    public var segments: [SegmentSummary]
    /// Every chunk mismatch and unreadable extent the byte scan met, including those on
    /// quarantined blobs (left out of `findings`): `repair` must not lift their quarantine.
    var scanDamage: [Finding] = []

    public var problems: [Finding] { findings.filter { $0.severity == .problem } }
    public var notices: [Finding] { findings.filter { $0.severity == .notice } }
    /// No problems (notices allowed).
    public var isClean: Bool { !findings.contains { $0.severity == .problem } }

    private enum CodingKeys: String, CodingKey {
        case directory, quick, live, clean, problemCount, noticeCount, findings, statistics, segments
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(directory, forKey: .directory)
        try c.encode(quick, forKey: .quick)
        try c.encode(live, forKey: .live)
        try c.encode(isClean, forKey: .clean)
        try c.encode(problems.count, forKey: .problemCount)
        try c.encode(notices.count, forKey: .noticeCount)
        try c.encode(findings, forKey: .findings)
        try c.encode(statistics, forKey: .statistics)
        try c.encode(segments, forKey: .segments)
    }
}

public struct VerificationStatistics: Sendable, Encodable {
    public var buckets = 0
    /// Current objects; `noncurrentVersions` and `deleteMarkers` are the older versions.
    public var objects = 0
    public var noncurrentVersions = 0
    public var deleteMarkers = 0
    public var dataBlobs = 0
    public var compositeBlobs = 0
    public var uploads = 0
    public var parts = 0
    public var tokens = 0
    public var expiredTokens = 0
    /// Kept CompleteMultipartUpload answers (for retries), expired ones in `expiredTokens`.
    public var completions = 0
    public var quarantinedBlobs = 0
    public var segmentRecords = 0
    public var segmentFiles = 0
    /// Sums over the segment records as recomputed from the blobs.
    public var liveBytes: UInt64 = 0
    public var deadBytes: UInt64 = 0
    /// Unreferenced bytes below the high-water marks (part of `deadBytes`).
    public var orphanedBytes: UInt64 = 0
    /// Capacity above the high-water mark of segments no longer appended to: neither live
    /// nor dead until `repair` with `reclaimOrphans` marks it dead.
    public var strandedBytes: UInt64 = 0
    /// Size of the segment files the index does not know.
    public var unknownSegmentBytes: UInt64 = 0
    /// The byte scan: bytes and chunks hashed, out of `bytesToVerify`.
    public var bytesToVerify: UInt64 = 0
    public var bytesVerified: UInt64 = 0
    public var chunksVerified = 0
    public var indexSeconds = 0.0
    public var scanSeconds = 0.0
    public var scanBytesPerSecond: Double { scanSeconds > 0 ? Double(bytesVerified) / scanSeconds : 0 }

    private enum CodingKeys: String, CodingKey {
        case buckets, objects, noncurrentVersions, deleteMarkers, dataBlobs, compositeBlobs, uploads, parts, tokens, expiredTokens, completions, quarantinedBlobs,
             segmentRecords, segmentFiles, liveBytes, deadBytes, orphanedBytes, strandedBytes,
             unknownSegmentBytes, bytesToVerify, bytesVerified, chunksVerified, indexSeconds, scanSeconds,
             scanBytesPerSecond
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        for (value, key) in [(buckets, CodingKeys.buckets), (objects, .objects), (noncurrentVersions, .noncurrentVersions),
                             (deleteMarkers, .deleteMarkers), (dataBlobs, .dataBlobs),
                             (compositeBlobs, .compositeBlobs), (uploads, .uploads), (parts, .parts),
                             (tokens, .tokens), (expiredTokens, .expiredTokens), (completions, .completions), (quarantinedBlobs, .quarantinedBlobs),
                             (segmentRecords, .segmentRecords), (segmentFiles, .segmentFiles),
                             (chunksVerified, .chunksVerified)] {
            try c.encode(value, forKey: key)
        }
        for (value, key) in [(liveBytes, CodingKeys.liveBytes), (deadBytes, .deadBytes), (orphanedBytes, .orphanedBytes),
                             (strandedBytes, .strandedBytes), (unknownSegmentBytes, .unknownSegmentBytes),
                             (bytesToVerify, .bytesToVerify), (bytesVerified, .bytesVerified)] {
            try c.encode(value, forKey: key)
        }
        try c.encode(indexSeconds, forKey: .indexSeconds)
        try c.encode(scanSeconds, forKey: .scanSeconds)
        try c.encode(scanBytesPerSecond, forKey: .scanBytesPerSecond)
    }
}

/// One segment as verification saw it: the record (if any), the file (if any), and the
/// figures recomputed from the blobs.
public struct SegmentSummary: Sendable, Encodable {
    public var id: UInt64
    /// The file's real length; nil when there is no file.
    public var fileBytes: UInt64?
    /// From the record; nil when there is no record.
    public var capacityBytes: UInt64?
    public var highWaterBytes: UInt64?
    public var state: String?
    /// Recomputed from the extents of the existing data blobs.
    public var liveBytes: UInt64
    public var orphanedBytes: UInt64
    public var strandedBytes: UInt64
}
