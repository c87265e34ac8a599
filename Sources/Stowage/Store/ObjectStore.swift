import Foundation
import Glibc
import Logging
import Synchronization

/// How the store trades durability for speed (DESIGN.md, "Durability modes").
public enum Durability: String, Sendable, CaseIterable {
    /// I3 as written: object data `fdatasync`ed before the index commit, and the commit
    /// synced before anyone is answered. The default.
    case strict
    /// Neither data nor index commits are synced (`MDB_NOSYNC`): for tests and benchmarks
    /// that say so. A crash may lose recent acknowledged writes, never consistency.
    case relaxed
}

public struct StoreOptions: Sendable {
    public var durability: Durability = .strict
    /// Size each segment file is preallocated to.
    public var segmentCapacityBytes: UInt64 = 1 << 30
    /// Bytes covered by one XXH3 checksum.
    public var chunkSizeBytes: UInt32 = 1 << 20
    /// Largest run of a segment one writer reserves at a time when the size is unknown.
    public var reservationRunBytes: UInt64 = 16 << 20
    /// LMDB map size: the index can grow to this. Sparse on disk.
    public var indexMapSizeBytes: Int = 256 << 30
    /// Concurrent read transactions (LMDB reader slots).
    public var maxReaders: UInt32 = 1024
    /// Smallest size of a multipart part other than the last (S3: 5 MiB). Tests lower it.
    public var minPartSizeBytes: UInt64 = Limits.minPartBytes
    /// Verify every chunk served against its XXH3 (I4). Operators may turn it off.
    public var verifyReads: Bool = true
    /// Seals SSE-S3 data keys and the key store's keys; nil: SSE-S3 and SSE-KMS are
    /// refused (NotImplemented). Never written anywhere by the engine.
    public var masterKey: MasterKey?
    public var logger: Logger = Logger(label: "stowage.engine")

    public init() {}
}

/// The engine: buckets and objects in one data directory.
///
/// `Sendable`: its parts are — the index backend (thread-safe, writes confined to its
/// writer thread), the extent store (locked), the writer (a queue).
public final class ObjectStore: Sendable {
    public let directory: String
    public let options: StoreOptions
    /// The index seam's backend: LMDB in `directory/index` unless a test gave another.
    let indexBackend: any IndexBackend
    let index: Index
    /// The segment files, embedded; nil in cluster mode. Compaction and fsck are their own
    /// maintenance and reach them directly (`extents`); every other path goes through `blobs`.
    let segmentStore: ExtentStore?
    /// The blob seam (Seams/BlobSeam.swift): where object bytes are written and read.
    let blobs: any BlobBackend
    /// Cluster mode: blob ids from ranges this gateway reserved (`reservedBlobID`).
    let blobIDRanges: BlobIDRanges?
    private let lockDescriptor: Int32
    private let isClosed = Mutex(false)
    /// Index readers, for compaction's unlink (I6).
    let readers = ReaderGate()
    /// Compaction: one pass at a time, its running totals, and the background loop.
    let compaction = CompactionState()

    /// Named files and folders inside the data directory.
    static let lockFileName = "stowage.lock"
    static let indexDirectoryName = "index"
    static let segmentsDirectoryName = "segments"

    /// Opens (creating if missing) the store in `directory`. A directory already open —
    /// in this process or another — is refused with `alreadyOpen`.
    public convenience init(directory: String, options: StoreOptions = StoreOptions()) throws(StoreError) {
        try self.init(directory: directory, options: options) { () throws -> any IndexBackend in
            LMDBIndex(environment: try LMDBEnvironment(path: directory + "/" + Self.indexDirectoryName,
                                                       tables: Index.tables, minimumKeyBytes: ObjectSlot.lmdbMaxKeyBytes,
                                                       mapSizeBytes: options.indexMapSizeBytes,
                                                       maxReaders: options.maxReaders,
                                                       syncOnCommit: options.durability == .strict))
        }
    }

    /// Opens the store with the index `openIndex` returns (the seam: tests run the engine
    /// over other backends). Segment files hold the bytes either way.
    /// `blobIDRanges`: take blob ids from reserved ranges, as cluster gateways do (tests
    /// run the engine suites so over optimistic backends).
    init(directory: String, options: StoreOptions, blobIDRanges: BlobIDRanges? = nil,
         openIndex: () throws -> any IndexBackend) throws(StoreError) {
        self.blobIDRanges = blobIDRanges
        self.directory = directory
        self.options = options
        precondition(options.chunkSizeBytes > 0 && UInt64(options.chunkSizeBytes) <= options.segmentCapacityBytes)
        do {
            try FileIO.makeDirectory(directory)
            try FileIO.makeDirectory(directory + "/" + Self.indexDirectoryName)
            try FileIO.makeDirectory(directory + "/" + Self.segmentsDirectoryName)
        } catch { throw error.storeError }
        lockDescriptor = try Self.lock(directory)
        do {
            indexBackend = try openIndex()
        } catch {
            Glibc.close(lockDescriptor)
            throw StoreError.wrapping(error, "opening \(directory)")
        }
        let extents: ExtentStore
        do {
            extents = try Self.openExtents(indexBackend, directory: directory, options: options)
        } catch {
            indexBackend.close()
            Glibc.close(lockDescriptor)
            throw StoreError.wrapping(error, "opening \(directory)")
        }
        segmentStore = extents
        blobs = extents
        index = Index(accounting: extents)
        let (blobs, syncData) = (extents as any BlobBackend, options.durability == .strict)
        indexBackend.start { containers in
            // I3: object data is durable before the index transaction that references it commits.
            guard syncData else { return }
            do { try blobs.makeDurable(containers) } catch { throw StoreError.wrapping(error, "making object data durable") }
        }
    }

    /// Opens the store over any pair of backends with no data directory of its own:
    /// cluster mode (an etcd index, RADOS bytes). Durability is always strict there —
    /// every commit waits for its bytes to be acknowledged by the pool.
    init(index indexBackend: any IndexBackend, blobs: any BlobBackend, name: String, options: StoreOptions) throws(StoreError) {
        var options = options
        options.durability = .strict
        self.directory = name
        self.options = options
        self.indexBackend = indexBackend
        self.blobs = blobs
        blobIDRanges = BlobIDRanges()
        segmentStore = nil
        lockDescriptor = -1
        index = Index(accounting: blobs)
        do {
            try Self.checkFormat(indexBackend, index)
        } catch {
            throw StoreError.wrapping(error, "opening the index of \(name)")
        }
        indexBackend.start { containers in
            do { try blobs.makeDurable(containers) } catch { throw StoreError.wrapping(error, "making object data durable") }
        }
    }

    /// The segment files, for their own maintenance (compaction, fsck). Entry points that
    /// reach it call `requireSegmentFiles()` first, so cluster mode answers an error.
    var extents: ExtentStore {
        guard let segmentStore else { preconditionFailure("segment files exist only in the embedded engine") }
        return segmentStore
    }

    /// True over etcd and RADOS, false over a data directory.
    public var isCluster: Bool { segmentStore == nil }

    /// Refuses an operation on segment files in cluster mode.
    func requireSegmentFiles(_ operation: String) throws(StoreError) {
        guard segmentStore != nil else {
            throw StoreError(.notImplemented, "\(operation) works on the segment files of the embedded engine; this store keeps its bytes in RADOS")
        }
    }

    /// `flock` on `DATA/stowage.lock`: locks belong to open file descriptions, so a second
    /// open of the same directory fails even inside one process (LMDB must not be opened
    /// twice in one process).
    ///
    /// A child process forked by the embedding program shares every descriptor until it
    /// execs (O_CLOEXEC closes ours there), so for that moment the lock of a store this
    /// process has just closed still looks held. A conflict is therefore retried for up to
    /// `lockPatienceMilliseconds` before it is reported: a real second opener holds the
    /// lock far longer than that.
    private static func lock(_ directory: String) throws(StoreError) -> Int32 {
        let path = directory + "/" + lockFileName
        let fd: Int32
        do { fd = try FileIO.open(path, flags: O_RDWR | O_CREAT) } catch { throw error.storeError }
        var waitedMilliseconds = 0
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            if code == EINTR { continue }
            if code == EWOULDBLOCK && waitedMilliseconds < lockPatienceMilliseconds {
                usleep(10_000)
                waitedMilliseconds += 10
                continue
            }
            Glibc.close(fd)
            if code == EWOULDBLOCK {
                throw StoreError(.alreadyOpen, "The data directory \(directory) is already open (by this or another process)")
            }
            throw IOError(operation: "flock", path: path, errno: code).storeError
        }
        return fd
    }

    static let lockPatienceMilliseconds = 500

    private static func openExtents(_ backend: any IndexBackend, directory: String,
                                    options: StoreOptions) throws -> ExtentStore {
        let index = Index(accounting: ReadOnlyAccounting())
        try checkFormat(backend, index)
        let known = try backend.read { txn in try index.allSegments(txn) }
        let segmentsPath = directory + "/" + segmentsDirectoryName
        let onDisk = ExtentStore.segmentIDs(in: segmentsPath)
        let highest = max(known.map(\.0).max() ?? 0, onDisk.max() ?? 0)
        // Appends resume in the newest segment the index knows, after its committed bytes.
        let open = known.last.flatMap { id, record in
            record.state == .open ? (id: id, highWaterBytes: record.highWaterBytes) : nil
        }
        return ExtentStore(directory: segmentsPath, segmentCapacityBytes: options.segmentCapacityBytes,
                           openSegment: open, highestKnownID: highest)
    }

    /// Writes the format version into a new index; refuses an index of another version.
    private static func checkFormat(_ backend: any IndexBackend, _ index: Index) throws {
        let stored = try backend.read { txn in try txn.get(index.meta, Index.formatKey) }
        if let stored {
            guard stored == [Index.formatVersion] else {
                throw StoreError(.corrupt, "The index has format \(stored) but this build reads format \(Index.formatVersion)")
            }
            return
        }
        _ = try backend.setUp { txn in try txn.put(index.meta, Index.formatKey, [Index.formatVersion]) }
    }

    /// Finishes queued writes and closes the index. Idempotent; also run at deinit.
    /// In relaxed mode this is where data and index reach the disk.
    public func close() {
        guard isClosed.withLock({ closed in defer { closed = true }; return !closed }) else { return }
        // Reads that began before `isClosed` was set finish first: the index must not be
        // closed under them.
        readers.drainBlocking()
        compaction.stopBackground()
        indexBackend.stop()
        if options.durability == .relaxed {
            do {
                try blobs.syncAll()
                try indexBackend.sync()
            } catch {
                options.logger.error("close: syncing the relaxed store failed: \(error)")
            }
        }
        indexBackend.close()
        if lockDescriptor >= 0 { Glibc.close(lockDescriptor) }
    }

    deinit { close() }

    /// `close()` for async callers: the same waits (in-flight reads, queued mutations, the
    /// relaxed store's syncs) happen on a Dispatch thread, so no cooperative or event-loop
    /// thread blocks on them.
    public func shutDown() async {
        _ = try? await BlockingIO.run { [self] in close() }
    }

    /// The clock. Never read inside a mutation (the re-run rule, Index/IndexSeam.swift):
    /// decide the time before submitting it.
    static func nowMilliseconds() -> Int64 {
        assert(!MutationScope.isActive, "the clock was read inside an index mutation")
        return Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }

    /// Capacity of a segment for its first accounting record.
    func segmentCapacity(_ id: UInt64) throws -> UInt64 {
        do { return try extents.segment(id).capacityBytes } catch { throw error.storeError }
    }
}

// MARK: - Buckets

extension ObjectStore {
    /// CreateBucket; with `objectLock`, Object Lock is on from the start, and so is
    /// versioning (which Object Lock needs).
    /// `owner`: the user creating it (nil: the administrator).
    /// `ownership`: the bucket's Object Ownership (nil: BucketOwnerEnforced, stored as no
    /// setting); `acl`: its ACL (nil: private), which BucketOwnerEnforced refuses unless it
    /// grants only to the owner.
    public func createBucket(_ name: String, objectLock: Bool = false, owner: String? = nil,
                             ownership: ObjectOwnership? = nil, acl: AccessControlList? = nil) async throws(StoreError) {
        try Validation.checkBucketName(name)
        if let acl, !(ownership ?? .bucketOwnerEnforced).aclsEnabled, !acl.grantsOnlyToOwner {
            throw Self.aclWithEnforcedOwnership
        }
        let settings = Self.bucketAccessSettings(name, ownership: ownership, acl: acl)
        var created = BucketRecord(createdMilliseconds: Self.nowMilliseconds())
        created.owner = owner ?? ""
        if objectLock {
            created.objectLockEnabled = true
            created.versioning = .enabled
        }
        let record = created
        try await mutate { [index] txn in
            guard try txn.put(index.buckets, Array(name.utf8), record.encoded(), noOverwrite: true) else {
                if try index.bucketRecord(txn, name).owner != record.owner {
                    throw StoreError(.bucketOwnedByAnother, "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.")
                }
                throw StoreError(.bucketAlreadyExists, "Your previous request to create the named bucket succeeded and you already own it")
            }
            for (key, value) in settings { try txn.put(index.meta, key, value) }
        }
    }

    /// Every per-bucket setting's `meta` key (§2 of ARCHITECTURE): DeleteBucket removes
    /// them all in its transaction, so no setting outlives its bucket (or greets a new
    /// bucket of the same name). A new setting adds its key here.
    static func bucketSettingKeys(_ name: String) -> [[UInt8]] {
        [LifecycleRecord.key(bucket: name), bucketTaggingKey(name), KeyStore.bucketEncryptionKey(name), bucketPolicyKey(name),
         publicAccessBlockKey(name), CORSRecord.key(bucket: name), bucketACLKey(name), ownershipKey(name)]
    }

    public func headBucket(_ name: String) throws(StoreError) -> BucketInfo {
        try Validation.checkBucketName(name)
        return try read { txn in
            guard let record = try index.bucket(txn, name) else {
                throw StoreError(.noSuchBucket, "The specified bucket does not exist")
            }
            return BucketInfo(name: name, createdMilliseconds: record.createdMilliseconds,
                              owner: record.owner.isEmpty ? nil : record.owner)
        }
    }

    public func listBuckets() throws(StoreError) -> [BucketInfo] {
        try read { txn in
            var result: [BucketInfo] = []
            try txn.scan(index.buckets, from: []) { key, value in
                let record = try BucketRecord(decoding: value)
                result.append(BucketInfo(name: String(decoding: key, as: UTF8.self),
                                         createdMilliseconds: record.createdMilliseconds,
                                         owner: record.owner.isEmpty ? nil : record.owner))
                return true
            }
            return result
        }
    }

    /// Deletes an empty bucket; `BucketNotEmpty` otherwise.
    public func deleteBucket(_ name: String) async throws(StoreError) {
        try Validation.checkBucketName(name)
        try await mutate { [index] txn in
            try index.requireBucket(txn, name)
            let prefix = IndexKey.objectPrefix(bucket: name)
            var empty = true
            try txn.scan(index.objects, from: prefix) { key, _ in
                empty = !key.starts(with: prefix)
                return false
            }
            guard empty else {
                throw StoreError(.bucketNotEmpty, "The bucket you tried to delete is not empty")
            }
            guard try !index.hasHistory(txn, bucket: name) else {
                throw StoreError(.bucketNotEmpty, "The bucket you tried to delete is not empty. You must delete all versions in the bucket.")
            }
            for key in Self.bucketSettingKeys(name) { _ = try txn.delete(index.meta, key) }
            try txn.delete(index.buckets, Array(name.utf8))
        }
    }
}

// MARK: - Transactions with engine errors

extension ObjectStore {
    /// A read snapshot; every error comes out as a `StoreError`. Registered with the reader
    /// gate, so compaction does not unlink a segment this transaction might still find
    /// extents in (pin mappings inside `body`), and `close()` waits for it.
    func read<R>(_ body: (borrowing ReadTransaction) throws -> R) throws(StoreError) -> R {
        // Enter before checking: `close()` sets `isClosed`, then waits for every reader
        // that entered, so a read that passed the check finishes before the index closes.
        let epoch = readers.enter()
        defer { readers.leave(epoch) }
        guard !isClosed.withLock({ $0 }) else { throw StoreError(.closed, "The store is closed") }
        do { return try indexBackend.read(body) } catch { throw StoreError.wrapping(error, "index read") }
    }

    /// `read`, on a Dispatch thread when the index backend's reads block (a network round
    /// trip), inline otherwise.
    func readOffLoop<R: Sendable>(_ body: @escaping @Sendable (borrowing ReadTransaction) throws -> R) async throws(StoreError) -> R {
        try await offLoop { try $0.read(body) }
    }

    /// Runs `call` off the caller's thread whatever the backend: for walks of the whole
    /// index (the admin views' counts), which would hold an event loop too long even over LMDB.
    public func offLoopAlways<R: Sendable>(_ call: @escaping @Sendable (ObjectStore) throws -> R) async throws(StoreError) -> R {
        do {
            return try await BlockingIO.run(blockingLane) { [self] in try call(self) }
        } catch {
            throw StoreError.wrapping(error, "index read")
        }
    }

    /// Runs a synchronous call of this store that reads the index (HEAD, GET's lookup, a
    /// LIST page, the checks before an upload) where waiting is allowed: inline when index
    /// reads are memory reads (LMDB, about a microsecond), on a `BlockingIO` thread when each
    /// is a network round trip (etcd), so that no event loop waits on etcd.
    public func offLoop<R: Sendable>(_ call: @escaping @Sendable (ObjectStore) throws -> R) async throws(StoreError) -> R {
        do {
            guard indexBackend.readsBlock else { return try call(self) }
            return try await BlockingIO.runWaiting { [self] in try call(self) }
        } catch {
            throw StoreError.wrapping(error, "index read")
        }
    }

    /// Fails unless the store can serve: open, and in cluster mode the index and the
    /// blob pool each answered one round trip (a linearizable etcd read, a RADOS stat).
    /// Readiness probes call it; it waits as long as those round trips do.
    public func probe() async throws(StoreError) {
        guard !isClosed.withLock({ $0 }) else { throw StoreError(.closed, "The store is closed") }
        guard indexBackend.readsBlock else { return }
        _ = try await readOffLoop { [index] txn in try txn.get(index.meta, Array("probe".utf8)) }
        do { try await BlockingIO.runWaiting { [blobs] in try blobs.probe() } } catch {
            throw StoreError.wrapping(error, "probing the blob pool")
        }
    }

    /// How many independent items (DeleteObjects keys, an abort's parts) one mutation
    /// takes when the index backend limits a transaction's size: an eighth of the limit,
    /// each item costing a few changed and checked keys. Nil: all in one.
    var itemsPerMutation: Int? { indexBackend.maxChangesPerMutation.map { max(1, $0 / 8) } }

    /// Where a write's chunk work runs: its blob backend's writes wait on the network in
    /// cluster mode (RADOS acknowledgements), on the disk otherwise.
    var blockingLane: BlockingIO.Lane { indexBackend.readsBlock ? .network : .disk }

    /// A mutation in the next group commit; every error comes out as a `StoreError`.
    /// `durable`: the blob containers holding bytes the mutation will reference (I3).
    func mutate<R: Sendable>(durable containers: Set<UInt64> = [],
                             _ body: @escaping Mutation<R>) async throws(StoreError) -> R {
        do { return try await indexBackend.mutate(durable: DurabilityBarrier(containers: containers), body) } catch {
            throw StoreError.wrapping(error, "index write")
        }
    }
}
