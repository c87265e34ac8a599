import Foundation
import StowageChecksums

/// What `stowage fsck` finds in a cluster: every blob's RADOS objects exist and hold the
/// bytes their XXH3s promise; RADOS objects nothing references are listed as orphans.
/// `repair` quarantines what is damaged (as in a data directory: GET and HEAD of the keys
/// answer an integrity error at once; DELETE and overwrite still work), lifts a quarantine
/// whose bytes verify again, and deletes old orphans.
public struct ClusterCheckReport: Sendable, Codable {
    public var objects = 0
    public var noncurrentVersions = 0
    public var deleteMarkers = 0
    public var blobs = 0
    public var containers = 0
    public var chunksVerified = 0
    public var bytesVerified: UInt64 = 0
    /// Containers queued for deletion (released, within their grace).
    public var queuedDeletions = 0
    /// A blob's container is missing or shorter than its extents: those objects' bytes are
    /// lost. (Blobs already quarantined are under `quarantinedObjects` instead.)
    public var missing: [String] = []
    /// A chunk's bytes do not match its XXH3.
    public var damaged: [String] = []
    /// Index records that do not decode.
    public var undecodable: [String] = []
    /// Keys whose GET and HEAD answer an integrity error because their blob is
    /// quarantined (after the repair, when there was one): notices, the store is consistent.
    public var quarantinedObjects: [String] = []
    /// What `repair` changed in the index: quarantines set, lifted, or removed as stale.
    public var repairs: [String] = []
    /// RADOS objects under the store's prefix that no blob references and no deletion is
    /// queued for: left by writers that never committed (a crash, an abandoned upload) —
    /// or, for a moment, by an upload in progress.
    public var orphans: [String] = []
    /// Orphans `repair` deleted (older than the age it was given).
    public var orphansDeleted: [String] = []
    public var seconds = 0.0

    /// No lost, damaged or undecodable records left unquarantined (orphans and
    /// quarantined objects are notices).
    public var isClean: Bool { missing.isEmpty && damaged.isEmpty && undecodable.isEmpty }
}

/// Why a blob's bytes cannot be served, and where.
typealias BlobDamage = (reason: QuarantineRecord.Reason, detail: String)

extension ObjectStore {
    /// Verifies a cluster store: every blob record's containers, and unless `quick` every
    /// chunk's XXH3 read back from RADOS; lists orphan RADOS objects. With `repair`,
    /// quarantines blobs with lost or damaged bytes (and composites built on them), lifts
    /// quarantines whose bytes verify intact again (a full check only), removes stale ones,
    /// and deletes the orphans last modified at least `orphanAge` ago (an upload in
    /// progress writes its objects moments before its commit).
    public func checkCluster(quick: Bool = false, repair: Bool = false, orphanAge: Duration = .seconds(3600))
        async throws(StoreError) -> ClusterCheckReport {
        guard let rados = blobs as? RadosBlobs else {
            throw StoreError(.notImplemented, "checkCluster needs a cluster store; fsck checks a data directory")
        }
        let started = ContinuousClock.now
        let now = Self.nowMilliseconds()
        let (snapshot, queued) = try await readOffLoop { [index] txn -> (IndexSnapshot, Set<UInt64>) in
            let snapshot = try IndexSnapshot.load(txn, index, nowMilliseconds: now)
            var queued = Set<UInt64>()
            try txn.scan(RadosBlobs.deletions, from: []) { key, _ in
                if let id = IndexKey.decodeID(key) { queued.insert(id) }
                return true
            }
            return (snapshot, queued)
        }
        var report = ClusterCheckReport()
        report.objects = snapshot.objects.count - snapshot.noncurrentVersions
        report.noncurrentVersions = snapshot.noncurrentVersions
        report.deleteMarkers = snapshot.deleteMarkers
        report.blobs = snapshot.blobs.count
        report.queuedDeletions = queued.count
        report.undecodable = snapshot.findings.map(\.message)
        var damage: [UInt64: BlobDamage] = [:]
        do {
            (report, damage) = try await BlockingIO.runWaiting { [report] in
                var report = report
                var damage: [UInt64: BlobDamage] = [:]
                var referenced = Set<UInt64>()
                for (id, blob) in snapshot.blobs.sorted(by: { $0.key < $1.key }) {
                    for extent in blob.extents {
                        referenced.insert(extent.segmentID)
                        if let found = try Self.check(extent, of: id, chunkBytes: UInt64(blob.chunkSizeBytes), in: rados,
                                                      quick: quick, into: &report) {
                            damage[id] = damage[id] ?? found
                        }
                    }
                }
                report.containers = referenced.count
                return (report, damage)
            }
        } catch {
            throw StoreError.wrapping(error, "checking the cluster")
        }
        let wanted = Self.quarantineTargets(snapshot, damage, now: now)
        if repair {
            report.repairs = try await mutate { [index] txn in
                try Self.applyQuarantines(txn, index, snapshot, wanted, liftIntact: !quick)
            }
        }
        // What GET answers an integrity error for now, and what is still a problem.
        let quarantined = repair ? Set(wanted.keys) : Set(snapshot.quarantine.keys)
        for (id, found) in damage.sorted(by: { $0.key < $1.key }) where !quarantined.contains(id) {
            switch found.reason {
            case .unreadableExtent: report.missing.append("blob \(id): \(found.detail)")
            default: report.damaged.append("blob \(id): \(found.detail)")
            }
        }
        report.quarantinedObjects = snapshot.objects.filter { quarantined.contains($0.blobID) }
            .map { "\($0.name.bucket)/\($0.name.key)" }.sorted()
        do {
            report = try await BlockingIO.runWaiting { [report] in
                var report = report
                try self.findOrphans(rados, referenced: Set(snapshot.blobs.values.flatMap { $0.extents.map(\.segmentID) }),
                                     queued: queued, deleteOlderThan: repair ? orphanAge : nil, into: &report)
                return report
            }
        } catch {
            throw StoreError.wrapping(error, "listing the cluster's RADOS objects")
        }
        let elapsed = ContinuousClock.now - started
        report.seconds = elapsed.seconds
        return report
    }

    private func findOrphans(_ rados: RadosBlobs, referenced: Set<UInt64>, queued: Set<UInt64>, deleteOlderThan age: Duration?,
                             into report: inout ClusterCheckReport) throws {
        let now = Int(Date().timeIntervalSince1970)
        var candidates: [(name: String, id: UInt64)] = []
        for name in try rados.pool.names(prefix: rados.prefix).sorted() {
            guard let id = rados.container(named: name), !referenced.contains(id), !queued.contains(id) else { continue }
            report.orphans.append(name)
            if let age, let found = try rados.pool.stat(name), now - found.modifiedSeconds >= Int(age.components.seconds) {
                candidates.append((name, id))
            }
        }
        guard !candidates.isEmpty else { return }
        // Still unreferenced now? A commit may have taken one since the snapshot. One scan
        // of the blob table for all of them.
        let ids = Set(candidates.map(\.id))
        let taken = try read { txn in try Self.referencedAmong(ids, txn, self.index) }
        for (name, id) in candidates where !taken.contains(id) {
            if try rados.pool.remove(name) { report.orphansDeleted.append(name) }
        }
    }

    /// Blob → why it must be quarantined: blobs with lost or damaged bytes, and every
    /// composite with such a piece (as a data directory's repair decides).
    static func quarantineTargets(_ snapshot: IndexSnapshot, _ damage: [UInt64: BlobDamage],
                                  now: Int64) -> [UInt64: QuarantineRecord] {
        var targets: [UInt64: QuarantineRecord] = [:]
        for (id, found) in damage {
            targets[id] = snapshot.quarantine[id] ?? QuarantineRecord(reason: found.reason, quarantinedMilliseconds: now, detail: found.detail)
        }
        for (id, blob) in snapshot.blobs where blob.isComposite {
            if let piece = blob.pieces.first(where: { damage[$0.blobID] != nil }), let found = damage[piece.blobID] {
                targets[id] = snapshot.quarantine[id]
                    ?? QuarantineRecord(reason: found.reason, quarantinedMilliseconds: now, detail: "in its part blob \(piece.blobID): \(found.detail)")
            }
        }
        return targets
    }

    /// Inside the repair's mutation: quarantines `wanted` blobs that still exist; removes
    /// quarantines of blobs that no longer exist; with `liftIntact` (every chunk was read),
    /// lifts those of blobs that verified intact. Returns what it did.
    private static func applyQuarantines(_ txn: borrowing WriteTransaction, _ index: Index, _ snapshot: IndexSnapshot,
                                         _ wanted: [UInt64: QuarantineRecord], liftIntact: Bool) throws -> [String] {
        var done: [String] = []
        for (id, record) in wanted.sorted(by: { $0.key < $1.key }) where try index.quarantine(txn, id) == nil {
            guard try index.blob(txn, id) != nil else { continue }   // released since the snapshot
            try txn.put(index.meta, QuarantineRecord.key(id), record.encoded())
            done.append("quarantined blob \(id): \(record.reason.text) (\(record.detail)); GET and HEAD of its keys answer an integrity error")
        }
        for (id, record) in snapshot.quarantine.sorted(by: { $0.key < $1.key }) where wanted[id] == nil {
            let exists = try index.blob(txn, id) != nil
            let named = snapshot.objects.contains { $0.blobID == id }
            if !exists && !named {
                try txn.delete(index.meta, QuarantineRecord.key(id))
                done.append("removed the quarantine of blob \(id), which no longer exists")
            } else if exists && liftIntact {
                try txn.delete(index.meta, QuarantineRecord.key(id))
                done.append("lifted the quarantine of blob \(id): it verifies intact now (quarantined for: \(record.reason.text))")
            }
        }
        return done
    }

    /// Checks one extent; what is wrong with it, if anything (and counts what verified).
    private static func check(_ extent: Extent, of blob: UInt64, chunkBytes: UInt64, in rados: RadosBlobs, quick: Bool,
                              into report: inout ClusterCheckReport) throws -> BlobDamage? {
        let name = rados.name(extent.segmentID)
        guard let found = try rados.pool.stat(name) else {
            return (.unreadableExtent, "RADOS object \(name) is missing")
        }
        guard found.size >= extent.offsetBytes + extent.lengthBytes else {
            return (.unreadableExtent, "RADOS object \(name) has \(found.size) bytes, the extent ends at \(extent.offsetBytes + extent.lengthBytes)")
        }
        guard !quick else { return nil }
        let buffer = OwnedBytes(count: Int(min(chunkBytes, extent.lengthBytes)))
        var damage: BlobDamage?
        for (index, hash) in extent.chunkHashes.enumerated() {
            let offset = extent.offsetBytes + UInt64(index) * chunkBytes
            let length = Int(min(chunkBytes, extent.lengthBytes - UInt64(index) * chunkBytes))
            let read = try rados.pool.read(name, into: UnsafeMutableRawBufferPointer(rebasing: buffer.bytes[..<length]), offset: offset)
            let bytes = UnsafeRawBufferPointer(rebasing: buffer.bytes[..<read])
            if read != length || XXH3.hash(bytes) != hash {
                damage = damage ?? (.corruptChunk, "RADOS object \(name), chunk at \(offset) (\(length) bytes) fails its checksum")
            } else {
                report.chunksVerified += 1
                report.bytesVerified += UInt64(length)
            }
        }
        return damage
    }

    /// Which of `ids` some blob's extents lie in, or a queued deletion names (one scan of
    /// the blob table).
    private static func referencedAmong(_ ids: Set<UInt64>, _ txn: borrowing ReadTransaction, _ index: Index) throws -> Set<UInt64> {
        var found = Set<UInt64>()
        try txn.scan(index.blobs, from: []) { _, value in
            for extent in try BlobRecord(decoding: value).extents where ids.contains(extent.segmentID) {
                found.insert(extent.segmentID)
            }
            return found.count < ids.count
        }
        for id in ids where try txn.get(RadosBlobs.deletions, IndexKey.id(id)) != nil { found.insert(id) }
        return found
    }
}
