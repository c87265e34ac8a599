import Glibc

/// A failed system call: which one, on what, and `errno`.
struct IOError: Error, Sendable, CustomStringConvertible {
    let operation: String
    let path: String
    let errno: Int32

    var description: String { "\(operation) \(path): \(String(cString: strerror(errno))) (errno \(errno))" }

    var isDiskFull: Bool { errno == ENOSPC || errno == EDQUOT }

    /// The engine's view: ENOSPC/EDQUOT is `diskFull`, anything else `io`.
    var storeError: StoreError {
        StoreError(isDiskFull ? .diskFull : .io,
                   isDiskFull ? "No space left on the device holding the data directory" : description,
                   cause: self)
    }
}

/// One helper per syscall pattern, each retrying `EINTR` (swift-system's model).
enum FileIO {
    static func open(_ path: String, flags: Int32, mode: mode_t = 0o644) throws(IOError) -> Int32 {
        while true {
            let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
            if fd >= 0 { return fd }
            if errno != EINTR { throw IOError(operation: "open", path: path, errno: errno) }
        }
    }

    /// Writes all of `bytes` at `offset`, looping over short writes.
    static func pwriteAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, offset: UInt64, path: String) throws(IOError) {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw IOError(operation: "pwrite", path: path, errno: errno)
            }
            done += n
        }
    }

    static func fdatasync(_ fd: Int32, path: String) throws(IOError) {
        while Glibc.fdatasync(fd) != 0 {
            if errno != EINTR { throw IOError(operation: "fdatasync", path: path, errno: errno) }
        }
    }

    static func fsync(_ fd: Int32, path: String) throws(IOError) {
        while Glibc.fsync(fd) != 0 {
            if errno != EINTR { throw IOError(operation: "fsync", path: path, errno: errno) }
        }
    }

    /// Reserves `length` bytes of real disk blocks so that later writes into them cannot
    /// fail for space and a mapping of them can never SIGBUS (I5).
    static func preallocate(_ fd: Int32, length: UInt64, path: String) throws(IOError) {
        // glibc's posix_fallocate is fallocate(2) where the filesystem has it, and writes
        // the blocks itself where not.
        let rc = posix_fallocate(fd, 0, off_t(length))
        if rc != 0 { throw IOError(operation: "posix_fallocate", path: path, errno: rc) }
    }

    /// Makes a directory's entries durable: a new file's name survives a crash only after this.
    static func syncDirectory(_ path: String) throws(IOError) {
        let fd = try open(path, flags: O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        try fsync(fd, path: path)
    }

    static func makeDirectory(_ path: String) throws(IOError) {
        if mkdir(path, 0o755) != 0 && errno != EEXIST {
            throw IOError(operation: "mkdir", path: path, errno: errno)
        }
    }

    /// The length of the file at `path`; 0 when it cannot be read.
    static func fileLength(_ path: String) -> UInt64 {
        var info = stat()
        return stat(path, &info) == 0 ? UInt64(info.st_size) : 0
    }

    static func fileSize(_ fd: Int32, path: String) throws(IOError) -> UInt64 {
        var info = stat()
        if fstat(fd, &info) != 0 { throw IOError(operation: "fstat", path: path, errno: errno) }
        return UInt64(info.st_size)
    }
}
