import Glibc
import Synchronization

/// A read-only shared mapping of a whole segment file. Unmapped when the last reference
/// goes, so a reader holding one keeps valid bytes even after the file is unlinked (I6).
final class Mapping: @unchecked Sendable {
    // Immutable after init; the mapped bytes are read-only and only ever read.
    let base: UnsafeRawPointer
    let length: Int

    init(fd: Int32, length: Int, path: String) throws(IOError) {
        let address = mmap(nil, length, PROT_READ, MAP_SHARED, fd, 0)
        guard let address, address != MAP_FAILED else {
            throw IOError(operation: "mmap", path: path, errno: errno)
        }
        base = UnsafeRawPointer(address)
        self.length = length
    }

    /// The mapped bytes `[offset, offset + count)`, which must lie inside the mapping.
    func bytes(offset: UInt64, count: Int) -> UnsafeRawBufferPointer {
        precondition(offset + UInt64(count) <= UInt64(length), "read past the mapping (I5)")
        return UnsafeRawBufferPointer(start: base + Int(offset), count: count)
    }

    /// Unmaps the whole pages inside `[offset, offset + count)` from this process
    /// (`MADV_DONTNEED`). The bytes stay in the page cache and a later access faults them
    /// back in, so this is always safe; it keeps a long GET from growing the process's
    /// resident set by the size of the object.
    func dropResidency(offset: UInt64, count: Int) {
        let page = UInt64(Self.pageBytes)
        let start = (offset + page - 1) / page * page
        let end = min((offset + UInt64(count)) / page * page, UInt64(length))
        guard end > start else { return }
        madvise(UnsafeMutableRawPointer(mutating: base + Int(start)), Int(end - start), MADV_DONTNEED)
    }

    /// Whether every page of `[offset, offset + count)` is in the page cache (`mincore`):
    /// then reading it costs no disk wait, only minor faults. False on any doubt.
    func isResident(offset: UInt64, count: Int) -> Bool {
        let page = UInt64(Self.pageBytes)
        let start = offset / page * page
        let end = min(offset + UInt64(max(count, 1)), UInt64(length))
        guard end > start else { return false }
        let pages = Int((end - start + page - 1) / page)
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: pages) { vector in
            guard mincore(UnsafeMutableRawPointer(mutating: base + Int(start)), Int(end - start), vector.baseAddress) == 0 else {
                return false
            }
            return vector.allSatisfy { $0 & 1 == 1 }
        }
    }

    /// Asks the kernel to start reading `[offset, offset + count)` in (`MADV_WILLNEED`), so
    /// a sequential pass over it waits for the disk less (compaction's copy).
    func prefetch(offset: UInt64, count: Int) {
        let page = UInt64(Self.pageBytes)
        let start = offset / page * page
        let end = min(offset + UInt64(count), UInt64(length))
        guard end > start else { return }
        madvise(UnsafeMutableRawPointer(mutating: base + Int(start)), Int(end - start), MADV_WILLNEED)
    }

    static let pageBytes = Int(sysconf(Int32(_SC_PAGESIZE)))

    deinit { munmap(UnsafeMutableRawPointer(mutating: base), length) }
}

/// One segment file: preallocated to its capacity when created, appended with `pwrite`,
/// read through one `Mapping` of its full length. Never truncated while open (I5).
final class SegmentFile: Sendable {
    let id: UInt64
    let path: String
    let fd: Int32
    let capacityBytes: UInt64
    private let mapping = Mutex<Mapping?>(nil)

    static func fileName(_ id: UInt64) -> String {
        String(id).leftPadded(12) + ".seg"
    }

    /// Creates the file and preallocates `capacityBytes` (I5: mapped bytes always exist).
    static func create(id: UInt64, directory: String, capacityBytes: UInt64) throws(IOError) -> SegmentFile {
        let path = directory + "/" + fileName(id)
        let fd = try FileIO.open(path, flags: O_RDWR | O_CREAT | O_EXCL)
        do {
            try FileIO.preallocate(fd, length: capacityBytes, path: path)
            // The file's length and its name must be durable before any index entry
            // points into it (I3).
            try FileIO.fsync(fd, path: path)
            try FileIO.syncDirectory(directory)
        } catch {
            close(fd)
            unlink(path)
            throw error
        }
        return SegmentFile(id: id, path: path, fd: fd, capacityBytes: capacityBytes)
    }

    /// Opens an existing segment. Its real length bounds what may be mapped: a file shorter
    /// than the index says is damage, reported to the caller, never mapped past its end.
    static func open(id: UInt64, directory: String) throws(IOError) -> SegmentFile {
        let path = directory + "/" + fileName(id)
        let fd = try FileIO.open(path, flags: O_RDWR)
        do {
            let size = try FileIO.fileSize(fd, path: path)
            return SegmentFile(id: id, path: path, fd: fd, capacityBytes: size)
        } catch {
            close(fd)
            throw error
        }
    }

    private init(id: UInt64, path: String, fd: Int32, capacityBytes: UInt64) {
        self.id = id
        self.path = path
        self.fd = fd
        self.capacityBytes = capacityBytes
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws(IOError) {
        precondition(offset + UInt64(bytes.count) <= capacityBytes, "write past the preallocated segment")
        if Self.mayWriteDirect(bytes, at: offset), let direct = directDescriptor() {
            do {
                try FileIO.pwriteAll(direct, bytes, offset: offset, path: path)
                return
            } catch {
                // Whatever refused it (a file system without O_DIRECT for this range, an
                // I/O error), the same bytes at the same place through the page cache
                // either succeed or say why.
                if error.errno == EINVAL { directState.withLock { $0 = .unsupported } }
            }
        }
        try FileIO.pwriteAll(fd, bytes, offset: offset, path: path)
    }

    /// Whole chunks of at least `directMinimumBytes`, page-aligned in memory, length and
    /// offset, bypass the page cache (O_DIRECT): a large object's bytes go from the staging
    /// buffer to the disk without being copied into new page-cache pages, whose first touch
    /// is what bounded a large PUT on this project's VMs (issue 18: `dd` of new data through
    /// the page cache 0.4–1.2 GB/s, with O_DIRECT 2.2 GB/s), and without evicting what
    /// readers have cached. Smaller writes and unaligned tails stay buffered, so small
    /// objects are read back from the cache. Durability is unchanged: commits still
    /// `fdatasync` the segment (I3), which also flushes the disk's cache.
    static func mayWriteDirect(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) -> Bool {
        let alignment = UInt(directAlignmentBytes)
        guard bytes.count >= directMinimumBytes, let base = bytes.baseAddress else { return false }
        return UInt(bitPattern: base) % alignment == 0 && UInt(bytes.count) % alignment == 0
            && UInt(offset) % alignment == 0
    }

    static let directMinimumBytes = 1 << 20
    static let directAlignmentBytes = 4096

    /// Glibc's module leaves `O_DIRECT` out (it needs `_GNU_SOURCE`): Linux's values.
    static let oDirect: Int32? = {
        #if os(Linux) && arch(x86_64)
        return 0o40000
        #elseif os(Linux) && arch(arm64)
        return 0o200000
        #else
        return nil
        #endif
    }()

    private enum DirectState { case unopened, open(Int32), unsupported }
    private let directState = Mutex<DirectState>(.unopened)

    /// Whether this file has written a chunk with O_DIRECT (tests).
    var writesDirect: Bool {
        if case .open = directState.withLock({ $0 }) { return true }
        return false
    }

    /// A second descriptor on the file, opened with O_DIRECT at first use; nil where the
    /// file system refuses it (tmpfs), after which this file writes buffered only.
    private func directDescriptor() -> Int32? {
        directState.withLock { state in
            switch state {
            case .open(let direct): return direct
            case .unsupported: return nil
            case .unopened:
                guard let flag = Self.oDirect, let direct = try? FileIO.open(path, flags: O_WRONLY | flag) else {
                    state = .unsupported
                    return nil
                }
                state = .open(direct)
                return direct
            }
        }
    }

    func sync() throws(IOError) {
        try FileIO.fdatasync(fd, path: path)
    }

    /// The segment's mapping, created on first use.
    func mapped() throws(IOError) -> Mapping {
        try mapping.withLock { (current: inout Mapping?) throws(IOError) -> Mapping in
            if let current { return current }
            let created = try Mapping(fd: fd, length: Int(capacityBytes), path: path)
            current = created
            return created
        }
    }

    deinit {
        if case .open(let direct) = directState.withLock({ $0 }) { close(direct) }
        close(fd)
    }
}
