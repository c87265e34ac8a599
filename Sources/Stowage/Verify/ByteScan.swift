import Glibc
import StowageChecksums
import Synchronization

/// The full scan: every chunk of every readable extent hashed with XXH3 and compared with
/// its stored hash, read straight from read-only mappings of the segment files (opened
/// `O_RDONLY`, apart from the store's own). The extents, in disk order, are split into
/// equal shares for `workers` threads; each chunk's pages are prefaulted in one call
/// before hashing and dropped from the process right after (`Mapping.dropResidency`), so
/// resident memory stays at a few chunks whatever the store's size.
struct ByteScan {
    struct Mismatch {
        let placed: PlacedExtent
        let offsetBytes: UInt64
        let lengthBytes: Int
        let expected: UInt64
        let actual: UInt64
    }

    /// A run of whole chunks of one extent: the unit of work.
    struct Unit {
        let placed: PlacedExtent
        let chunks: Range<Int>
        let bytes: UInt64
    }

    struct Outcome {
        var mismatches: [Mismatch] = []
        /// Extents whose segment could not be opened or mapped during the scan (one entry
        /// per unit: an extent may appear more than once).
        var unreadable: [(PlacedExtent, String)] = []
        var bytesVerified: UInt64 = 0
        var chunksVerified = 0
    }

    /// Largest unit of work, so that one big extent is still shared between workers.
    static let unitBytes: UInt64 = 8 << 20
    /// Bytes a worker verifies between two progress calls.
    static let progressStepBytes: UInt64 = 8 << 20

    static func run(_ extents: [PlacedExtent], segmentsDirectory: String, workers: Int,
                    progress: (@Sendable (VerifyProgress) -> Void)?) async throws -> Outcome {
        let units = makeUnits(extents)
        let total = units.reduce(0) { $0 + $1.bytes }
        let counter = ScanCounter()
        progress?(VerifyProgress(bytesVerified: 0, bytesTotal: total))
        let shares = split(units, into: max(1, workers), total: total)
        let outcomes = try await withThrowingTaskGroup(of: Outcome.self) { group in
            for share in shares {
                group.addTask {
                    try await BlockingIO.run {
                        scan(share, directory: segmentsDirectory, counter: counter, total: total, progress: progress)
                    }
                }
            }
            var all: [Outcome] = []
            for try await outcome in group { all.append(outcome) }
            return all
        }
        var merged = Outcome()
        for outcome in outcomes {
            merged.mismatches += outcome.mismatches
            merged.unreadable += outcome.unreadable
            merged.bytesVerified += outcome.bytesVerified
            merged.chunksVerified += outcome.chunksVerified
        }
        progress?(VerifyProgress(bytesVerified: merged.bytesVerified, bytesTotal: total))
        return merged
    }

    static func makeUnits(_ extents: [PlacedExtent]) -> [Unit] {
        let sorted = extents.sorted { ($0.extent.segmentID, $0.extent.offsetBytes) < ($1.extent.segmentID, $1.extent.offsetBytes) }
        var units: [Unit] = []
        for placed in sorted {
            let chunk = UInt64(placed.chunkSizeBytes)
            let perUnit = max(1, Int(unitBytes / chunk))
            let count = placed.extent.chunkHashes.count
            for start in stride(from: 0, to: count, by: perUnit) {
                let end = min(count, start + perUnit)
                let bytes = min(placed.extent.lengthBytes, UInt64(end) * chunk) - UInt64(start) * chunk
                units.append(Unit(placed: placed, chunks: start..<end, bytes: bytes))
            }
        }
        return units
    }

    /// Contiguous shares of about `total / count` bytes each.
    static func split(_ units: [Unit], into count: Int, total: UInt64) -> [[Unit]] {
        var shares: [[Unit]] = [[]]
        var filled: UInt64 = 0
        let target = max(1, total / UInt64(count))
        for unit in units {
            if filled >= target, shares.count < count {
                shares.append([])
                filled = 0
            }
            shares[shares.count - 1].append(unit)
            filled += unit.bytes
        }
        return shares
    }

    /// One worker, on a Dispatch thread.
    private static func scan(_ units: [Unit], directory: String, counter: ScanCounter, total: UInt64,
                             progress: (@Sendable (VerifyProgress) -> Void)?) -> Outcome {
        var outcome = Outcome()
        var current: (id: UInt64, mapping: Mapping?, error: String?)?
        var unreported: UInt64 = 0
        for unit in units {
            let segment = unit.placed.extent.segmentID
            if current?.id != segment {
                current = nil   // unmaps the previous segment before mapping the next
                do { current = (segment, try map(segment, directory: directory), nil) } catch {
                    current = (segment, nil, "\(error)")
                }
            }
            guard let mapping = current?.mapping, unit.placed.end <= UInt64(mapping.length) else {
                outcome.unreadable.append((unit.placed, current?.error ?? "the segment file changed size during the scan"))
                continue
            }
            verify(unit, in: mapping, into: &outcome)
            unreported += unit.bytes
            if unreported >= progressStepBytes {
                let done = counter.add(unreported)
                unreported = 0
                progress?(VerifyProgress(bytesVerified: done, bytesTotal: total))
            }
        }
        if unreported > 0 { progress?(VerifyProgress(bytesVerified: counter.add(unreported), bytesTotal: total)) }
        return outcome
    }

    private static func verify(_ unit: Unit, in mapping: Mapping, into outcome: inout Outcome) {
        let placed = unit.placed
        let chunk = UInt64(placed.chunkSizeBytes)
        for i in unit.chunks {
            let start = UInt64(i) * chunk
            let offset = placed.extent.offsetBytes + start
            let length = Int(min(chunk, placed.extent.lengthBytes - start))
            mapping.populate(offset: offset, count: length)
            let actual = XXH3.hash(mapping.bytes(offset: offset, count: length))
            mapping.dropResidency(offset: offset, count: length)
            let expected = placed.extent.chunkHashes[i]
            if actual != expected {
                outcome.mismatches.append(Mismatch(placed: placed, offsetBytes: offset, lengthBytes: length,
                                                   expected: expected, actual: actual))
            }
            outcome.bytesVerified += UInt64(length)
            outcome.chunksVerified += 1
        }
    }

    /// A read-only mapping of the whole file; the descriptor is closed at once (the
    /// mapping keeps the file). Nil for an empty file.
    private static func map(_ id: UInt64, directory: String) throws(IOError) -> Mapping? {
        let path = directory + "/" + SegmentFile.fileName(id)
        let fd = try FileIO.open(path, flags: O_RDONLY)
        defer { close(fd) }
        let size = try FileIO.fileSize(fd, path: path)
        guard size > 0 else { return nil }
        let mapping = try Mapping(fd: fd, length: Int(size), path: path)
        // The scan reads each file front to back: read ahead aggressively.
        madvise(UnsafeMutableRawPointer(mutating: mapping.base), mapping.length, MADV_SEQUENTIAL)
        return mapping
    }
}

extension Mapping {
    /// Faults in the pages of `[offset, offset + count)` in one call (`MADV_POPULATE_READ`,
    /// Linux 5.14+; older kernels refuse it and the pages fault in one by one on access).
    func populate(offset: UInt64, count: Int) {
        let page = UInt64(Self.pageBytes)
        let start = offset / page * page
        let end = min(offset + UInt64(count), UInt64(length))
        guard end > start else { return }
        madvise(UnsafeMutableRawPointer(mutating: base + Int(start)), Int(end - start), Self.populateRead)
    }

    private static let populateRead: Int32 = 22   // MADV_POPULATE_READ, not in every libc's headers
}

/// Bytes verified so far, shared by the workers.
private final class ScanCounter: Sendable {
    private let bytes = Atomic<UInt64>(0)

    func add(_ count: UInt64) -> UInt64 {
        bytes.add(count, ordering: .relaxed).newValue
    }
}
