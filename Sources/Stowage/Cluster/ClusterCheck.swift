import Foundation
import StowageChecksums

/// What `stowage fsck` finds in a cluster: every blob's RADOS objects exist and hold the
/// bytes their XXH3s promise; RADOS objects nothing references are listed as orphans.
public struct ClusterCheckReport: Sendable, Codable {
    public var objects = 0
    public var blobs = 0
    public var containers = 0
    public var chunksVerified = 0
    public var bytesVerified: UInt64 = 0
    /// Containers queued for deletion (released, within their grace).
    public var queuedDeletions = 0
    /// A blob's container is missing or shorter than its extents: those objects' bytes are lost.
    public var missing: [String] = []
    /// A chunk's bytes do not match its XXH3.
    public var damaged: [String] = []
    /// RADOS objects under the store's prefix that no blob references and no deletion is
    /// queued for: left by writers that never committed (a crash, an abandoned upload) —
    /// or, for a moment, by an upload in progress.
    public var orphans: [String] = []
    /// Orphans `repair` deleted (older than the age it was given).
    public var orphansDeleted: [String] = []
    public var seconds = 0.0

    /// No lost or damaged bytes (orphans are notices).
    public var isClean: Bool { missing.isEmpty && damaged.isEmpty }
}

extension ObjectStore {
    /// Verifies a cluster store: every blob record's containers, and unless `quick` every
    /// chunk's XXH3 read back from RADOS; lists orphan RADOS objects; with
    /// `deleteOrphansOlderThan`, deletes the orphans last modified longer ago than that
    /// (an upload in progress writes its objects moments before its commit).
    public func checkCluster(quick: Bool = false, deleteOrphansOlderThan: Duration? = nil) async throws(StoreError) -> ClusterCheckReport {
        guard let rados = blobs as? RadosBlobs else {
            throw StoreError(.notImplemented, "checkCluster needs a cluster store; fsck checks a data directory")
        }
        let started = ContinuousClock.now
        let snapshot = try await readOffLoop { [index] txn -> (objects: Int, blobs: [(UInt64, BlobRecord)], queued: Set<UInt64>) in
            var objects = 0
            try txn.scan(index.objects, from: []) { _, _ in objects += 1; return true }
            var blobs: [(UInt64, BlobRecord)] = []
            try txn.scan(index.blobs, from: []) { key, value in
                if let id = IndexKey.decodeID(key) { blobs.append((id, try BlobRecord(decoding: value))) }
                return true
            }
            var queued = Set<UInt64>()
            try txn.scan(RadosBlobs.deletions, from: []) { key, _ in
                if let id = IndexKey.decodeID(key) { queued.insert(id) }
                return true
            }
            return (objects, blobs, queued)
        }
        do {
            return try await BlockingIO.run {
                var report = ClusterCheckReport()
                report.objects = snapshot.objects
                report.blobs = snapshot.blobs.count
                report.queuedDeletions = snapshot.queued.count
                var referenced = Set<UInt64>()
                for (id, blob) in snapshot.blobs {
                    for extent in blob.extents {
                        referenced.insert(extent.segmentID)
                        try Self.check(extent, of: id, chunkBytes: UInt64(blob.chunkSizeBytes), in: rados, quick: quick, into: &report)
                    }
                }
                report.containers = referenced.count
                let now = Int(Date().timeIntervalSince1970)
                for name in try rados.pool.names(prefix: rados.prefix).sorted() {
                    guard let id = rados.container(named: name), !referenced.contains(id), !snapshot.queued.contains(id) else { continue }
                    report.orphans.append(name)
                    if let age = deleteOrphansOlderThan, let found = try rados.pool.stat(name),
                       now - found.modifiedSeconds >= Int(age.components.seconds) {
                        // Still unreferenced now? A commit may have taken it since the snapshot.
                        let stillOrphan = try self.read { txn in try !Self.isReferenced(id, txn, self.index) }
                        if stillOrphan, try rados.pool.remove(name) { report.orphansDeleted.append(name) }
                    }
                }
                let elapsed = ContinuousClock.now - started
                report.seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                return report
            }
        } catch {
            throw StoreError.wrapping(error, "checking the cluster")
        }
    }

    private static func check(_ extent: Extent, of blob: UInt64, chunkBytes: UInt64, in rados: RadosBlobs, quick: Bool,
                              into report: inout ClusterCheckReport) throws {
        let name = rados.name(extent.segmentID)
        guard let found = try rados.pool.stat(name) else {
            report.missing.append("blob \(blob): RADOS object \(name) is missing")
            return
        }
        guard found.size >= extent.offsetBytes + extent.lengthBytes else {
            report.missing.append("blob \(blob): RADOS object \(name) has \(found.size) bytes, the extent ends at \(extent.offsetBytes + extent.lengthBytes)")
            return
        }
        guard !quick else { return }
        let buffer = OwnedBytes(count: Int(min(chunkBytes, extent.lengthBytes)))
        for (index, hash) in extent.chunkHashes.enumerated() {
            let offset = extent.offsetBytes + UInt64(index) * chunkBytes
            let length = Int(min(chunkBytes, extent.lengthBytes - UInt64(index) * chunkBytes))
            let read = try rados.pool.read(name, into: UnsafeMutableRawBufferPointer(rebasing: buffer.bytes[..<length]), offset: offset)
            let bytes = UnsafeRawBufferPointer(rebasing: buffer.bytes[..<read])
            if read != length || XXH3.hash(bytes) != hash {
                report.damaged.append("blob \(blob): RADOS object \(name), chunk at \(offset) (\(length) bytes) fails its checksum")
            } else {
                report.chunksVerified += 1
                report.bytesVerified += UInt64(length)
            }
        }
    }

    /// Whether any blob's extents lie in container `id` (a scan of the blob table).
    private static func isReferenced(_ id: UInt64, _ txn: borrowing ReadTransaction, _ index: Index) throws -> Bool {
        var found = false
        try txn.scan(index.blobs, from: []) { _, value in
            found = try BlobRecord(decoding: value).extents.contains { $0.segmentID == id }
            return !found
        }
        if !found { found = try txn.get(RadosBlobs.deletions, IndexKey.id(id)) != nil }
        return found
    }
}
