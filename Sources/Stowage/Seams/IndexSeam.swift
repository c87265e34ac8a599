import Glibc

/// The index seam: what every store operation needs of its index, and nothing of how a
/// backend provides it (docs/ARCHITECTURE.md, "The seams").
///
/// An index is a set of ordered tables of byte keys and byte values. Reads happen in a
/// consistent snapshot (`ReadTransaction`); changes happen in mutations
/// (`WriteTransaction`), each applied all-or-nothing. Two kinds of backend fit:
///
/// - a **single writer** (LMDB): mutations run one after another on one thread, each in a
///   nested transaction of a shared, group-committed one. A mutation runs exactly once.
/// - an **optimistic** one (etcd's compare-and-swap transactions, FoundationDB): a mutation
///   runs against a snapshot, its reads are checked at commit, and when another writer
///   changed what it read it runs again from the start.
///
/// So the re-run rule: **a mutation is a pure function of what it reads.** Everything that
/// is not in the index — the clock, new random ids (upload ids), client tokens, request
/// parameters — is decided before the mutation is submitted and captured by its closure.
/// A mutation may throw to refuse (nothing it wrote is kept); it must not have effects
/// outside its transaction. `MutationScope` traps a clock read inside a mutation in debug
/// builds, and the conflict-injecting test backend runs every mutation more than once.

/// One of the index's tables. Backends map it to their own namespace (an LMDB database
/// handle, an etcd key prefix).
struct Table: Sendable, Hashable {
    let id: Int
    let name: String
}

/// What a backend lends a transaction: reads of one consistent snapshot. Values lent to
/// `body` are valid only inside it.
protocol IndexSnapshotAccess {
    func withValue<R>(_ table: Table, _ key: [UInt8], _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R?
    /// Walks keys in byte order from the first key ≥ `start`, until `body` returns false.
    func scan(_ table: Table, from start: [UInt8],
              _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) throws
    func count(_ table: Table) throws -> Int
}

/// A mutation's view: its snapshot's reads, seeing its own writes, and the writes.
protocol IndexMutationAccess: IndexSnapshotAccess {
    /// With `noOverwrite`, returns false (and writes nothing) when the key exists.
    func put(_ table: Table, _ key: [UInt8], _ value: [UInt8], noOverwrite: Bool) throws -> Bool
    /// False when the key was not there.
    func delete(_ table: Table, _ key: [UInt8]) throws -> Bool
    /// Runs `body` in a child: its writes join this transaction when it returns and
    /// vanish when it throws.
    func nested<R>(_ body: (any IndexMutationAccess) throws -> R) throws -> R
}

/// Reads, for both kinds of transaction: helpers that only read take
/// `borrowing some IndexReading & ~Copyable`.
protocol IndexReading: ~Copyable {
    var snapshot: any IndexSnapshotAccess { get }
}

extension IndexReading where Self: ~Copyable {
    /// The value stored under `key`, copied out; nil when absent.
    func get(_ table: Table, _ key: [UInt8]) throws -> [UInt8]? {
        try snapshot.withValue(table, key) { Array($0) }
    }

    /// Lends the stored value to `body` without copying; nil when absent.
    func withValue<R>(_ table: Table, _ key: [UInt8], _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R? {
        try snapshot.withValue(table, key, body)
    }

    func scan(_ table: Table, from start: [UInt8],
              _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) throws {
        try snapshot.scan(table, from: start, body)
    }

    /// Number of records in `table`.
    func count(_ table: Table) throws -> Int {
        try snapshot.count(table)
    }
}

/// A read snapshot, lent to a closure by `IndexBackend.read`. `~Copyable` and only ever
/// borrowed, so it cannot escape; it has no way to write.
struct ReadTransaction: ~Copyable, IndexReading {
    let snapshot: any IndexSnapshotAccess
}

/// A mutation's transaction, lent to a closure by `IndexBackend.mutate`.
struct WriteTransaction: ~Copyable, IndexReading {
    let access: any IndexMutationAccess
    var snapshot: any IndexSnapshotAccess { access }

    @discardableResult
    func put(_ table: Table, _ key: [UInt8], _ value: [UInt8], noOverwrite: Bool = false) throws -> Bool {
        try access.put(table, key, value, noOverwrite: noOverwrite)
    }

    @discardableResult
    func delete(_ table: Table, _ key: [UInt8]) throws -> Bool {
        try access.delete(table, key)
    }

    /// Runs `body` in a nested transaction: its writes join this one when it returns and
    /// vanish when it throws, leaving this one as it was.
    func nested<R>(_ body: (borrowing WriteTransaction) throws -> R) throws -> R {
        try access.nested { child in try body(WriteTransaction(access: child)) }
    }
}

/// A mutation as backends receive it: a pure function of what it reads (the re-run rule
/// above).
typealias Mutation<R> = @Sendable (borrowing WriteTransaction) throws -> R

/// Read snapshots of an index (a backend, or an LMDB environment opened read-only).
protocol IndexSnapshots: Sendable {
    /// Runs `body` in a read snapshot.
    func read<R>(_ body: (borrowing ReadTransaction) throws -> R) throws -> R

    /// True when a read waits on the network (etcd): the store runs such reads off the
    /// event loop where it can (`ObjectStore.readOffLoop`). LMDB's reads are memory.
    var readsBlock: Bool { get }
}

extension IndexSnapshots {
    var readsBlock: Bool { false }
}

/// What the engine needs of an index backend. Opening is two steps: reads and `setUp`
/// first (the format, the segments the blob store resumes), then `start`, after which
/// mutations are taken.
protocol IndexBackend: IndexSnapshots {
    /// Starts taking mutations. `makeDurable` makes the bytes in the given blob-seam
    /// containers durable (`BlobBackend.makeDurable`); it is called before every commit
    /// that could reference them.
    func start(makeDurable: @escaping @Sendable (Set<UInt64>) throws -> Void)

    /// Applies `body` all-or-nothing and returns its result once the change is durable.
    /// `durable` is called before the commit that could reference newly written bytes
    /// (I3: data on disk before the index points at it); a backend may share one call
    /// among several mutations (group commit). A mutation may run more than once.
    func mutate<R: Sendable>(durable: DurabilityBarrier, _ body: @escaping Mutation<R>) async throws -> R

    /// A mutation applied at once, on the caller's thread, before any `mutate` (opening).
    func setUp<R>(_ body: (borrowing WriteTransaction) throws -> R) throws -> R

    /// Finishes every queued mutation; later ones are refused as `closed`.
    func stop()

    /// Makes every committed change durable (closing a relaxed store).
    func sync() throws

    /// Releases the backend. No transaction may be running.
    func close()

    /// The most keys one mutation may change (and, separately, check), when the backend
    /// has such a limit (etcd's `--max-txn-ops`); nil: none but memory.
    var maxChangesPerMutation: Int? { get }

    /// A local index's map size and use (LMDB); nil for a remote one.
    var usage: (mapBytes: UInt64, usedBytes: UInt64)? { get }
}

extension IndexBackend {
    var maxChangesPerMutation: Int? { nil }
    var usage: (mapBytes: UInt64, usedBytes: UInt64)? { nil }
}

/// Errors a backend itself reports (the store maps them to `StoreError`).
enum IndexBackendError: Error, Sendable {
    /// A mutation submitted after `stop()`.
    case closed
    /// A mutation the backend never applied (a bug in the backend).
    case notApplied
}

/// What must be durable before a mutation's commit: the blob seam's containers (segment
/// files, RADOS objects) holding bytes the mutation will reference. Backends that commit
/// several mutations together make the union durable once.
struct DurabilityBarrier: Sendable {
    var containers: Set<UInt64> = []
    static let none = DurabilityBarrier()
}

/// Marks the thread that runs a mutation, so that what must be decided before it —
/// the clock above all — cannot be read inside it by mistake (checked in debug builds).
enum MutationScope {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    static var isActive: Bool { pthread_getspecific(key) != nil }

    /// Marks this thread as running a mutation until `leave(_:)` with the token returned.
    static func enter() -> UnsafeMutableRawPointer? {
        let outer = pthread_getspecific(key)
        pthread_setspecific(key, UnsafeRawPointer(bitPattern: 1))
        return outer
    }

    static func leave(_ outer: UnsafeMutableRawPointer?) {
        pthread_setspecific(key, outer)
    }
}
