/// The last step of verification: findings about blobs that `repair` already quarantined
/// are known damage, folded into one `quarantinedObject` notice per key instead of being
/// reported as fresh problems; every other finding about a blob names the keys it affects.
///
/// A finding about blob S is known when S is quarantined and so is every composite with a
/// piece on S (keys name either S itself or such a composite, so every key reaching S
/// then answers GET and HEAD with an integrity error).
struct Resolution {
    private let snapshot: IndexSnapshot
    /// Data blob → the composites with a piece on it (only for blobs findings concern).
    private var compositesOver: [UInt64: [UInt64]] = [:]
    /// Blob → the keys naming it (only for blobs findings concern and their composites).
    private var keysNaming: [UInt64: [ObjectName]] = [:]
    /// Data blobs whose bytes are damaged, composites that are broken, keys' blobs whose
    /// size disagrees: a quarantine on these stays.
    private var damaged: Set<UInt64> = []

    init(_ snapshot: IndexSnapshot, _ findings: [Finding]) {
        self.snapshot = snapshot
        for finding in findings {
            switch finding.kind {
            case .chunkMismatch, .unreadableExtent, .danglingPiece, .invalidPiece, .sizeMismatch:
                if let id = finding.blobID { damaged.insert(id) }
            default: break
            }
        }
        let subjects = Set(findings.compactMap(Self.subject)).union(snapshot.quarantine.keys)
        var tops = subjects
        for (id, blob) in snapshot.blobs where blob.isComposite {
            for piece in Set(blob.pieces.map(\.blobID)) where subjects.contains(piece) {
                compositesOver[piece, default: []].append(id)
                tops.insert(id)
            }
        }
        for object in snapshot.objects where tops.contains(object.blobID) {
            keysNaming[object.blobID, default: []].append(object.name)
        }
    }

    /// The blob a finding is about, for the kinds a quarantine can cover (never the empty
    /// blob 0, which many keys share and none can quarantine).
    static func subject(_ finding: Finding) -> UInt64? {
        guard finding.blobID != 0 else { return nil }
        switch finding.kind {
        case .chunkMismatch, .unreadableExtent, .extentBeyondCapacity, .danglingBlobReference, .sizeMismatch,
             .overlappingExtents:
            return finding.blobID
        case .danglingPiece, .invalidPiece:
            return finding.uploadID == nil ? finding.blobID : nil
        default:
            return nil
        }
    }

    func isQuarantined(_ id: UInt64?) -> Bool { id.map { snapshot.quarantine[$0] != nil } ?? false }

    /// Every key whose bytes come (partly) from blob `id`.
    func keysReaching(_ id: UInt64) -> [ObjectName] {
        (keysNaming[id] ?? []) + (compositesOver[id] ?? []).flatMap { keysNaming[$0] ?? [] }
    }

    func isKnown(_ id: UInt64) -> Bool {
        isQuarantined(id) && (compositesOver[id] ?? []).allSatisfy { isQuarantined($0) }
    }

    /// Whether a quarantined blob verified intact (so `repair` may lift the quarantine).
    func isIntact(_ id: UInt64, fullScan: Bool) -> Bool {
        guard fullScan, let blob = snapshot.blobs[id], !damaged.contains(id) else { return false }
        return blob.pieces.allSatisfy { !damaged.contains($0.blobID) }
    }

    func resolve(_ findings: [Finding], fullScan: Bool) -> [Finding] {
        var kept: [Finding] = []
        for var finding in findings {
            if finding.kind == .overlappingExtents {
                if isQuarantined(finding.blobID) || isQuarantined(finding.otherBlobID) { continue }
                finding.affect(keysReaching(finding.blobID ?? 0))
            } else if let subject = Self.subject(finding) {
                if isKnown(subject) { continue }
                finding.affect(keysReaching(subject))
            }
            kept.append(finding)
        }
        // A missing file matters through the extents in it; quarantined ones are known.
        let unreadable = Set(kept.filter { $0.kind == .unreadableExtent }.compactMap(\.segmentID))
        kept.removeAll { $0.kind == .missingSegmentFile && !unreadable.contains($0.segmentID ?? 0) }
        kept += quarantineNotices(fullScan: fullScan)
        return kept.filter { $0.severity == .problem } + kept.filter { $0.severity == .notice }
    }

    private func quarantineNotices(fullScan: Bool) -> [Finding] {
        var notices: [Finding] = []
        for (id, record) in snapshot.quarantine.sorted(by: { $0.key < $1.key }) {
            let names = keysNaming[id] ?? []
            let exists = snapshot.blobs[id] != nil || snapshot.undecodableBlobs.contains(id)
            if names.isEmpty && !exists {
                notices.append(Finding(.staleQuarantine, "a quarantine entry for a blob that no longer exists; `repair` removes it",
                                       blobID: id))
                continue
            }
            let lift = isIntact(id, fullScan: fullScan) ? "; it verifies intact now, `repair` lifts the quarantine" : ""
            for name in names {
                notices.append(Finding(.quarantinedObject, "quarantined: \(record.reason.text) (\(record.detail))\(lift)",
                                       bucket: name.bucket, key: name.key, blobID: id))
            }
        }
        return notices
    }
}
