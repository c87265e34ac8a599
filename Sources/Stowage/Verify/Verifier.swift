import Glibc

/// Verification of one data directory: the whole index read in one LMDB read transaction
/// (a snapshot: the writer is never blocked), the segment files listed right after it, the
/// index checks, then — unless `quick` — the byte scan. Shared by `ObjectStore.verify` (a
/// store open for writing, e.g. inside a server) and `ReadOnlyStore.verify` (the CLI).
struct Verifier {
    let snapshots: any IndexSnapshots
    let index: Index
    let directory: String
    let live: Bool
    /// The segment appends go to, when the caller knows it (an open store).
    let appendSegment: UInt64?

    var segmentsDirectory: String { directory + "/" + ObjectStore.segmentsDirectoryName }

    func run(_ options: VerifyOptions, progress: (@Sendable (VerifyProgress) -> Void)?) async throws -> VerificationReport {
        let clock = ContinuousClock()
        let started = clock.now
        let (snapshots, index) = (self.snapshots, self.index)
        let now = ObjectStore.nowMilliseconds()
        let snapshot = try await BlockingIO.run {
            try snapshots.read { txn in try IndexSnapshot.load(txn, index, nowMilliseconds: now) }
        }
        // Listed after the snapshot: a file the snapshot references existed when it was taken.
        let files = try SegmentDirectory.lengths(segmentsDirectory)
        let references = ReferenceCheck(snapshot)
        let space = SpaceCheck(snapshot, files: files, appendSegment: appendSegment ?? snapshot.lastOpenSegment,
                               maxRanges: options.maxRangesPerFinding)
        var findings = snapshot.findings + references.findings + space.findings
        var statistics = Self.statistics(snapshot, files: files, space: space)
        statistics.indexSeconds = (clock.now - started).seconds
        if !options.quick {
            let scanStarted = clock.now
            let outcome = try await ByteScan.run(space.readable, segmentsDirectory: segmentsDirectory,
                                                 workers: options.scanWorkers, progress: progress)
            statistics.scanSeconds = (clock.now - scanStarted).seconds
            statistics.bytesVerified = outcome.bytesVerified
            statistics.chunksVerified = outcome.chunksVerified
            findings += Self.findings(outcome)
        }
        findings = try reconfirm(findings, snapshot)
        let scanDamage = findings.filter { $0.kind == .chunkMismatch || $0.kind == .unreadableExtent }
        findings = Resolution(snapshot, findings).resolve(findings, fullScan: !options.quick)
        return VerificationReport(directory: directory, quick: options.quick, live: live, findings: findings,
                                  statistics: statistics, segments: space.summaries, scanDamage: scanDamage)
    }

    private static func statistics(_ snapshot: IndexSnapshot, files: [UInt64: UInt64], space: SpaceCheck) -> VerificationStatistics {
        var s = VerificationStatistics()
        s.buckets = snapshot.buckets.count
        s.objects = snapshot.objects.count - snapshot.noncurrentVersions
        s.noncurrentVersions = snapshot.noncurrentVersions
        s.deleteMarkers = snapshot.deleteMarkers
        s.compositeBlobs = snapshot.blobs.values.filter(\.isComposite).count
        s.dataBlobs = snapshot.blobs.count - s.compositeBlobs
        s.uploads = snapshot.uploads.count
        s.parts = snapshot.parts.count
        s.tokens = snapshot.tokens
        s.expiredTokens = snapshot.expiredTokens
        s.completions = snapshot.completions
        s.quarantinedBlobs = snapshot.quarantine.count
        s.segmentRecords = snapshot.segments.count
        s.segmentFiles = files.count
        s.liveBytes = space.liveBytes
        s.deadBytes = space.deadBytes
        s.orphanedBytes = space.orphanedBytes
        s.strandedBytes = space.strandedBytes
        s.unknownSegmentBytes = space.unknownSegmentBytes
        s.bytesToVerify = space.readable.reduce(0) { $0 + $1.extent.lengthBytes }
        return s
    }

    private static func findings(_ outcome: ByteScan.Outcome) -> [Finding] {
        var findings = outcome.mismatches.sorted { ($0.placed.extent.segmentID, $0.offsetBytes) < ($1.placed.extent.segmentID, $1.offsetBytes) }.map { m in
            Finding(.chunkMismatch,
                    "the chunk hashes to \(hex(m.actual)), its XXH3 in the index is \(hex(m.expected)) (chunk \((m.offsetBytes - m.placed.extent.offsetBytes) / UInt64(m.placed.chunkSizeBytes)) of extent \(m.placed.index))",
                    blobID: m.placed.blobID, segmentID: m.placed.extent.segmentID, offset: m.offsetBytes,
                    length: UInt64(m.lengthBytes))
        }
        var seen = Set<[UInt64]>()
        for (placed, error) in outcome.unreadable where seen.insert([placed.blobID, UInt64(placed.index)]).inserted {
            findings.append(Finding(.unreadableExtent, "extent \(placed.index) of the blob could not be read: \(error)",
                                    blobID: placed.blobID, segmentID: placed.extent.segmentID,
                                    offset: placed.extent.offsetBytes, length: placed.extent.lengthBytes))
        }
        return findings
    }

    /// Damage to the bytes is confirmed against the index as it is now: a blob deleted or
    /// moved since the snapshot (on a live directory) is no finding.
    /// A live store's compaction may move a blob, or retire a whole segment (record first,
    /// then file), after the snapshot: damage is reported only if the blob — or, for a
    /// missing file, the segment's record — is still what the snapshot saw.
    private func reconfirm(_ findings: [Finding], _ snapshot: IndexSnapshot) throws -> [Finding] {
        let suspects = Set(findings.filter { $0.kind == .chunkMismatch || $0.kind == .unreadableExtent }.compactMap(\.blobID))
        let missing = Set(findings.filter { $0.kind == .missingSegmentFile }.compactMap(\.segmentID))
        guard !suspects.isEmpty || !missing.isEmpty else { return findings }
        let index = self.index
        let (unchanged, stillRecorded) = try snapshots.read { txn in
            (try Set(suspects.filter { try index.blob(txn, $0) == snapshot.blobs[$0] }),
             try Set(missing.filter { try index.segment(txn, $0) != nil }))
        }
        return findings.filter { finding in
            if finding.kind == .missingSegmentFile, let id = finding.segmentID { return stillRecorded.contains(id) }
            guard finding.kind == .chunkMismatch || finding.kind == .unreadableExtent, let id = finding.blobID else { return true }
            return unchanged.contains(id)
        }
    }

    static func hex(_ value: UInt64) -> String { String(value, radix: 16).leftPadded(16) }
}

extension IndexSnapshot {
    /// The segment appends resume in at open (`ObjectStore.openExtents`): the highest
    /// record, if it is open.
    var lastOpenSegment: UInt64? {
        guard let (id, record) = segments.max(by: { $0.key < $1.key }), record.state == .open else { return nil }
        return id
    }
}

/// The files of `DATA/segments`.
enum SegmentDirectory {
    /// Segment id → the file's length, for every file named as the engine names segments.
    static func lengths(_ path: String) throws(StoreError) -> [UInt64: UInt64] {
        var result: [UInt64: UInt64] = [:]
        for id in ExtentStore.segmentIDs(in: path) {
            var info = stat()
            let file = path + "/" + SegmentFile.fileName(id)
            if stat(file, &info) == 0 {
                if info.st_mode & S_IFMT == S_IFREG { result[id] = UInt64(info.st_size) }
            } else if errno != ENOENT {
                throw IOError(operation: "stat", path: file, errno: errno).storeError
            }
        }
        return result
    }
}

extension Duration {
    /// The duration in seconds, fractional.
    public var seconds: Double {
        let (whole, attoseconds) = components
        return Double(whole) + Double(attoseconds) / 1e18
    }
}

extension ObjectStore {
    /// Verifies this store while it serves: one read snapshot of the index (writers go on),
    /// then, unless `options.quick`, every chunk's XXH3 against the bytes on disk. Reports
    /// every problem found (docs/ARCHITECTURE.md, "Verification and repair").
    public func verify(_ options: VerifyOptions = VerifyOptions(),
                       progress: (@Sendable (VerifyProgress) -> Void)? = nil) async throws(StoreError) -> VerificationReport {
        try read { _ in }   // `StoreClosed` once the store is closed
        try requireSegmentFiles("fsck")
        let verifier = Verifier(snapshots: indexBackend, index: index, directory: directory, live: false,
                                appendSegment: extents.openSegmentID)
        do { return try await verifier.run(options, progress: progress) } catch {
            throw StoreError.wrapping(error, "verification")
        }
    }
}
