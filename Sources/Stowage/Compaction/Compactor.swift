import Foundation
import Glibc
import Synchronization
import StowageChecksums

/// How compaction chooses and paces its work.
public struct CompactionOptions: Sendable {
    /// A settled segment is compacted once at least this fraction of its file is not live
    /// data (dead bytes, plus the tail no write will fill any more).
    public var garbageThreshold: Double = 0.5
    /// Most bytes per second copied; nil copies as fast as the disk allows.
    public var bytesPerSecond: UInt64?
    /// Live bytes moved between two index commits.
    public var batchBytes: UInt64 = 32 << 20
    /// Blobs repointed in one index commit.
    public var batchBlobs: Int = 1024
    /// Called as each step of a segment's move completes, with the segment's id (tests
    /// stop the process here to show that every step is crash-safe).
    public var onStep: (@Sendable (CompactionStep, UInt64) -> Void)?

    public init(garbageThreshold: Double = 0.5, bytesPerSecond: UInt64? = nil) {
        self.garbageThreshold = garbageThreshold
        self.bytesPerSecond = bytesPerSecond
    }
}

/// The steps of one segment's compaction, in order (docs/ARCHITECTURE.md §6d).
public enum CompactionStep: String, Sendable, CaseIterable {
    /// The victim's record says `retiring` (committed).
    case marked
    /// One batch of live extents is copied and synced into the open segment.
    case copied
    /// That batch's blobs point at the copies (committed).
    case repointed
    /// The victim's record is deleted: nothing in the index refers to it (committed).
    case unreferenced
    /// The victim's file is unlinked.
    case unlinked
}

/// What one compaction pass did.
public struct CompactionReport: Sendable, Equatable {
    /// Segments whose files were unlinked (including files the index never referenced).
    public var segmentsRetired = 0
    /// Expired RenameObject client tokens deleted (they are ignored once expired).
    public var tokensSwept = 0
    /// Live bytes copied into the open segment.
    public var bytesMoved: UInt64 = 0
    /// Blobs whose extents were repointed.
    public var blobsMoved = 0
    /// Disk space given back: the unlinked files' lengths.
    public var bytesReclaimed: UInt64 = 0
    /// Blobs left where they are because a chunk failed its XXH3 (fsck reports them).
    public var damagedBlobs: [UInt64] = []
    public var seconds: Double = 0
}

/// Space accounting and compaction totals since the store was opened.
public struct StoreStats: Sendable, Equatable, Codable {
    public var segments = 0
    /// Sum of segment file capacities known to the index.
    public var capacityBytes: UInt64 = 0
    public var liveBytes: UInt64 = 0
    public var deadBytes: UInt64 = 0
    public var compactionPasses = 0
    public var segmentsRetired = 0
    public var bytesMoved: UInt64 = 0
    public var bytesReclaimed: UInt64 = 0
    /// The LMDB map's size and the bytes of it in use (0 over etcd).
    public var indexMapBytes: UInt64 = 0
    public var indexUsedBytes: UInt64 = 0
    /// Lifecycle passes since the store was opened, and what they did.
    public var lifecyclePasses = 0
    public var lifecycleExpiredObjects = 0
    public var lifecycleExpiredVersions = 0
    public var lifecycleRemovedMarkers = 0
    public var lifecycleAbortedUploads = 0
    public var lifecycleLockedVersionsKept = 0
}


extension ObjectStore {
    /// Space accounting (I7) and compaction totals.
    public func stats() throws(StoreError) -> StoreStats {
        var stats = try read { txn in
            var stats = StoreStats()
            for (_, record) in try index.allSegments(txn) {
                stats.segments += 1
                stats.capacityBytes += record.capacityBytes
                stats.liveBytes += record.liveBytes
                stats.deadBytes += record.deadBytes
            }
            return stats
        }
        compaction.totals.withLock { t in
            stats.compactionPasses = t.passes
            stats.segmentsRetired = t.segmentsRetired
            stats.bytesMoved = t.bytesMoved
            stats.bytesReclaimed = t.bytesReclaimed
            stats.lifecyclePasses = t.lifecyclePasses
            stats.lifecycleExpiredObjects = t.lifecycle.expiredObjects
            stats.lifecycleExpiredVersions = t.lifecycle.expiredNoncurrentVersions
            stats.lifecycleRemovedMarkers = t.lifecycle.removedDeleteMarkers
            stats.lifecycleAbortedUploads = t.lifecycle.abortedUploads
            stats.lifecycleLockedVersionsKept = t.lifecycle.lockedVersionsKept
        }
        if let usage = indexBackend.usage { (stats.indexMapBytes, stats.indexUsedBytes) = usage }
        return stats
    }

    /// Runs compaction passes in the background every `interval` until the store closes
    /// (or `stopCompaction`). Failures are logged and retried at the next interval.
    public func startCompaction(_ options: CompactionOptions = CompactionOptions(), interval: Duration = .seconds(30)) {
        let task = Task.detached { [self] in
            while !Task.isCancelled {
                do {
                    let report = try await compact(options)
                    if report.segmentsRetired > 0 || !report.damagedBlobs.isEmpty || report.tokensSwept > 0 {
                        self.options.logger.info("compaction: retired \(report.segmentsRetired) segments, moved \(report.bytesMoved) live bytes of \(report.blobsMoved) blobs, reclaimed \(report.bytesReclaimed) bytes, swept \(report.tokensSwept) expired tokens in \(report.seconds) s")
                    }
                } catch {
                    if (error as? StoreError)?.code == .closed { return }
                    self.options.logger.error("compaction: \(error)")
                }
                try? await Task.sleep(for: interval)
            }
        }
        let previous = compaction.background.withLock { t -> Task<Void, Never>? in defer { t = task }; return t }
        previous?.cancel()
    }

    /// Stops the background compaction started by `startCompaction`, after its current pass.
    public func stopCompaction() {
        compaction.stopBackground()
    }

    /// One compaction pass: unlinks segment files the index does not reference, then moves
    /// the live extents out of every settled segment whose garbage passes the threshold
    /// and unlinks it. Crash-safe at every step (docs/ARCHITECTURE.md §6d).
    public func compact(_ options: CompactionOptions = CompactionOptions()) async throws(StoreError) -> CompactionReport {
        try requireSegmentFiles("Compaction")
        await compaction.turn.acquire()
        defer { compaction.turn.release() }
        let started = ContinuousClock.now
        var report = CompactionReport()
        var pacer = Pacer(bytesPerSecond: options.bytesPerSecond)
        try await retireUnknownFiles(&report, options)
        report.tokensSwept = try await sweepExpiredTokens()
        for victim in try compactionCandidates(options) {
            if Task.isCancelled { break }
            try await compactSegment(victim, options, &report, &pacer)
        }
        report.seconds = (ContinuousClock.now - started).seconds
        compaction.add(report)
        return report
    }

    /// Segment files no index record names, in settled segments: a crash between creating
    /// a segment and the first commit into it, or between compaction's last two steps.
    private func retireUnknownFiles(_ report: inout CompactionReport, _ options: CompactionOptions) async throws(StoreError) {
        let known = try read { txn in Set(try index.allSegments(txn).map(\.0)) }
        let path = directory + "/" + Self.segmentsDirectoryName
        for id in ExtentStore.segmentIDs(in: path).sorted() where !known.contains(id) && extents.isSettled(id) {
            let length = FileIO.fileLength(path + "/" + SegmentFile.fileName(id))
            // Nothing referenced it, so no reader can be reading it: no drain needed.
            if try retireFile(id) {
                report.segmentsRetired += 1
                report.bytesReclaimed += length
                self.options.logger.notice("compaction: deleted segment file \(id) (\(length) bytes), which no index entry referenced")
                options.onStep?(.unlinked, id)
            }
        }
    }

    /// Deletes expired client tokens, at most `maxTokensPerSweep` a pass: found in a read
    /// transaction, deleted in one commit that checks each is still expired (a retry may
    /// have renewed it meanwhile).
    func sweepExpiredTokens(now: Int64 = ObjectStore.nowMilliseconds(),
                            limit: Int = ObjectStore.maxTokensPerSweep) async throws(StoreError) -> Int {
        let expired = try await readOffLoop { [index] txn -> [[UInt8]] in
            var keys: [[UInt8]] = []
            try txn.scan(index.tokens, from: []) { key, value in
                if (try? TokenRecord(decoding: value))?.expiresMilliseconds ?? .max <= now { keys.append(Array(key)) }
                return keys.count < limit
            }
            return keys
        }
        guard !expired.isEmpty else { return 0 }
        return try await mutate { [index] txn -> Int in
            var swept = 0
            for key in expired {
                guard let record = try txn.withValue(index.tokens, key, { try TokenRecord(decoding: $0) }),
                      record.expiresMilliseconds <= now else { continue }
                if try txn.delete(index.tokens, key) { swept += 1 }
            }
            return swept
        }
    }

    static let maxTokensPerSweep = 10_000

    private func retireFile(_ id: UInt64) throws(StoreError) -> Bool {
        do { return try extents.retire(id) } catch { throw error.storeError }
    }

    /// Settled segments past the threshold (and any left `retiring` by an interrupted
    /// pass), most garbage first.
    private func compactionCandidates(_ options: CompactionOptions) throws(StoreError) -> [UInt64] {
        let segments = try read { txn in try index.allSegments(txn) }
        return segments.filter { id, record in
            guard extents.isSettled(id) else { return false }
            if record.state == .retiring { return true }
            let capacity = max(record.capacityBytes, 1)
            let garbage = capacity - min(record.liveBytes, capacity)
            return Double(garbage) >= options.garbageThreshold * Double(capacity)
        }
        .sorted { $0.1.liveBytes < $1.1.liveBytes }
        .map(\.0)
    }

    /// Moves every live extent out of `victim`, then retires it.
    private func compactSegment(_ victim: UInt64, _ options: CompactionOptions, _ report: inout CompactionReport,
                                _ pacer: inout Pacer) async throws(StoreError) {
        try await mutate { [index] txn in
            try index.adjustSegment(txn, victim, capacity: { _ in 0 }) { $0.state = .retiring }
        }
        options.onStep?(.marked, victim)
        let residents = try read { txn in try index.blobsWithExtents(in: victim, txn) }
        var damaged = Set<UInt64>()
        var batch: [BlobMove] = []
        var batchBytes: UInt64 = 0
        for (blobID, blob) in residents {
            if Task.isCancelled { break }
            do {
                let move = try await copyOut(blobID, blob, from: victim, &pacer)
                batchBytes += move.bytes
                batch.append(move)
            } catch {
                guard error.code == .integrity else {
                    release(batch)
                    throw error
                }
                self.options.logger.error("compaction: \(error); blob \(blobID) stays in segment \(victim)")
                damaged.insert(blobID)
                continue
            }
            if batchBytes >= options.batchBytes || batch.count >= options.batchBlobs {
                try await repoint(batch, victim, options, &report)
                (batch, batchBytes) = ([], 0)
            }
        }
        if !batch.isEmpty { try await repoint(batch, victim, options, &report) }
        report.damagedBlobs += damaged.sorted()
        guard damaged.isEmpty, !Task.isCancelled else { return }
        // Nothing may still point into the victim. Checked with a scan in a read
        // transaction, not inside the single writer (a scan of every blob would hold up
        // every write): the answer cannot go stale, since nothing adds an extent to a
        // settled segment — only this pass moves extents, and only out of it.
        guard try read({ txn in try index.blobsWithExtents(in: victim, txn).isEmpty }) else { return }
        _ = try await mutate { [index] txn in
            try txn.delete(index.segments, IndexKey.id(victim))
        }
        options.onStep?(.unreferenced, victim)
        // Readers whose snapshot still holds the old extents pin the mapping before they
        // leave the gate; after this, nobody opens the file by name again.
        await readers.drain()
        let length = FileIO.fileLength(directory + "/" + Self.segmentsDirectoryName + "/" + SegmentFile.fileName(victim))
        if try retireFile(victim) {
            report.segmentsRetired += 1
            report.bytesReclaimed += length
            self.options.logger.info("compaction: segment \(victim) retired (\(length) bytes reclaimed; \(report.bytesMoved) live bytes moved so far this pass)")
            options.onStep?(.unlinked, victim)
        }
    }

    /// One blob's extents in the victim, copied (and checked) into new space.
    struct BlobMove: Sendable {
        let blobID: UInt64
        /// Old extent → its copies, in order.
        var replacements: [(old: Extent, new: [Extent])]
        var destinationSegments: Set<UInt64>
        var bytes: UInt64 { replacements.reduce(0) { $0 + $1.old.lengthBytes } }
    }

    /// Copies `blob`'s extents in `victim` into reservations in the open segment, checking
    /// every chunk against its XXH3 first (compaction never spreads damage). The
    /// reservations stay pinned until `repoint` commits.
    private func copyOut(_ blobID: UInt64, _ blob: BlobRecord, from victim: UInt64,
                         _ pacer: inout Pacer) async throws(StoreError) -> BlobMove {
        var move = BlobMove(blobID: blobID, replacements: [], destinationSegments: [])
        var reserved: [UInt64] = []
        do {
            try await copyOut(blobID, blob, from: victim, into: &move, reserved: &reserved, &pacer)
        } catch {
            for id in reserved { extents.unpin(id) }
            throw error
        }
        return move
    }

    private func copyOut(_ blobID: UInt64, _ blob: BlobRecord, from victim: UInt64, into move: inout BlobMove,
                         reserved: inout [UInt64], _ pacer: inout Pacer) async throws(StoreError) {
        let chunk = UInt64(blob.chunkSizeBytes)
        let source: Mapping
        do { source = try extents.segment(victim).mapped() } catch {
            throw StoreError(.integrity, "segment \(victim) cannot be read: \(error)", cause: error)
        }
        for old in blob.extents where old.segmentID == victim {
            guard old.offsetBytes + old.lengthBytes <= UInt64(source.length) else {
                throw StoreError(.integrity, "blob \(blobID): an extent lies past the end of segment \(victim)")
            }
            var copies: [Extent] = []
            var done: UInt64 = 0
            while done < old.lengthBytes {
                let reservation: Reservation
                let remaining = old.lengthBytes - done
                do { reservation = try await BlockingIO.run { [extents] in
                    try extents.reserveSpace(maxLength: remaining, chunkBytes: chunk)
                } } catch { throw StoreError.wrapping(error, "compaction reserving space") }
                reserved.append(reservation.segment.id)
                move.destinationSegments.insert(reservation.segment.id)
                let firstChunk = Int(done / chunk)
                let chunkCount = Int((reservation.lengthBytes + chunk - 1) / chunk)
                var written: UInt64 = 0
                for i in 0..<chunkCount {
                    let offset = old.offsetBytes + done + written
                    // Keep the kernel reading ahead of the copy (16 chunks' worth).
                    if i % 8 == 0 {
                        source.prefetch(offset: offset, count: Int(min(16 * chunk, old.offsetBytes + old.lengthBytes - offset)))
                    }
                    let length = Int(min(chunk, reservation.lengthBytes - written))
                    let expected = old.chunkHashes[firstChunk + i]
                    let target = reservation.offsetBytes + written
                    do {
                        try await BlockingIO.run {
                            let bytes = source.bytes(offset: offset, count: length)
                            guard XXH3.hash(bytes) == expected else {
                                throw StoreError(.integrity, "blob \(blobID): chunk at segment \(victim) offset \(offset) failed its checksum")
                            }
                            try reservation.segment.write(bytes, at: target)
                            source.dropResidency(offset: offset, count: length)
                        }
                    } catch {
                        throw StoreError.wrapping(error, "compaction copying blob \(blobID)")
                    }
                    written += UInt64(length)
                    await pacer.pace(UInt64(length))
                }
                copies.append(Extent(segmentID: reservation.segment.id, offsetBytes: reservation.offsetBytes,
                                     lengthBytes: reservation.lengthBytes,
                                     chunkHashes: Array(old.chunkHashes[firstChunk..<(firstChunk + chunkCount)])))
                done += reservation.lengthBytes
            }
            move.replacements.append((old, copies))
        }
    }

    /// Unpins the reservations of moves (each copy is one reservation).
    private func release(_ batch: [BlobMove]) {
        for move in batch {
            for (_, copies) in move.replacements { for copy in copies { extents.unpin(copy.segmentID) } }
        }
    }

    /// Points each moved blob at its copies in one commit (after the copies are synced,
    /// I3). A blob deleted or changed meanwhile keeps what it has; its copies are dead.
    private func repoint(_ batch: [BlobMove], _ victim: UInt64, _ options: CompactionOptions,
                         _ report: inout CompactionReport) async throws(StoreError) {
        var segments = Set<UInt64>()
        for move in batch { segments.formUnion(move.destinationSegments) }
        options.onStep?(.copied, victim)
        defer { release(batch) }
        let moved = try await mutate(durable: segments) { [index, self] txn -> (Int, UInt64) in
            var (blobs, bytes): (Int, UInt64) = (0, 0)
            for move in batch {
                var record = try index.blob(txn, move.blobID)
                var applied = false
                for (old, copies) in move.replacements {
                    // The blob may be gone (deleted) since the copy: its copies are dead.
                    let position = record?.extents.firstIndex(of: old)
                    if let position {
                        record?.extents.replaceSubrange(position...position, with: copies)
                        try index.adjustSegment(txn, victim, capacity: { _ in 0 }) { segment in
                            segment.liveBytes -= min(segment.liveBytes, old.lengthBytes)
                        }
                        bytes += old.lengthBytes
                        applied = true
                    }
                    for copy in copies {
                        try index.adjustSegment(txn, copy.segmentID, capacity: { try self.segmentCapacity($0) }) { segment in
                            if position != nil { segment.liveBytes += copy.lengthBytes }
                            segment.highWaterBytes = max(segment.highWaterBytes, copy.offsetBytes + copy.lengthBytes)
                        }
                    }
                }
                if applied, let record {
                    try txn.put(index.blobs, IndexKey.id(move.blobID), record.encoded())
                    blobs += 1
                }
            }
            return (blobs, bytes)
        }
        report.blobsMoved += moved.0
        report.bytesMoved += moved.1
        options.onStep?(.repointed, victim)
    }
}

/// Keeps copying under a byte rate by sleeping when ahead of it.
struct Pacer {
    let bytesPerSecond: UInt64?
    private var started = ContinuousClock.now
    private var bytes: UInt64 = 0

    init(bytesPerSecond: UInt64?) { self.bytesPerSecond = bytesPerSecond }

    mutating func pace(_ count: UInt64) async {
        guard let rate = bytesPerSecond, rate > 0 else { return }
        bytes += count
        let due = Duration.seconds(Double(bytes) / Double(rate))
        let elapsed = ContinuousClock.now - started
        if due > elapsed { try? await Task.sleep(for: due - elapsed) }
    }
}

extension CompactionState {
    func add(_ report: CompactionReport) {
        totals.withLock { t in
            t.passes += 1
            t.segmentsRetired += report.segmentsRetired
            t.bytesMoved += report.bytesMoved
            t.bytesReclaimed += report.bytesReclaimed
        }
    }
}
