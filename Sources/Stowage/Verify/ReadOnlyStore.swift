import Glibc
import Synchronization

/// A data directory opened only to be verified — safe on the directory of a running
/// server, and never writing to it.
///
/// Unlike `ObjectStore` it creates nothing, takes no exclusive lock and starts no writer:
/// it tries a *shared* `flock` on `DATA/stowage.lock`. Granted, no server has the directory
/// (and none can open it while this is open): `isLive` is false. Refused, a server holds
/// the exclusive lock: the directory is verified anyway, without a lock, and `isLive` is
/// true. The index is opened `MDB_RDONLY` (LMDB lets a second process read while one
/// writes; this process's read transaction only registers in LMDB's reader table in
/// `index/lock.mdb`), and segment files are opened `O_RDONLY`. As with any LMDB
/// environment, do not open one directory both ways in one process at once.
public final class ReadOnlyStore: Sendable {
    public let directory: String
    /// True when another process (a server) held the directory when it was opened.
    public let isLive: Bool
    let environment: LMDBEnvironment
    let index: Index
    /// The shared lock's descriptor; -1 when the directory is live.
    private let lockDescriptor: Int32
    private let isClosed = Mutex(false)

    public init(directory: String, indexMapSizeBytes: Int = StoreOptions().indexMapSizeBytes) throws(StoreError) {
        self.directory = directory
        let indexPath = directory + "/" + ObjectStore.indexDirectoryName
        guard access(indexPath + "/data.mdb", R_OK) == 0 else {
            throw StoreError(.io, "\(directory) is not a Stowage data directory (no readable \(ObjectStore.indexDirectoryName)/data.mdb)")
        }
        (lockDescriptor, isLive) = try Self.sharedLock(directory)
        do {
            environment = try LMDBEnvironment(path: indexPath, tables: Index.tables,
                                              minimumKeyBytes: ObjectSlot.lmdbMaxKeyBytes, mapSizeBytes: indexMapSizeBytes, maxReaders: 126,
                                              syncOnCommit: false, readOnly: true)
            index = Index(accounting: ReadOnlyAccounting())
            try Self.checkFormat(environment, index)
        } catch {
            if lockDescriptor >= 0 { Glibc.close(lockDescriptor) }
            throw StoreError.wrapping(error, "opening \(directory) read-only")
        }
    }

    /// `flock(LOCK_SH|LOCK_NB)`: (descriptor, false) when granted; (-1, true) when a server
    /// holds the exclusive lock.
    private static func sharedLock(_ directory: String) throws(StoreError) -> (Int32, Bool) {
        let path = directory + "/" + ObjectStore.lockFileName
        let fd: Int32
        do { fd = try FileIO.open(path, flags: O_RDONLY) } catch { throw error.storeError }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 { return (fd, false) }
        let code = errno
        Glibc.close(fd)
        guard code == EWOULDBLOCK else { throw IOError(operation: "flock", path: path, errno: code).storeError }
        return (-1, true)
    }

    private static func checkFormat(_ environment: LMDBEnvironment, _ index: Index) throws {
        let stored = try environment.read { txn in try txn.get(index.meta, Index.formatKey) }
        guard stored == [Index.formatVersion] else {
            throw StoreError(.corrupt, "The index has format \(stored.map { "\($0)" } ?? "none") but this build reads format \(Index.formatVersion)")
        }
    }

    /// The same verification as `ObjectStore.verify`.
    public func verify(_ options: VerifyOptions = VerifyOptions(),
                       progress: (@Sendable (VerifyProgress) -> Void)? = nil) async throws(StoreError) -> VerificationReport {
        guard !isClosed.withLock({ $0 }) else { throw StoreError(.closed, "The store is closed") }
        let verifier = Verifier(snapshots: environment, index: index, directory: directory, live: isLive,
                                appendSegment: nil)
        do { return try await verifier.run(options, progress: progress) } catch {
            throw StoreError.wrapping(error, "verification")
        }
    }

    /// Closes the index and releases the shared lock. Idempotent; also run at deinit.
    public func close() {
        guard isClosed.withLock({ closed in defer { closed = true }; return !closed }) else { return }
        environment.close()
        if lockDescriptor >= 0 { Glibc.close(lockDescriptor) }
    }

    deinit { close() }
}
