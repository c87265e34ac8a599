import Foundation
import Glibc
import Synchronization

/// A range of a segment handed to one writer. Concurrent uploads get disjoint ranges and
/// write them in parallel.
struct Reservation: Sendable {
    let segment: SegmentFile
    let offsetBytes: UInt64
    let lengthBytes: UInt64
}

/// The append-only segment files under `DATA/segments/`. Reserving space is an in-memory
/// step under a lock; writing, syncing and mapping happen outside it.
final class ExtentStore: Sendable {
    let directory: String
    let segmentCapacityBytes: UInt64

    private struct State {
        var files: [UInt64: SegmentFile] = [:]
        var openSegmentID: UInt64?
        var appendOffsetBytes: UInt64 = 0
        var nextSegmentID: UInt64 = 1
        /// Segments holding bytes a writer has not committed yet, with how many writers.
        /// Compaction never touches them: a commit may still point into them.
        var writerPins: [UInt64: Int] = [:]
    }
    private let state: Mutex<State>
    /// Serialises segment creation (slow: fallocate and fsyncs), apart from `state`.
    private let creation = NSLock()

    /// - Parameters:
    ///   - openSegment: the segment appends resume in, and its committed high-water mark.
    ///   - highestKnownID: the largest segment id the index or the directory knows; new
    ///     segments get larger ids, so a crash's orphan files are never reused.
    init(directory: String, segmentCapacityBytes: UInt64, openSegment: (id: UInt64, highWaterBytes: UInt64)?,
         highestKnownID: UInt64) {
        self.directory = directory
        self.segmentCapacityBytes = segmentCapacityBytes
        var initial = State()
        initial.nextSegmentID = highestKnownID + 1
        if let openSegment {
            initial.openSegmentID = openSegment.id
            initial.appendOffsetBytes = openSegment.highWaterBytes
        }
        state = Mutex(initial)
    }

    /// Ids of the segment files present in the directory.
    static func segmentIDs(in directory: String) -> [UInt64] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var ids: [UInt64] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name.hasSuffix(".seg"), let id = UInt64(name.dropLast(4)) { ids.append(id) }
        }
        return ids
    }

    /// The open file of segment `id`.
    func segment(_ id: UInt64) throws(IOError) -> SegmentFile {
        try state.withLock { (s: inout State) throws(IOError) -> SegmentFile in
            if let file = s.files[id] { return file }
            let file = try SegmentFile.open(id: id, directory: directory)
            s.files[id] = file
            return file
        }
    }

    /// Reserves up to `maxLength` bytes. A reservation shorter than asked is a whole number
    /// of `chunkBytes`, so extents break only at chunk boundaries; the caller asks again
    /// for the rest. May create (and preallocate) a segment: blocking, so callers run it on
    /// a Dispatch thread. Creation happens outside the state lock, so reservations in the
    /// open segment and readers' lookups never wait for a `fallocate`.
    func reserveSpace(maxLength: UInt64, chunkBytes: UInt64) throws(IOError) -> Reservation {
        precondition(maxLength > 0 && chunkBytes > 0 && chunkBytes <= segmentCapacityBytes)
        if let granted = grant(maxLength: maxLength, chunkBytes: chunkBytes) { return granted }
        creation.lock()
        defer { creation.unlock() }
        // Another writer may have made a segment while this one waited.
        if let granted = grant(maxLength: maxLength, chunkBytes: chunkBytes) { return granted }
        let id = state.withLock { s in
            defer { s.nextSegmentID += 1 }
            return s.nextSegmentID
        }
        let file = try SegmentFile.create(id: id, directory: directory, capacityBytes: segmentCapacityBytes)
        let length = maxLength <= segmentCapacityBytes ? maxLength : segmentCapacityBytes / chunkBytes * chunkBytes
        state.withLock { s in
            s.files[id] = file
            s.openSegmentID = id
            s.appendOffsetBytes = length
            s.writerPins[id, default: 0] += 1
        }
        return Reservation(segment: file, offsetBytes: 0, lengthBytes: length)
    }

    /// Room in the open segment, if it has any: never blocks (no segment is created).
    func grant(maxLength: UInt64, chunkBytes: UInt64) -> Reservation? {
        state.withLock { s -> Reservation? in
            guard let id = s.openSegmentID, let file = try? openFile(id, &s) else { return nil }
            let remaining = file.capacityBytes - min(s.appendOffsetBytes, file.capacityBytes)
            let granted = remaining >= maxLength ? maxLength : remaining / chunkBytes * chunkBytes
            guard granted > 0 else { return nil }
            defer { s.appendOffsetBytes += granted }
            s.writerPins[id, default: 0] += 1
            return Reservation(segment: file, offsetBytes: s.appendOffsetBytes, lengthBytes: granted)
        }
    }

    private func openFile(_ id: UInt64, _ s: inout State) throws(IOError) -> SegmentFile {
        if let file = s.files[id] { return file }
        let file = try SegmentFile.open(id: id, directory: directory)
        s.files[id] = file
        return file
    }

    /// Hands back the unused tail of a reservation when nothing was reserved after it.
    func release(segmentID: UInt64, offsetBytes: UInt64, lengthBytes: UInt64) {
        state.withLock { s in
            if s.openSegmentID == segmentID && s.appendOffsetBytes == offsetBytes + lengthBytes {
                s.appendOffsetBytes = offsetBytes
            }
        }
    }

    /// Every reservation pins its segment until the writer is done with it (committed or
    /// abandoned): `unpin` once per reservation.
    func unpin(_ segmentID: UInt64) {
        state.withLock { s in
            guard let count = s.writerPins[segmentID] else { return }
            s.writerPins[segmentID] = count > 1 ? count - 1 : nil
        }
    }

    /// Whether compaction may move segment `id`'s bytes and retire it: it is not the
    /// segment appends go to, and no writer holds uncommitted bytes in it. Once true it
    /// stays true: only the open segment grants reservations, and appends never return
    /// to a segment they left.
    func isSettled(_ id: UInt64) -> Bool {
        state.withLock { s in s.openSegmentID != id && s.writerPins[id] == nil }
    }

    /// Removes a settled segment that no index entry references any more: forgets its
    /// file (readers that pinned its mapping keep it; I6), unlinks it and makes that
    /// durable before the caller reports the space reclaimed. Under the creation lock, so
    /// no segment is half-made meanwhile. Returns false when it is not settled (the open
    /// segment, or a writer holds uncommitted bytes in it) or there was no file.
    /// Compaction and fsck's `reclaimOrphans` both retire through here.
    func retire(_ id: UInt64) throws(IOError) -> Bool {
        creation.lock()
        defer { creation.unlock() }
        let forgotten = state.withLock { s -> Bool in
            guard s.openSegmentID != id, s.writerPins[id] == nil else { return false }
            s.files[id] = nil
            return true
        }
        guard forgotten else { return false }
        let path = directory + "/" + SegmentFile.fileName(id)
        guard unlink(path) == 0 else {
            if errno == ENOENT { return false }
            throw IOError(operation: "unlink", path: path, errno: errno)
        }
        try FileIO.syncDirectory(directory)
        return true
    }

    /// Flushes every open segment file (relaxed mode's close).
    func syncAll() throws(IOError) {
        for file in state.withLock({ Array($0.files.values) }) { try file.sync() }
    }

    /// The segment appends currently go to.
    var openSegmentID: UInt64? { state.withLock { $0.openSegmentID } }
}
