/// A data blob's extent, as the space checks and the byte scan see it.
struct PlacedExtent {
    let blobID: UInt64
    let index: Int
    let extent: Extent
    let chunkSizeBytes: UInt32
    var end: UInt64 { extent.offsetBytes + extent.lengthBytes }
}

/// The checks of segments against their files and the extents in them: every extent inside
/// its file and its record's capacity, no two overlapping, live/dead/high-water equal to
/// the values recomputed from the blobs (I7), files and records that match, and the bytes
/// below each high-water mark that nothing references.
struct SpaceCheck {
    private(set) var findings: [Finding] = []
    private(set) var summaries: [SegmentSummary] = []
    /// Extents whose bytes lie inside their files: what the byte scan reads.
    private(set) var readable: [PlacedExtent] = []
    private(set) var liveBytes: UInt64 = 0
    private(set) var deadBytes: UInt64 = 0
    private(set) var orphanedBytes: UInt64 = 0
    private(set) var strandedBytes: UInt64 = 0
    private(set) var unknownSegmentBytes: UInt64 = 0

    /// - Parameters:
    ///   - files: segment id → the file's real length, for every file in `DATA/segments`.
    ///   - appendSegment: the segment appends go to (its tail is free space, not stranded).
    init(_ snapshot: IndexSnapshot, files: [UInt64: UInt64], appendSegment: UInt64?, maxRanges: Int) {
        var bySegment: [UInt64: [PlacedExtent]] = [:]
        for (id, blob) in snapshot.blobs where !blob.isComposite {
            for (i, extent) in blob.extents.enumerated() {
                bySegment[extent.segmentID, default: []].append(
                    PlacedExtent(blobID: id, index: i, extent: extent, chunkSizeBytes: blob.chunkSizeBytes))
            }
        }
        // With a blob unreadable, live bytes cannot be recomputed: accounting and orphan
        // checks would only repeat that finding.
        let accountingKnown = snapshot.undecodableBlobs.isEmpty
        let ids = Set(snapshot.segments.keys).union(files.keys).union(bySegment.keys).union(snapshot.undecodableSegments)
        for id in ids.sorted() {
            let extents = (bySegment[id] ?? []).sorted { ($0.extent.offsetBytes, $0.blobID) < ($1.extent.offsetBytes, $1.blobID) }
            check(id, record: snapshot.segments[id], undecodable: snapshot.undecodableSegments.contains(id),
                  file: files[id], extents: extents, isAppendSegment: id == appendSegment,
                  accountingKnown: accountingKnown, maxRanges: maxRanges)
        }
    }

    private mutating func check(_ id: UInt64, record: SegmentRecord?, undecodable: Bool, file: UInt64?,
                                extents: [PlacedExtent], isAppendSegment: Bool, accountingKnown: Bool, maxRanges: Int) {
        checkFileAndRecord(id, record: record, undecodable: undecodable, file: file, extents: extents)
        checkBounds(id, record: record, file: file, extents: extents)
        checkOverlaps(id, extents)
        let live = extents.reduce(0) { $0 + $1.extent.lengthBytes }
        liveBytes += live
        var summary = SegmentSummary(id: id, fileBytes: file, capacityBytes: record?.capacityBytes,
                                     highWaterBytes: record?.highWaterBytes,
                                     state: record.map { "\($0.state)" }, liveBytes: live, orphanedBytes: 0, strandedBytes: 0)
        guard let record, accountingKnown else { return summaries.append(summary) }
        let highWater = checkAccounting(id, record, live: live, extents: extents)
        deadBytes += highWater - min(live, highWater)
        if let file {
            summary.orphanedBytes = reportOrphans(id, below: min(highWater, file), extents: extents, maxRanges: maxRanges)
            if !isAppendSegment {
                let usable = min(record.capacityBytes, file)
                summary.strandedBytes = usable > highWater ? usable - highWater : 0
                strandedBytes += summary.strandedBytes
            }
        }
        summaries.append(summary)
    }

    private mutating func checkFileAndRecord(_ id: UInt64, record: SegmentRecord?, undecodable: Bool, file: UInt64?,
                                             extents: [PlacedExtent]) {
        let blobs = Set(extents.map(\.blobID)).count
        switch (file, record != nil || undecodable, extents.isEmpty) {
        case (nil, _, false):
            findings.append(Finding(.missingSegmentFile, "the file is missing; \(extents.count) extents of \(blobs) blobs lie in it",
                                    segmentID: id))
        case (nil, true, true):
            findings.append(Finding(.segmentRecordWithoutFile, "a segment record with no file and no extent in it", segmentID: id))
        case (let length?, false, true):
            unknownSegmentBytes += length
            findings.append(Finding(.unknownSegmentFile, "a segment file the index does not know (\(length) bytes); `repair` with reclaimOrphans deletes it",
                                    segmentID: id, length: length))
        default:
            break
        }
        if record == nil && !undecodable && !extents.isEmpty {
            findings.append(Finding(.missingSegmentRecord, "\(extents.count) extents of \(blobs) blobs lie in a segment with no record",
                                    segmentID: id))
        }
        if let record, let file, file < record.capacityBytes {
            findings.append(Finding(.truncatedSegmentFile, "the file has \(file) bytes, its record says \(record.capacityBytes)",
                                    segmentID: id, length: file))
        }
    }

    private mutating func checkBounds(_ id: UInt64, record: SegmentRecord?, file: UInt64?, extents: [PlacedExtent]) {
        for placed in extents {
            let e = placed.extent
            let problem: (Finding.Kind, String)? =
                file == nil ? (.unreadableExtent, "its segment file is missing")
                : placed.end > file! ? (.unreadableExtent, "it ends at \(placed.end), past the end of the segment file (\(file!) bytes)")
                : record.map({ placed.end > $0.capacityBytes }) == true
                    ? (.extentBeyondCapacity, "it ends at \(placed.end), past the segment's recorded capacity \(record!.capacityBytes)")
                : nil
            if let (kind, message) = problem {
                findings.append(Finding(kind, "extent \(placed.index) of the blob: \(message)", blobID: placed.blobID,
                                        segmentID: id, offset: e.offsetBytes, length: e.lengthBytes))
            }
            if file.map({ placed.end <= $0 }) == true { readable.append(placed) }
        }
    }

    /// Sorted by offset: an extent starting before the furthest end so far overlaps.
    private mutating func checkOverlaps(_ id: UInt64, _ extents: [PlacedExtent]) {
        var furthest: PlacedExtent?
        for placed in extents {
            if let previous = furthest, placed.extent.offsetBytes < previous.end {
                var finding = Finding(.overlappingExtents,
                                      "blob \(placed.blobID) and blob \(previous.blobID) both claim these bytes",
                                      blobID: placed.blobID, segmentID: id, offset: placed.extent.offsetBytes,
                                      length: min(previous.end, placed.end) - placed.extent.offsetBytes)
                finding.otherBlobID = previous.blobID
                findings.append(finding)
            }
            if placed.end > (furthest?.end ?? 0) { furthest = placed }
        }
    }

    /// I7: live = Σ extent lengths, high-water ≥ the furthest extent end, dead = high-water − live.
    /// Returns the high-water mark the accounting should have.
    private mutating func checkAccounting(_ id: UInt64, _ record: SegmentRecord, live: UInt64,
                                          extents: [PlacedExtent]) -> UInt64 {
        let highWater = max(record.highWaterBytes, extents.map(\.end).max() ?? 0)
        let dead = highWater - min(live, highWater)
        if record.liveBytes != live || record.deadBytes != dead || record.highWaterBytes != highWater {
            findings.append(Finding(.wrongSegmentAccounting,
                                    "stored live \(record.liveBytes), dead \(record.deadBytes), high-water \(record.highWaterBytes); recomputed live \(live), dead \(dead), high-water \(highWater)",
                                    segmentID: id))
        }
        return highWater
    }

    /// The gaps between extents below `limit`, as one notice. Returns their total.
    private mutating func reportOrphans(_ id: UInt64, below limit: UInt64, extents: [PlacedExtent], maxRanges: Int) -> UInt64 {
        var gaps: [ByteRun] = []
        var (total, count): (UInt64, Int) = (0, 0)
        var position: UInt64 = 0
        func gap(upTo start: UInt64) {
            guard start > position else { return }
            total += start - position
            count += 1
            if gaps.count < maxRanges { gaps.append(ByteRun(offset: position, length: start - position)) }
        }
        for placed in extents {
            gap(upTo: min(placed.extent.offsetBytes, limit))
            position = max(position, placed.end)
        }
        gap(upTo: limit)
        guard total > 0 else { return 0 }
        orphanedBytes += total
        var finding = Finding(.orphanedBytes,
                              "\(total) bytes in \(count) range\(count == 1 ? "" : "s") below the high-water mark that no extent references (deleted objects, aborted uploads, writes whose commit never happened); already counted dead, compaction reclaims them",
                              segmentID: id, offset: gaps.first?.offset, length: total)
        finding.ranges = gaps
        findings.append(finding)
        return total
    }
}
