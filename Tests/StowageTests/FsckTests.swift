import Foundation
import Glibc
import StowageChecksums
import Synchronization
import Testing
@testable import Stowage

/// `verify` and `repair` (issue 5): each kind of damage injected into a real data
/// directory is reported exactly — kind and location, nothing else — `repair` does what
/// it says, intact objects read back byte for byte, and the next verification is clean.
/// Stores use 8 MiB segments and 64 KiB chunks (TestSupport.swift).
@Suite struct FsckTests {
    static let chunk: UInt64 = 64 << 10

    // MARK: A healthy store

    @Test func healthyStoreHasNoFindings() async throws {
        try await withTemporaryStore { store, _ in
            let objects = try await populate(store)
            let report = try await store.verify()
            #expect(report.findings.isEmpty, "\(report.findings)")
            #expect(report.isClean && !report.quick && !report.live)
            let s = report.statistics
            #expect(s.buckets == 2)
            #expect(s.objects == objects.count)
            #expect(s.compositeBlobs == 1)
            #expect(s.uploads == 2 && s.parts == 2)
            #expect(s.tokens == 1 && s.expiredTokens == 0)
            #expect(s.completions == 1)  // the completed upload's answer, kept for retries
            #expect(s.bytesVerified == s.bytesToVerify && s.bytesVerified == s.liveBytes)
            #expect(s.bytesVerified == 300_000 + 1 + 150_000 + 110_000 + 120_000 + 5_000)
            #expect(s.chunksVerified == 5 + 1 + 3 + 2 + 2 + 1)
            #expect(s.deadBytes == 0 && s.orphanedBytes == 0)
            var quick = VerifyOptions()
            quick.quick = true
            let quickReport = try await store.verify(quick)
            #expect(quickReport.findings.isEmpty && quickReport.quick)
            #expect(quickReport.statistics.bytesVerified == 0)
            try await expectIntact(store, objects)
        }
    }

    // MARK: One kind of damage at a time

    @Test func flippedByteIsOneChunkMismatchAndGetsQuarantined() async throws {
        try await withTemporaryStore { store, directory in
            try await store.createBucket("bkt")
            let victim = testBytes(300_000, seed: 1), bystander = testBytes(200_000, seed: 2)
            try await store.put("bkt", "victim", victim)
            try await store.put("bkt", "bystander", bystander)
            _ = try await store.copyObject(CopyRequest(sourceBucket: "bkt", sourceKey: "victim", bucket: "bkt", key: "copy"))
            let id = try blobID(store, "bkt", "victim")
            let extent = try blob(store, id).extents[0]
            try flipByte(directory, segment: extent.segmentID, at: extent.offsetBytes + 70_000)

            #expect(try await store.verify(quickOptions()).findings.isEmpty, "the index alone cannot see bytes")
            let report = try await store.verify()
            let finding = try only(report)
            #expect(finding.kind == .chunkMismatch && finding.severity == .problem)
            #expect(finding.blobID == id && finding.segmentID == extent.segmentID)
            #expect(finding.offset == extent.offsetBytes + Self.chunk && finding.length == Self.chunk)
            #expect(Set(finding.objects) == [name("bkt", "victim"), name("bkt", "copy")])
            #expect(finding.bucket == "bkt" && ["victim", "copy"].contains(finding.key ?? ""))
            #expect(!report.isClean)

            let repair = try await store.repair(basedOn: report)
            #expect(repair.actions.map(\.kind) == [.quarantined])
            #expect(repair.actions.first?.blobID == id)
            #expect(Set(repair.quarantinedObjects) == [name("bkt", "victim"), name("bkt", "copy")])
            #expect(repair.unrepaired.isEmpty)
            // GET and HEAD answer at once, before any byte; the bystander is untouched.
            await expectStoreError(.integrity) { _ = try store.headObject(bucket: "bkt", key: "victim") }
            await expectStoreError(.integrity) { _ = try store.getObject(bucket: "bkt", key: "copy") }
            #expect(try await store.bytes("bkt", "bystander") == bystander)
            // Never deletes a key.
            #expect(try store.keys("bkt") == ["bystander", "copy", "victim"])

            let after = try await store.verify()
            #expect(after.isClean)
            #expect(after.findings.map(\.kind) == [.quarantinedObject, .quarantinedObject])
            #expect(Set(after.findings.map { name($0.bucket!, $0.key!) }) == [name("bkt", "victim"), name("bkt", "copy")])

            // The operator deletes the damaged keys; the quarantine entry is then stale.
            try await store.deleteObject(bucket: "bkt", key: "victim")
            try await store.deleteObject(bucket: "bkt", key: "copy")
            let stale = try await store.verify()
            #expect(Set(stale.findings.map(\.kind)) == [.staleQuarantine, .orphanedBytes] && stale.isClean)
            #expect(try await store.repair(basedOn: stale).actions.map(\.kind) == [.removedStaleQuarantine])
            #expect(try await store.verify().findings.map(\.kind) == [.orphanedBytes])
            #expect(try await store.bytes("bkt", "bystander") == bystander)
        }
    }

    @Test func truncatedSegmentLosesOnlyTheExtentsPastItsEnd() async throws {
        try await withDataDirectory { directory in
            let first = testBytes(200_000, seed: 3), second = testBytes(200_000, seed: 4)
            do {
                let store = try openStore(directory)
                defer { store.close() }
                try await store.createBucket("bkt")
                try await store.put("bkt", "first", first)
                try await store.put("bkt", "second", second)
            }
            #expect(truncate(segmentPath(directory, 1), 300_000) == 0)
            let store = try openStore(directory)
            defer { store.close() }
            let secondBlob = try blobID(store, "bkt", "second")

            let report = try await store.verify()
            #expect(report.findings.count == 2, "\(report.findings)")
            let truncated = try #require(report.findings.first { $0.kind == .truncatedSegmentFile })
            #expect(truncated.segmentID == 1 && truncated.length == 300_000)
            let lost = try #require(report.findings.first { $0.kind == .unreadableExtent })
            #expect(lost.blobID == secondBlob && lost.segmentID == 1 && lost.offset == 200_000 && lost.length == 200_000)
            #expect(lost.bucket == "bkt" && lost.key == "second")

            let repair = try await store.repair(basedOn: report)
            #expect(Set(repair.actions.map(\.kind)) == [.quarantined, .recordedSegmentLength])
            #expect(try segmentRecord(store, 1).capacityBytes == 300_000)
            await expectStoreError(.integrity) { _ = try store.getObject(bucket: "bkt", key: "second") }
            #expect(try await store.bytes("bkt", "first") == first)
            #expect(try await store.verify().findings.map(\.kind) == [.quarantinedObject])
            // The store writes on, in a new segment.
            let third = testBytes(50_000, seed: 5)
            try await store.put("bkt", "third", third)
            #expect(try await store.bytes("bkt", "third") == third)
            #expect(try await store.verify().findings.map(\.kind) == [.quarantinedObject])
        }
    }

    @Test func missingSegmentFileLosesExactlyTheObjectsInIt() async throws {
        try await withDataDirectory { directory in
            let a = testBytes(3_000_000, seed: 6), b = testBytes(3_000_000, seed: 7)
            let c = testBytes(4_000_000, seed: 8), d = testBytes(100_000, seed: 9)
            do {
                let store = try openStore(directory)
                defer { store.close() }
                try await store.createBucket("bkt")
                for (key, bytes) in [("a", a), ("b", b), ("c", c), ("d", d)] { try await store.put("bkt", key, bytes) }
                #expect(try blob(store, try blobID(store, "bkt", "c")).extents.map(\.segmentID) == [1, 2], "c spans both segments")
            }
            try FileManager.default.removeItem(atPath: segmentPath(directory, 1))
            let store = try openStore(directory)
            defer { store.close() }
            let lostBlobs = try Set(["a", "b", "c"].map { try blobID(store, "bkt", $0) })

            let report = try await store.verify()
            #expect(report.findings.count == 4, "\(report.findings)")
            #expect(report.findings.filter { $0.kind == .missingSegmentFile }.map(\.segmentID) == [1])
            let lost = report.findings.filter { $0.kind == .unreadableExtent }
            #expect(Set(lost.compactMap(\.blobID)) == lostBlobs && lost.allSatisfy { $0.segmentID == 1 })
            #expect(Set(lost.compactMap(\.key)) == ["a", "b", "c"])
            #expect(lost.first { $0.key == "b" }?.offset == 3_000_000)

            let repair = try await store.repair(basedOn: report)
            #expect(repair.actions.map(\.kind) == [.quarantined, .quarantined, .quarantined])
            #expect(Set(repair.quarantinedObjects.map(\.key)) == ["a", "b", "c"])
            for key in ["a", "b", "c"] {
                await expectStoreError(.integrity) { _ = try store.getObject(bucket: "bkt", key: key) }
            }
            #expect(try await store.bytes("bkt", "d") == d)
            let after = try await store.verify()
            #expect(after.isClean && after.findings.map(\.kind) == [.quarantinedObject, .quarantinedObject, .quarantinedObject])
        }
    }

    @Test func wrongReferenceCountIsResetToTheReferencesCounted() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            let body = testBytes(100_000)
            try await store.put("bkt", "a", body)
            _ = try await store.copyObject(CopyRequest(sourceBucket: "bkt", sourceKey: "a", bucket: "bkt", key: "b"))
            let id = try blobID(store, "bkt", "a")
            try await editBlob(store, id) { $0.referenceCount = 5 }

            let report = try await store.verify()
            let finding = try only(report)
            #expect(finding.kind == .wrongReferenceCount && finding.blobID == id)
            #expect(finding.message.contains("stored reference count 5, counted 2"))

            let repair = try await store.repair(basedOn: report)
            #expect(repair.actions.map(\.kind) == [.setReferenceCount] && repair.actions[0].blobID == id)
            #expect(try blob(store, id).referenceCount == 2)
            #expect(try await store.verify().findings.isEmpty)
            // With the count right, the last delete frees the bytes.
            try await store.deleteObject(bucket: "bkt", key: "a")
            #expect(try await store.bytes("bkt", "b") == body)
            try await store.deleteObject(bucket: "bkt", key: "b")
            #expect(try store.read { txn in try store.index.blob(txn, id) } == nil)
            #expect(try segmentRecord(store, 1).liveBytes == 0)
        }
    }

    @Test func danglingBlobReferenceIsQuarantinedAndTheKeyKept() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            let body = testBytes(70_000)
            try await store.put("bkt", "a", body)
            let ghost = ObjectRecord(blobID: 999_999, size: 10, etag: "0123", lastModifiedMilliseconds: 0, partCount: 0,
                                     attributes: ObjectAttributes())
            _ = try await store.mutate { [index = store.index] txn in try index.putObject(txn, bucket: "bkt", key: "ghost", ghost) }

            let report = try await store.verify()
            let finding = try only(report)
            #expect(finding.kind == .danglingBlobReference && finding.bucket == "bkt" && finding.key == "ghost")
            #expect(finding.blobID == 999_999)

            let repair = try await store.repair(basedOn: report)
            #expect(repair.actions.map(\.kind) == [.quarantined] && repair.actions[0].objects == [name("bkt", "ghost")])
            await expectStoreError(.integrity) { _ = try store.headObject(bucket: "bkt", key: "ghost") }
            await expectStoreError(.integrity) { _ = try store.getObject(bucket: "bkt", key: "ghost") }
            #expect(try store.keys("bkt") == ["a", "ghost"])
            #expect(try await store.bytes("bkt", "a") == body)
            #expect(try await store.verify().findings.map(\.kind) == [.quarantinedObject])
            // The key can be deleted although its blob never existed.
            try await store.deleteObject(bucket: "bkt", key: "ghost")
            let stale = try await store.verify()
            #expect(stale.findings.map(\.kind) == [.staleQuarantine])
            _ = try await store.repair(basedOn: stale)
            #expect(try await store.verify().findings.isEmpty)
        }
    }

    @Test func wrongSegmentCountIsRecomputed() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            try await store.put("bkt", "a", testBytes(100_000))
            try await store.put("bkt", "b", testBytes(30_000))
            _ = try await store.mutate { [index = store.index] txn in
                var record = try index.segment(txn, 1)!
                record.liveBytes += 1000
                try txn.put(index.segments, IndexKey.id(1), record.encoded())
            }

            let report = try await store.verify()
            let finding = try only(report)
            #expect(finding.kind == .wrongSegmentAccounting && finding.segmentID == 1)
            #expect(finding.message.contains("stored live 131000") && finding.message.contains("recomputed live 130000"))

            let repair = try await store.repair(basedOn: report)
            #expect(repair.actions.map(\.kind) == [.fixedSegmentAccounting])
            let record = try segmentRecord(store, 1)
            #expect(record.liveBytes == 130_000 && record.deadBytes == 0 && record.highWaterBytes == 130_000)
            #expect(try await store.verify().findings.isEmpty)
        }
    }

    /// Bytes written and never committed (here: an aborted upload, then a PUT past them)
    /// are orphans: reported with their place and size, already counted dead.
    @Test func orphanExtentIsReportedAsDeadSpace() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            let a = testBytes(100_000, seed: 10), b = testBytes(100_000, seed: 11)
            try await store.put("bkt", "a", a)
            let writer = try store.beginPut(PutRequest(bucket: "bkt", key: "aborted", sizeHint: 150_000))
            try await writer.write(testBytes(150_000, seed: 12))
            await writer.abort()
            try await store.put("bkt", "b", b)
            let bStart = try blob(store, try blobID(store, "bkt", "b")).extents[0].offsetBytes
            #expect(bStart == 100_000 + 2 * Self.chunk, "the two full chunks written stay reserved")

            let report = try await store.verify()
            let finding = try only(report)
            #expect(finding.kind == .orphanedBytes && finding.severity == .notice && report.isClean)
            #expect(finding.segmentID == 1 && finding.offset == 100_000 && finding.length == 2 * Self.chunk)
            #expect(finding.ranges == [ByteRun(offset: 100_000, length: 2 * Self.chunk)])
            #expect(report.statistics.orphanedBytes == 2 * Self.chunk)
            #expect(try segmentRecord(store, 1).deadBytes == 2 * Self.chunk, "already counted dead (I7)")

            var reclaim = RepairOptions()
            reclaim.reclaimOrphans = true
            let repair = try await store.repair(basedOn: report, options: reclaim)
            #expect(repair.actions.isEmpty, "nothing to record: the bytes are dead already")
            #expect(try segmentRecord(store, 1).deadBytes == 2 * Self.chunk)
            try await expectIntact(store, [("bkt", "a", a), ("bkt", "b", b)])
            let after = try await store.verify()
            #expect(after.isClean && after.findings.map(\.kind) == [.orphanedBytes])
        }
    }

    @Test func unknownSegmentFileIsDeletedOnlyWhenReclaiming() async throws {
        try await withTemporaryStore { store, directory in
            try await store.createBucket("bkt")
            let a = testBytes(50_000)
            try await store.put("bkt", "a", a)
            let stray = segmentPath(directory, 99)
            #expect(FileManager.default.createFile(atPath: stray, contents: nil))
            #expect(truncate(stray, 1 << 20) == 0)

            let report = try await store.verify()
            let finding = try only(report)
            #expect(finding.kind == .unknownSegmentFile && finding.segmentID == 99 && finding.length == 1 << 20)
            #expect(report.isClean && report.statistics.unknownSegmentBytes == 1 << 20)

            #expect(try await store.repair(basedOn: report).actions.isEmpty)
            #expect(FileManager.default.fileExists(atPath: stray))
            var reclaim = RepairOptions()
            reclaim.reclaimOrphans = true
            let repair = try await store.repair(basedOn: report, options: reclaim)
            #expect(repair.actions.map(\.kind) == [.deletedSegmentFile] && repair.actions[0].segmentID == 99)
            #expect(!FileManager.default.fileExists(atPath: stray))
            #expect(try await store.verify().findings.isEmpty)
            #expect(try await store.bytes("bkt", "a") == a)
        }
    }

    /// A segment no longer appended to keeps a tail above its high-water mark that nobody
    /// will ever use: reclaiming seals it, so the tail counts as dead (and compaction sees it).
    @Test func reclaimingSealsStrandedSegmentTails() async throws {
        try await withDataDirectory { directory in
            let capacity: UInt64 = 8 << 20
            let a = testBytes(3_000_000, seed: 13), b = testBytes(5_000_000, seed: 14), c = testBytes(1_000_000, seed: 15)
            do {
                let store = try openStore(directory)
                defer { store.close() }
                try await store.createBucket("bkt")
                for (key, bytes) in [("a", a), ("b", b), ("c", c)] { try await store.put("bkt", key, bytes) }
                // a and b fill 8,000,000 bytes; c gets the whole chunks left, then moves on.
                let stranded = capacity - (8_000_000 + (capacity - 8_000_000) / Self.chunk * Self.chunk)
                let report = try await store.verify()
                #expect(report.findings.isEmpty, "\(report.findings)")
                #expect(report.statistics.strandedBytes == stranded)

                var reclaim = RepairOptions()
                reclaim.reclaimOrphans = true
                let repair = try await store.repair(basedOn: report, options: reclaim)
                #expect(repair.actions.map(\.kind) == [.sealedSegment] && repair.actions[0].segmentID == 1)
                let record = try segmentRecord(store, 1)
                #expect(record.state == .sealed && record.highWaterBytes == capacity && record.deadBytes == stranded)
                // The tail is now below the high-water mark: dead space, reported as such.
                let after = try await store.verify()
                let dead = try only(after)
                #expect(dead.kind == .orphanedBytes && dead.segmentID == 1)
                #expect(dead.offset == capacity - stranded && dead.length == stranded)
                #expect(after.statistics.strandedBytes == 0 && after.statistics.deadBytes == stranded)
            }
            // Reopened, appends resume in the last (open) segment, not the sealed one.
            let store = try openStore(directory)
            defer { store.close() }
            let d = testBytes(10_000, seed: 16)
            try await store.put("bkt", "d", d)
            #expect(try blob(store, try blobID(store, "bkt", "d")).extents.map(\.segmentID) == [2])
            try await expectIntact(store, [("bkt", "a", a), ("bkt", "b", b), ("bkt", "c", c), ("bkt", "d", d)])
            #expect(try await store.verify().findings.map(\.kind) == [.orphanedBytes])
        }
    }

    // MARK: Multipart uploads

    @Test func brokenUploadPartsAreRemovedAndDamagedPartsQuarantineTheirObject() async throws {
        try await withTemporaryStore { store, directory in
            try await store.createBucket("bkt")
            let part1 = testBytes(150_000, seed: 20), part2 = testBytes(60_000, seed: 21)
            let mp = try await upload(store, "mp", [part1, part2])
            _ = try await store.completeMultipartUpload(bucket: "bkt", key: "mp", uploadID: mp.id, parts: mp.etags)
            let orphan = try await upload(store, "pending", [testBytes(120_000, seed: 22)])
            let dangling = try await upload(store, "dangling", [testBytes(70_000, seed: 23)])
            #expect(try await store.verify().findings.isEmpty)

            // An upload record lost; a part's blob lost (so its bytes are unaccounted too).
            let danglingBlob = try await partBlob(store, dangling.id, 1)
            _ = try await store.mutate { [index = store.index] txn in
                try txn.delete(index.uploads, Array(orphan.id.utf8))
                try txn.delete(index.blobs, IndexKey.id(danglingBlob))
            }
            let report = try await store.verify()
            // The lost blob's bytes are also no longer referenced by anything: orphaned.
            #expect(Set(report.findings.map(\.kind)) == [.orphanedPart, .danglingPiece, .wrongSegmentAccounting, .orphanedBytes],
                    "\(report.findings)")
            #expect(report.findings.count == 4)
            let orphaned = try #require(report.findings.first { $0.kind == .orphanedPart })
            #expect(orphaned.uploadID == orphan.id && orphaned.partNumber == 1)
            let piece = try #require(report.findings.first { $0.kind == .danglingPiece })
            #expect(piece.uploadID == dangling.id && piece.partNumber == 1 && piece.otherBlobID == danglingBlob)

            let repair = try await store.repair(basedOn: report)
            #expect(repair.actions.map(\.kind) == [.removedPart, .removedPart, .deletedUnreferencedBlob, .fixedSegmentAccounting])
            let afterParts = try await store.verify()
            #expect(afterParts.isClean && afterParts.findings.map(\.kind) == [.orphanedBytes])
            #expect(try await store.bytes("bkt", "mp") == part1 + part2)

            // Damage inside a completed object's part: the composite is quarantined too.
            let firstPiece = try blob(store, try blobID(store, "bkt", "mp")).pieces[0].blobID
            let extent = try blob(store, firstPiece).extents[0]
            try flipByte(directory, segment: extent.segmentID, at: extent.offsetBytes + 5)
            let damaged = try await store.verify()
            let mismatch = try #require(damaged.problems.first)
            #expect(damaged.problems.count == 1 && mismatch.kind == .chunkMismatch && mismatch.blobID == firstPiece)
            #expect(mismatch.objects == [name("bkt", "mp")] && mismatch.offset == extent.offsetBytes)
            let quarantine = try await store.repair(basedOn: damaged)
            #expect(quarantine.actions.map(\.kind) == [.quarantined, .quarantined])
            #expect(Set(quarantine.actions.compactMap(\.blobID)) == [firstPiece, try blobID(store, "bkt", "mp")])
            await expectStoreError(.integrity) { _ = try store.headObject(bucket: "bkt", key: "mp") }
            #expect(Set(try await store.verify().findings.map(\.kind)) == [.quarantinedObject, .orphanedBytes])
        }
    }

    // MARK: Records

    @Test func undecodableRecordsAreReportedWithoutCascade() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("bkt")
            let a = testBytes(90_000)
            try await store.put("bkt", "a", a)
            _ = try await store.mutate { [index = store.index] txn in try txn.put(index.tokens, Array("tok".utf8), [9, 1, 2]) }
            let report = try await store.verify()
            let token = try only(report)
            #expect(token.kind == .undecodableRecord && token.table == "tokens" && token.key == "tok")
            #expect(token.message.contains("unknown format version 9"))
            #expect(try await store.repair(basedOn: report).actions.map(\.kind) == [.deletedUndecodableToken])
            #expect(try await store.verify().findings.isEmpty)

            // A blob record of an unknown version: reported once; its key and its segment's
            // accounting are not reported again; repair leaves it to an operator.
            let id = try blobID(store, "bkt", "a")
            _ = try await store.mutate { [index = store.index] txn in try txn.put(index.blobs, IndexKey.id(id), [7]) }
            let broken = try await store.verify()
            let record = try only(broken)
            #expect(record.kind == .undecodableRecord && record.table == "blobs" && record.blobID == id)
            let repair = try await store.repair(basedOn: broken)
            #expect(repair.actions.isEmpty && repair.unrepaired.map(\.kind) == [.undecodableRecord])
        }
    }

    // MARK: Every problem, not the first

    @Test func reportsEveryProblemAtOnce() async throws {
        try await withTemporaryStore { store, directory in
            try await store.createBucket("bkt")
            let corrupt = testBytes(100_000, seed: 30), counted = testBytes(80_000, seed: 31), fine = testBytes(60_000, seed: 32)
            try await store.put("bkt", "corrupt", corrupt)
            try await store.put("bkt", "counted", counted)
            try await store.put("bkt", "fine", fine)
            let corruptExtent = try blob(store, try blobID(store, "bkt", "corrupt")).extents[0]
            try flipByte(directory, segment: 1, at: corruptExtent.offsetBytes + 99_000)
            try await editBlob(store, try blobID(store, "bkt", "counted")) { $0.referenceCount = 3 }
            let ghost = ObjectRecord(blobID: 424_242, size: 1, etag: "x", lastModifiedMilliseconds: 0, partCount: 0, attributes: ObjectAttributes())
            _ = try await store.mutate { [index = store.index] txn in
                try index.putObject(txn, bucket: "bkt", key: "ghost", ghost)
                var record = try index.segment(txn, 1)!
                record.deadBytes = 12_345
                try txn.put(index.segments, IndexKey.id(1), record.encoded())
            }

            let report = try await store.verify()
            #expect(report.findings.count == 4, "\(report.findings)")
            #expect(Set(report.findings.map(\.kind)) == [.chunkMismatch, .wrongReferenceCount, .danglingBlobReference, .wrongSegmentAccounting])
            #expect(report.findings.first { $0.kind == .chunkMismatch }?.key == "corrupt")
            #expect(report.findings.first { $0.kind == .chunkMismatch }?.offset == corruptExtent.offsetBytes + Self.chunk)
            #expect(report.findings.first { $0.kind == .danglingBlobReference }?.key == "ghost")

            let repair = try await store.repair(basedOn: report)
            #expect(repair.unrepaired.isEmpty)
            #expect(Set(repair.actions.map(\.kind)) == [.quarantined, .setReferenceCount, .fixedSegmentAccounting])
            let after = try await store.verify()
            #expect(after.isClean)
            #expect(Set(after.findings.compactMap(\.key)) == ["corrupt", "ghost"] && after.findings.allSatisfy { $0.kind == .quarantinedObject })
            try await expectIntact(store, [("bkt", "counted", counted), ("bkt", "fine", fine)])
        }
    }

    // MARK: Quarantine is lifted when the bytes verify again

    @Test func quarantineIsLiftedWhenTheBytesAreRestored() async throws {
        try await withTemporaryStore { store, directory in
            try await store.createBucket("bkt")
            let body = testBytes(200_000, seed: 40)
            try await store.put("bkt", "k", body)
            try flipByte(directory, segment: 1, at: 1000)
            _ = try await store.repair(basedOn: try await store.verify())
            await expectStoreError(.integrity) { _ = try store.getObject(bucket: "bkt", key: "k") }
            // A quick repair cannot know the bytes: the quarantine stays.
            _ = try await store.repair(basedOn: try await store.verify(quickOptions()))
            await expectStoreError(.integrity) { _ = try store.getObject(bucket: "bkt", key: "k") }

            try flipByte(directory, segment: 1, at: 1000)   // restored, as from a backup
            let report = try await store.verify()
            let notice = try only(report)
            #expect(notice.kind == .quarantinedObject && notice.message.contains("verifies intact"))
            #expect(try await store.repair(basedOn: report).actions.map(\.kind) == [.liftedQuarantine])
            #expect(try await store.bytes("bkt", "k") == body)
            #expect(try await store.verify().findings.isEmpty)
        }
    }

    // MARK: The byte scan

    @Test func scanSplitsTheWorkAndReportsProgress() async throws {
        try await withTemporaryStore { store, directory in
            try await store.createBucket("bkt")
            var total: UInt64 = 0
            for i in 0..<6 {
                let bytes = testBytes(1_500_000 + i * 10_000, seed: UInt64(50 + i))
                try await store.put("bkt", "k\(i)", bytes)
                total += UInt64(bytes.count)
            }
            try flipByte(directory, segment: 2, at: 100)
            let recorder = ProgressRecorder()
            var options = VerifyOptions()
            options.scanWorkers = 2
            let two = try await store.verify(options, progress: recorder.callback)
            options.scanWorkers = 1
            let one = try await store.verify(options)
            #expect(two.statistics.bytesVerified == total && one.statistics.bytesVerified == total)
            #expect(two.findings == one.findings && two.findings.map(\.kind) == [.chunkMismatch])
            #expect(two.findings[0].segmentID == 2 && two.findings[0].offset == 0)
            let seen = recorder.values
            #expect(seen.allSatisfy { $0.bytesTotal == total })
            #expect(seen.map(\.bytesVerified).max() == total && seen.count > 2)

            // Shares are contiguous and balanced to within one unit of work.
            let extents = try store.read { txn in try IndexSnapshot.load(txn, store.index, nowMilliseconds: 0) }
                .blobs.flatMap { id, blob in blob.extents.enumerated().map { PlacedExtent(blobID: id, index: $0, extent: $1, chunkSizeBytes: blob.chunkSizeBytes) } }
            let units = ByteScan.makeUnits(extents)
            let shares = ByteScan.split(units, into: 2, total: total)
            let sizes = shares.map { $0.reduce(0) { $0 + $1.bytes } }
            #expect(shares.count == 2 && sizes.reduce(0, +) == total)
            #expect(shares.joined().map(\.bytes) == units.map(\.bytes), "contiguous, in disk order")
            #expect(sizes.max()! - sizes.min()! <= 2 * ByteScan.unitBytes)
        }
    }

    // MARK: Read-only verification

    @Test func readOnlyStoreVerifiesWithoutWriting() async throws {
        try await withDataDirectory { directory in
            let a = testBytes(120_000, seed: 60)
            do {
                let store = try openStore(directory)
                defer { store.close() }
                try await store.createBucket("bkt")
                try await store.put("bkt", "a", a)
            }
            try flipByte(directory, segment: 1, at: 10)
            let before = try fileDigests(directory)
            let readOnly = try ReadOnlyStore(directory: directory)
            #expect(!readOnly.isLive)
            // The shared lock keeps a writer out while verification runs.
            await expectStoreError(.alreadyOpen) { _ = try ObjectStore(directory: directory, options: testOptions()) }
            let report = try await readOnly.verify()
            #expect(!report.live && report.findings.map(\.kind) == [.chunkMismatch] && report.findings[0].key == "a")
            readOnly.close()
            #expect(try fileDigests(directory) == before, "nothing in the directory changed")
            let store = try openStore(directory)
            store.close()
            await expectStoreError(.io) { _ = try ReadOnlyStore(directory: directory + "/segments") }
        }
    }

    // MARK: Helpers

    /// Two buckets: single-part objects (one empty, one with a key over 510 bytes), a
    /// copy, a rename with a client token, a completed multipart object, and two uploads
    /// in progress (one part uploaded, one copied from an object).
    private func populate(_ store: ObjectStore) async throws -> [(String, String, [UInt8])] {
        try await store.createBucket("bkt")
        try await store.createBucket("other")
        let longKey = String(repeating: "k", count: 600)
        var objects: [(String, String, [UInt8])] = [("bkt", "a", testBytes(300_000)), ("bkt", "empty", []),
                                                    ("bkt", longKey, testBytes(1, seed: 2)), ("bkt", "tmp", testBytes(5_000, seed: 3))]
        for (bucket, key, bytes) in objects { try await store.put(bucket, key, bytes) }
        _ = try await store.copyObject(CopyRequest(sourceBucket: "bkt", sourceKey: "a", bucket: "other", key: "copy"))
        objects.append(("other", "copy", objects[0].2))
        try await store.renameObject(RenameRequest(bucket: "bkt", source: "tmp", destination: "final", clientToken: "token-1"))
        objects[3].1 = "final"
        let parts = [testBytes(150_000, seed: 4), testBytes(110_000, seed: 5)]
        let mp = try await upload(store, "mp", parts)
        _ = try await store.completeMultipartUpload(bucket: "bkt", key: "mp", uploadID: mp.id, parts: mp.etags)
        objects.append(("bkt", "mp", parts[0] + parts[1]))
        _ = try await upload(store, "pending", [testBytes(120_000, seed: 6)])
        let copying = try await store.createMultipartUpload(bucket: "bkt", key: "copying")
        _ = try await store.uploadPartCopy(bucket: "bkt", key: "copying", uploadID: copying, partNumber: 1,
                                           sourceBucket: "bkt", sourceKey: "a")
        return objects
    }

    private func upload(_ store: ObjectStore, _ key: String, _ parts: [[UInt8]]) async throws -> (id: String, etags: [(partNumber: Int, etag: String)]) {
        let id = try await store.createMultipartUpload(bucket: "bkt", key: key)
        var etags: [(partNumber: Int, etag: String)] = []
        for (i, bytes) in parts.enumerated() {
            let writer = try store.beginUploadPart(bucket: "bkt", key: key, uploadID: id, partNumber: i + 1,
                                                   sizeHint: UInt64(bytes.count))
            try await writer.write(bytes)
            etags.append((i + 1, try await writer.finish().etag))
        }
        return (id, etags)
    }

    private func partBlob(_ store: ObjectStore, _ uploadID: String, _ number: Int) async throws -> UInt64 {
        try store.read { txn in try store.parts(txn, uploadID)[number]!.pieces[0].blobID }
    }

    private func expectIntact(_ store: ObjectStore, _ objects: [(String, String, [UInt8])],
                              sourceLocation: SourceLocation = #_sourceLocation) async throws {
        for (bucket, key, bytes) in objects {
            #expect(try await store.bytes(bucket, key) == bytes, "\(bucket)/\(key)", sourceLocation: sourceLocation)
        }
    }
}

private func quickOptions() -> VerifyOptions {
    var options = VerifyOptions()
    options.quick = true
    return options
}

private func name(_ bucket: String, _ key: String) -> ObjectName { ObjectName(bucket: bucket, key: key) }

/// The report's only finding (a test failure when there are none or several).
private func only(_ report: VerificationReport, sourceLocation: SourceLocation = #_sourceLocation) throws -> Finding {
    #expect(report.findings.count == 1, "\(report.findings)", sourceLocation: sourceLocation)
    return try #require(report.findings.first, sourceLocation: sourceLocation)
}

private func blobID(_ store: ObjectStore, _ bucket: String, _ key: String) throws -> UInt64 {
    try store.read { txn in try #require(try store.index.object(txn, bucket: bucket, key: key)).blobID }
}

private func blob(_ store: ObjectStore, _ id: UInt64) throws -> BlobRecord {
    try store.read { txn in try #require(try store.index.blob(txn, id)) }
}

private func segmentRecord(_ store: ObjectStore, _ id: UInt64) throws -> SegmentRecord {
    try store.read { txn in try #require(try store.index.segment(txn, id)) }
}

private func editBlob(_ store: ObjectStore, _ id: UInt64, _ change: @escaping @Sendable (inout BlobRecord) -> Void) async throws {
    _ = try await store.mutate { [index = store.index] txn in
        var record = try index.blob(txn, id)!
        change(&record)
        try txn.put(index.blobs, IndexKey.id(id), record.encoded())
    }
}

/// XXH3 of every file under `directory` except LMDB's lock file (readers register there).
private func fileDigests(_ directory: String) throws -> [String: UInt64] {
    var result: [String: UInt64] = [:]
    let enumerator = FileManager.default.enumerator(atPath: directory)
    while let path = enumerator?.nextObject() as? String {
        var isDirectory: ObjCBool = false
        let full = directory + "/" + path
        guard FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory), !isDirectory.boolValue,
              !path.hasSuffix("lock.mdb") else { continue }
        result[path] = try Data(contentsOf: URL(fileURLWithPath: full)).withUnsafeBytes { XXH3.hash($0) }
    }
    return result
}

/// A fresh data directory (removed afterwards) for tests that close and reopen stores.
private func withDataDirectory(_ body: (String) async throws -> Void) async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("stowage-fsck-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: directory) }
    try await body(directory)
}

private func openStore(_ directory: String) throws -> ObjectStore {
    try ObjectStore(directory: directory, options: testOptions())
}

/// Every progress call, from whichever scanning thread.
private final class ProgressRecorder: Sendable {
    private let seen = Mutex<[VerifyProgress]>([])

    var callback: @Sendable (VerifyProgress) -> Void { { [self] progress in seen.withLock { $0.append(progress) } } }

    var values: [VerifyProgress] { seen.withLock { $0 } }
}
