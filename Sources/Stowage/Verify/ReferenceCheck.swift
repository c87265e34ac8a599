/// The index-only checks over one snapshot: what references what, and what each blob's
/// reference count must be. A data blob's count is the keys naming it, plus the composite
/// pieces and the upload-part pieces on it; a composite's is the keys naming it.
struct ReferenceCheck {
    let snapshot: IndexSnapshot
    private(set) var findings: [Finding] = []
    /// References counted to each existing (decodable or not) blob.
    private(set) var counted: [UInt64: UInt32] = [:]

    init(_ snapshot: IndexSnapshot) {
        self.snapshot = snapshot
        checkObjects()
        for (id, blob) in snapshot.blobs.sorted(by: { $0.key < $1.key }) where blob.isComposite {
            checkPieces(blob.pieces, composite: id)
        }
        checkParts()
        checkCounts()
        checkBlobCounter()
    }

    private func exists(_ id: UInt64) -> Bool {
        snapshot.blobs[id] != nil || snapshot.undecodableBlobs.contains(id)
    }

    private mutating func checkObjects() {
        for object in snapshot.objects {
            let (bucket, key) = (object.name.bucket, object.name.key)
            if !snapshot.buckets.contains(bucket) {
                findings.append(Finding(.objectWithoutBucket, "the key's bucket has no record", bucket: bucket, key: key))
            }
            guard object.blobID != 0 else {
                if object.size != 0 {
                    findings.append(Finding(.sizeMismatch, "the key says \(object.size) bytes but names the empty blob",
                                            bucket: bucket, key: key, blobID: 0))
                }
                continue
            }
            guard exists(object.blobID) else {
                findings.append(Finding(.danglingBlobReference, "the key names blob \(object.blobID), which does not exist",
                                        bucket: bucket, key: key, blobID: object.blobID))
                continue
            }
            counted[object.blobID, default: 0] += 1
            if let blob = snapshot.blobs[object.blobID], blob.size != object.size {
                findings.append(Finding(.sizeMismatch, "the key says \(object.size) bytes, its blob holds \(blob.size)",
                                        bucket: bucket, key: key, blobID: object.blobID))
            }
        }
    }

    /// Each piece holds one reference on its blob, valid or not (releasing the owner
    /// releases it either way).
    private mutating func checkPieces(_ pieces: [BlobPiece], composite: UInt64? = nil,
                                      upload: (id: String, part: Int)? = nil) {
        let owner = composite.map { "composite blob \($0)" } ?? "part \(upload!.part) of upload \(upload!.id)"
        for piece in pieces {
            guard exists(piece.blobID) else {
                var finding = Finding(.danglingPiece, "\(owner) has a piece on blob \(piece.blobID), which does not exist",
                                      blobID: composite, uploadID: upload?.id, partNumber: upload?.part)
                finding.otherBlobID = piece.blobID
                findings.append(finding)
                continue
            }
            counted[piece.blobID, default: 0] += 1
            guard let target = snapshot.blobs[piece.blobID] else { continue }
            let (end, overflow) = piece.offsetBytes.addingReportingOverflow(piece.lengthBytes)
            let problem: String? = target.isComposite ? "names composite blob \(piece.blobID) (pieces must be data blobs)"
                : (overflow || end > target.size) ? "covers bytes \(piece.offsetBytes)..<\(end) of blob \(piece.blobID), which holds \(target.size)"
                : nil
            if let problem {
                var finding = Finding(.invalidPiece, "\(owner): a piece \(problem)", blobID: composite,
                                      uploadID: upload?.id, partNumber: upload?.part)
                finding.otherBlobID = piece.blobID
                findings.append(finding)
            }
        }
    }

    private mutating func checkParts() {
        for part in snapshot.parts {
            if snapshot.uploads[part.uploadID] == nil {
                findings.append(Finding(.orphanedPart, "a part record whose upload does not exist",
                                        length: part.record.size, uploadID: part.uploadID, partNumber: part.number))
            }
            checkPieces(part.record.pieces, upload: (part.uploadID, part.number))
        }
    }

    private mutating func checkCounts() {
        for (id, blob) in snapshot.blobs.sorted(by: { $0.key < $1.key }) {
            let references = counted[id] ?? 0
            if references == 0 {
                findings.append(Finding(.unreferencedBlob, "no key, composite or upload part references this blob (stored count \(blob.referenceCount), \(blob.size) bytes)",
                                        blobID: id, length: blob.size))
            } else if references != blob.referenceCount {
                findings.append(Finding(.wrongReferenceCount, "stored reference count \(blob.referenceCount), counted \(references)",
                                        blobID: id))
            }
        }
    }

    private mutating func checkBlobCounter() {
        let highest = max(snapshot.blobs.keys.max() ?? 0, snapshot.undecodableBlobs.max() ?? 0)
        guard let next = snapshot.nextBlobID, highest > 0, highest >= next else { return }
        findings.append(Finding(.blobCounterBehind, "meta next-blob is \(next) but blob \(highest) exists: the next new blob would collide",
                                blobID: highest))
    }
}
