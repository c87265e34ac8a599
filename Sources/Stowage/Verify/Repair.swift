public struct RepairOptions: Sendable {
    /// Also reclaim orphaned space: delete segment files no index entry references (and
    /// this store is not filling), seal segments no longer appended to — their capacity
    /// above the high-water mark, stranded, becomes dead and so visible to compaction —
    /// and delete segment records with neither file nor extent. Bytes below a high-water
    /// mark that nothing references are already dead; nothing here truncates or punches a
    /// segment file (I5, I6).
    public var reclaimOrphans = false

    public init() {}
}

/// One change `repair` made.
public struct RepairAction: Sendable, Hashable, Encodable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable, Encodable {
        case createdBucket, removedPart, deletedUnreferencedBlob, setReferenceCount, quarantined, liftedQuarantine,
             removedStaleQuarantine, recordedSegmentLength, createdSegmentRecord, fixedSegmentAccounting,
             sealedSegment, deletedSegmentRecord, deletedSegmentFile, fixedBlobCounter, deletedUndecodableToken
    }

    public var kind: Kind
    public var message: String
    public var blobID: UInt64?
    public var segmentID: UInt64?
    public var uploadID: String?
    public var partNumber: Int?
    /// The keys the action concerns (for `quarantined`: the keys that now answer GET and
    /// HEAD with an integrity error).
    public var objects: [ObjectName] = []

    public var description: String {
        let keys = objects.isEmpty ? "" : " [\(objects.prefix(5).map(\.description).joined(separator: ", "))\(objects.count > 5 ? ", … \(objects.count) keys" : "")]"
        return "\(kind.rawValue): \(message)\(keys)"
    }
}

/// What `repair` did, and what it could not do.
public struct RepairReport: Sendable, Encodable {
    public var actions: [RepairAction]
    /// Problems no automatic repair can fix (undecodable records, intact extents that
    /// overlap): an operator must look at them.
    public var unrepaired: [Finding]
    /// Every key whose blob is quarantined after the repair.
    public var quarantinedObjects: [ObjectName]
}

extension ObjectStore {
    /// Repairs what `report` (a `verify` of this store) and a fresh look at the index in
    /// the repair's own write transaction find: reference counts and segment accounting
    /// are recomputed and rewritten; blobs whose bytes are damaged or missing are
    /// quarantined, so GET and HEAD of their keys answer `IntegrityError` at once; parts
    /// of unknown uploads, or with missing bytes, are removed; missing bucket and segment
    /// records are recreated. No key is ever deleted. One write transaction through the
    /// store's writer (other writes wait for it).
    ///
    /// With `reclaimOrphans`, no PUT or UploadPart may be in flight in this process unless
    /// it is the one filling the segment appends go to (the CLI repairs a directory it
    /// holds alone).
    public func repair(basedOn report: VerificationReport, options: RepairOptions = RepairOptions()) async throws(StoreError) -> RepairReport {
        try requireSegmentFiles("fsck --repair")
        let files = try SegmentDirectory.lengths(directory + "/" + Self.segmentsDirectoryName)
        var repairer = Repairer(index: index, files: files,
                                damage: report.scanDamage,
                                fullScan: !report.quick, reclaim: options.reclaimOrphans,
                                appendSegment: extents.openSegmentID, now: Self.nowMilliseconds())
        repairer = try await mutate { [repairer] txn in
            var working = repairer
            try working.run(txn)
            return working
        }
        var result = repairer.report
        for id in repairer.unknownFiles {
            do {
                guard try extents.retire(id) else { continue }
            } catch {
                throw error.storeError
            }
            result.actions.append(RepairAction(kind: .deletedSegmentFile, message: "deleted segment file \(SegmentFile.fileName(id)) (\(files[id] ?? 0) bytes), which no index entry references",
                                               segmentID: id))
        }
        return result
    }
}

/// The repair, run inside the write transaction on the writer thread.
struct Repairer: Sendable {
    let index: Index
    let files: [UInt64: UInt64]
    /// The byte scan's damage findings, quarantined or not.
    let damage: [Finding]
    let fullScan: Bool
    let reclaim: Bool
    let appendSegment: UInt64?
    let now: Int64
    private(set) var report = RepairReport(actions: [], unrepaired: [], quarantinedObjects: [])
    private(set) var unknownFiles: [UInt64] = []

    init(index: Index, files: [UInt64: UInt64], damage: [Finding], fullScan: Bool, reclaim: Bool,
         appendSegment: UInt64?, now: Int64) {
        self.index = index
        self.files = files
        self.damage = damage
        self.fullScan = fullScan
        self.reclaim = reclaim
        self.appendSegment = appendSegment
        self.now = now
    }

    mutating func run(_ txn: borrowing WriteTransaction) throws {
        let snapshot = try IndexSnapshot.load(txn, index, nowMilliseconds: now)
        let space = SpaceCheck(snapshot, files: files, appendSegment: nil, maxRanges: 0)
        let findings = snapshot.findings + ReferenceCheck(snapshot).findings + space.findings
            + damage.filter { Self.stillApplies($0, snapshot) }
        let keys = KeyMap(snapshot)
        try createBuckets(txn, findings)
        let removedParts = try removeParts(txn, findings)
        let deleted = try recount(txn, snapshot, removedParts: removedParts)
        try quarantine(txn, snapshot, findings, deleted: deleted, keys: keys)
        if snapshot.undecodableBlobs.isEmpty { try fixSegments(txn, snapshot, deleted: deleted) }
        try fixBlobCounter(txn, snapshot)
        for key in snapshot.undecodableTokenKeys {
            try txn.delete(index.tokens, key)
            act(.deletedUndecodableToken, "deleted token \(IndexSnapshot.printable(key)), whose record does not decode")
        }
        let quarantined = try Set(txn.scanKeys(index.meta, prefix: QuarantineRecord.keyPrefix).compactMap(QuarantineRecord.blobID(key:)))
        report.quarantinedObjects = snapshot.objects.filter { quarantined.contains($0.blobID) }.map(\.name)
        report.unrepaired = findings.filter { Self.isUnrepairable($0, quarantined: quarantined, blobsKnown: snapshot.undecodableBlobs.isEmpty) }
        if reclaim {
            unknownFiles = space.findings.filter { $0.kind == .unknownSegmentFile }.compactMap(\.segmentID)
        }
    }

    private mutating func act(_ kind: RepairAction.Kind, _ message: String, blobID: UInt64? = nil, segmentID: UInt64? = nil,
                              uploadID: String? = nil, partNumber: Int? = nil, objects: [ObjectName] = []) {
        report.actions.append(RepairAction(kind: kind, message: message, blobID: blobID, segmentID: segmentID,
                                           uploadID: uploadID, partNumber: partNumber, objects: objects))
    }

    /// Bytes the scan found damaged still belong to the same blob's extent.
    private static func stillApplies(_ finding: Finding, _ snapshot: IndexSnapshot) -> Bool {
        guard let id = finding.blobID, let blob = snapshot.blobs[id], let offset = finding.offset,
              let length = finding.length else { return false }
        return blob.extents.contains {
            $0.segmentID == finding.segmentID && $0.offsetBytes <= offset && offset + length <= $0.offsetBytes + $0.lengthBytes
        }
    }

    private static func isUnrepairable(_ finding: Finding, quarantined: Set<UInt64>, blobsKnown: Bool) -> Bool {
        switch finding.kind {
        case .undecodableRecord:
            return finding.table != "tokens" && !(finding.table == "meta" && finding.key == "next-blob")
        case .overlappingExtents:
            return !quarantined.contains(finding.blobID ?? 0) && !quarantined.contains(finding.otherBlobID ?? 0)
        case .sizeMismatch:
            return finding.blobID == 0
        case .wrongSegmentAccounting, .missingSegmentRecord:
            return !blobsKnown
        default:
            return false
        }
    }

    private mutating func createBuckets(_ txn: borrowing WriteTransaction, _ findings: [Finding]) throws {
        let missing = Set(findings.filter { $0.kind == .objectWithoutBucket }.compactMap(\.bucket))
        for bucket in missing.sorted() {
            try txn.put(index.buckets, Array(bucket.utf8), BucketRecord(createdMilliseconds: now).encoded(), noOverwrite: true)
            act(.createdBucket, "recreated the record of bucket \(bucket), which still holds keys")
        }
    }

    /// Parts of unknown uploads and parts with missing or invalid pieces: their upload
    /// cannot complete with them (the client uploads the part again).
    private mutating func removeParts(_ txn: borrowing WriteTransaction, _ findings: [Finding]) throws -> Set<[UInt8]> {
        var removed = Set<[UInt8]>()
        for finding in findings where [.orphanedPart, .danglingPiece, .invalidPiece].contains(finding.kind) {
            guard let upload = finding.uploadID, let number = finding.partNumber else { continue }
            let key = ObjectStore.partKey(upload, number)
            guard removed.insert(key).inserted else { continue }
            try txn.delete(index.uploads, key)
            act(.removedPart, "removed part \(number) of upload \(upload): \(finding.message)", uploadID: upload, partNumber: number)
        }
        return removed
    }

    /// Sets every blob's count to the references it has, deleting blobs left with none
    /// (and, for a composite, the references its pieces held). Returns the deleted ids.
    private mutating func recount(_ txn: borrowing WriteTransaction, _ snapshot: IndexSnapshot,
                                  removedParts: Set<[UInt8]>) throws -> Set<UInt64> {
        let exists = { (id: UInt64) in snapshot.blobs[id] != nil || snapshot.undecodableBlobs.contains(id) }
        var counts: [UInt64: UInt32] = [:]
        for object in snapshot.objects where object.blobID != 0 && exists(object.blobID) { counts[object.blobID, default: 0] += 1 }
        for blob in snapshot.blobs.values {
            for piece in blob.pieces where exists(piece.blobID) { counts[piece.blobID, default: 0] += 1 }
        }
        for part in snapshot.parts where !removedParts.contains(ObjectStore.partKey(part.uploadID, part.number)) {
            for piece in part.record.pieces where exists(piece.blobID) { counts[piece.blobID, default: 0] += 1 }
        }
        var deleted = Set<UInt64>()
        var queue = snapshot.blobs.keys.filter { (counts[$0] ?? 0) == 0 }
        while let id = queue.popLast() {
            guard let blob = snapshot.blobs[id], deleted.insert(id).inserted else { continue }
            for piece in blob.pieces where exists(piece.blobID) {
                counts[piece.blobID]! -= 1
                if counts[piece.blobID] == 0 { queue.append(piece.blobID) }
            }
        }
        for id in deleted.sorted() {
            try txn.delete(index.blobs, IndexKey.id(id))
            act(.deletedUnreferencedBlob, "deleted blob \(id), which nothing references (\(snapshot.blobs[id]!.size) bytes, now dead)", blobID: id)
        }
        for (id, blob) in snapshot.blobs.sorted(by: { $0.key < $1.key }) where !deleted.contains(id) {
            let count = counts[id] ?? 0
            guard count != blob.referenceCount else { continue }
            var fixed = blob
            fixed.referenceCount = count
            try txn.put(index.blobs, IndexKey.id(id), fixed.encoded())
            act(.setReferenceCount, "blob \(id): reference count \(blob.referenceCount) → \(count)", blobID: id)
        }
        return deleted
    }

    private mutating func quarantine(_ txn: borrowing WriteTransaction, _ snapshot: IndexSnapshot, _ findings: [Finding],
                                     deleted: Set<UInt64>, keys: KeyMap) throws {
        let wanted = Self.quarantineTargets(snapshot, findings, deleted: deleted, now: now)
        for (id, record) in wanted.sorted(by: { $0.key < $1.key }) where snapshot.quarantine[id] == nil {
            try txn.put(index.meta, QuarantineRecord.key(id), record.encoded())
            act(.quarantined, "blob \(id): \(record.reason.text) (\(record.detail)); GET and HEAD of its keys answer an integrity error",
                blobID: id, objects: keys.reaching(id))
        }
        for (id, record) in snapshot.quarantine.sorted(by: { $0.key < $1.key }) where wanted[id] == nil {
            let exists = (snapshot.blobs[id] != nil && !deleted.contains(id)) || snapshot.undecodableBlobs.contains(id)
            if !exists && keys.naming(id).isEmpty {
                try txn.delete(index.meta, QuarantineRecord.key(id))
                act(.removedStaleQuarantine, "removed the quarantine of blob \(id), which no longer exists", blobID: id)
            } else if fullScan && exists && snapshot.blobs[id] != nil {
                try txn.delete(index.meta, QuarantineRecord.key(id))
                act(.liftedQuarantine, "blob \(id) verifies intact now (quarantined for: \(record.reason.text))",
                    blobID: id, objects: keys.reaching(id))
            }
        }
    }

    /// Blob → why it must be quarantined: damaged data blobs and every composite over
    /// them, broken composites, missing blobs keys name, keys' blobs of the wrong size.
    private static func quarantineTargets(_ snapshot: IndexSnapshot, _ findings: [Finding],
                                          deleted: Set<UInt64>, now: Int64) -> [UInt64: QuarantineRecord] {
        var targets: [UInt64: QuarantineRecord] = [:]
        func mark(_ id: UInt64, _ reason: QuarantineRecord.Reason, _ detail: String) {
            guard id != 0, !deleted.contains(id), targets[id] == nil else { return }
            targets[id] = QuarantineRecord(reason: reason, quarantinedMilliseconds: now, detail: detail)
        }
        var damagedData: [UInt64: (QuarantineRecord.Reason, String)] = [:]
        for finding in findings {
            guard let id = finding.blobID else { continue }
            let place = "segment \(finding.segmentID ?? 0) offset \(finding.offset ?? 0), \(finding.length ?? 0) bytes"
            switch finding.kind {
            case .chunkMismatch: damagedData[id] = damagedData[id] ?? (.corruptChunk, place)
            case .unreadableExtent: damagedData[id] = damagedData[id] ?? (.unreadableExtent, place)
            case .danglingBlobReference: mark(id, .missingBlob, "blob \(id) is missing from the index")
            case .sizeMismatch: mark(id, .sizeMismatch, finding.message)
            case .danglingPiece, .invalidPiece:
                if finding.uploadID == nil { mark(id, .invalidPiece, finding.message) }
            default: break
            }
        }
        for (id, (reason, detail)) in damagedData { mark(id, reason, detail) }
        for (id, blob) in snapshot.blobs where blob.isComposite {
            if let piece = blob.pieces.first(where: { damagedData[$0.blobID] != nil }) {
                let (reason, detail) = damagedData[piece.blobID]!
                mark(id, reason, "in its part blob \(piece.blobID): \(detail)")
            }
        }
        return targets
    }

    /// Rewrites every segment record whose figures differ from the recomputed ones,
    /// creates missing records, records each file's real length as its capacity, and with
    /// `reclaim` seals segments no longer appended to and drops records of nothing.
    private mutating func fixSegments(_ txn: borrowing WriteTransaction, _ snapshot: IndexSnapshot, deleted: Set<UInt64>) throws {
        var extents: [UInt64: (live: UInt64, end: UInt64)] = [:]
        for (id, blob) in snapshot.blobs where !deleted.contains(id) {
            for extent in blob.extents {
                let current = extents[extent.segmentID] ?? (0, 0)
                extents[extent.segmentID] = (current.live + extent.lengthBytes, max(current.end, extent.offsetBytes + extent.lengthBytes))
            }
        }
        let appending: Set<UInt64> = Set([appendSegment, snapshot.lastOpenSegment].compactMap { $0 })
        let ids = Set(snapshot.segments.keys).union(extents.keys).subtracting(snapshot.undecodableSegments)
        for id in ids.sorted() {
            let (live, end) = extents[id] ?? (0, 0)
            guard let record = snapshot.segments[id] else {
                let capacity = max(files[id] ?? 0, end)
                let created = SegmentRecord(capacityBytes: capacity, highWaterBytes: end, liveBytes: live, deadBytes: end - min(live, end))
                try txn.put(index.segments, IndexKey.id(id), created.encoded())
                act(.createdSegmentRecord, "segment \(id): created its record (capacity \(capacity), live \(live))", segmentID: id)
                continue
            }
            if reclaim, files[id] == nil, extents[id] == nil, record.state != .retiring, !appending.contains(id) {
                try txn.delete(index.segments, IndexKey.id(id))
                act(.deletedSegmentRecord, "segment \(id): deleted its record, which had neither file nor extent", segmentID: id)
                continue
            }
            try fixSegment(txn, id, record, live: live, end: end, sealable: reclaim && !appending.contains(id))
        }
    }

    private mutating func fixSegment(_ txn: borrowing WriteTransaction, _ id: UInt64, _ record: SegmentRecord,
                                     live: UInt64, end: UInt64, sealable: Bool) throws {
        var fixed = record
        if let file = files[id], file != record.capacityBytes {
            fixed.capacityBytes = file
            act(.recordedSegmentLength, "segment \(id): capacity \(record.capacityBytes) → \(file), the file's real length", segmentID: id)
        }
        fixed.liveBytes = live
        fixed.highWaterBytes = max(record.highWaterBytes, end)
        fixed.deadBytes = fixed.highWaterBytes - min(live, fixed.highWaterBytes)
        if fixed.liveBytes != record.liveBytes || fixed.deadBytes != record.deadBytes || fixed.highWaterBytes != record.highWaterBytes {
            act(.fixedSegmentAccounting, "segment \(id): live \(record.liveBytes) → \(fixed.liveBytes), dead \(record.deadBytes) → \(fixed.deadBytes), high-water \(record.highWaterBytes) → \(fixed.highWaterBytes)",
                segmentID: id)
        }
        if sealable, files[id] != nil, fixed.highWaterBytes < fixed.capacityBytes {
            let stranded = fixed.capacityBytes - fixed.highWaterBytes
            fixed.highWaterBytes = fixed.capacityBytes
            fixed.deadBytes = fixed.highWaterBytes - min(live, fixed.highWaterBytes)
            fixed.state = .sealed
            act(.sealedSegment, "segment \(id): sealed; its \(stranded) stranded bytes above the high-water mark now count as dead", segmentID: id)
        }
        if fixed != record { try txn.put(index.segments, IndexKey.id(id), fixed.encoded()) }
    }

    private mutating func fixBlobCounter(_ txn: borrowing WriteTransaction, _ snapshot: IndexSnapshot) throws {
        let highest = max(snapshot.blobs.keys.max() ?? 0, snapshot.undecodableBlobs.max() ?? 0)
        let next = snapshot.nextBlobID
        guard next == nil || highest >= next! else { return }
        let fixed = max(highest + 1, next ?? 1)
        try txn.put(index.meta, Index.nextBlobKey, withUnsafeBytes(of: fixed.littleEndian) { Array($0) })
        act(.fixedBlobCounter, "meta next-blob \(next.map(String.init) ?? "undecodable") → \(fixed)")
    }
}

/// Which keys name which blob, and which composites are over which data blob.
struct KeyMap {
    private var naming: [UInt64: [ObjectName]] = [:]
    private var compositesOver: [UInt64: Set<UInt64>] = [:]

    init(_ snapshot: IndexSnapshot) {
        for object in snapshot.objects { naming[object.blobID, default: []].append(object.name) }
        for (id, blob) in snapshot.blobs where blob.isComposite {
            for piece in blob.pieces { compositesOver[piece.blobID, default: []].insert(id) }
        }
    }

    func naming(_ id: UInt64) -> [ObjectName] { naming[id] ?? [] }

    func reaching(_ id: UInt64) -> [ObjectName] {
        naming(id) + (compositesOver[id] ?? []).sorted().flatMap { naming($0) }
    }
}

extension IndexReading where Self: ~Copyable {
    /// The keys of `table` that start with `prefix`, copied.
    func scanKeys(_ table: Table, prefix: [UInt8]) throws -> [[UInt8]] {
        var keys: [[UInt8]] = []
        try scan(table, from: prefix) { key, _ in
            guard key.starts(with: prefix) else { return false }
            keys.append(Array(key))
            return true
        }
        return keys
    }
}
