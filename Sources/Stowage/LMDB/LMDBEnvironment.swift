import CLMDB
import Foundation
import Synchronization

/// One LMDB environment: the object index. Owns the `MDB_env` and its table handles.
///
/// `@unchecked Sendable` because `MDB_env` is documented thread-safe; what is not — a
/// write transaction — is only begun by the store's single writer thread (`write` is
/// called from nowhere else), and read transactions are `MDB_NOTLS` so any thread may
/// use one (lmdb.h: "A thread may use parallel read-only transactions… with MDB_NOTLS").
final class LMDBEnvironment: IndexSnapshots, @unchecked Sendable {
    private let env: OpaquePointer

    /// The map's size and the bytes of it in use (pages up to the last one written).
    var usage: (mapBytes: UInt64, usedBytes: UInt64) {
        var info = MDB_envinfo()
        var stat = MDB_stat()
        guard mdb_env_info(env, &info) == 0, mdb_env_stat(env, &stat) == 0 else { return (0, 0) }
        return (UInt64(info.me_mapsize), UInt64(info.me_last_pgno + 1) * UInt64(stat.ms_psize))
    }
    private let readerPool = Mutex(ReaderPool())
    private var closed = false

    /// `MDB_dbi` of each table the environment was opened with, by `Table.id`.
    let dbis: [MDB_dbi]

    /// - Parameters:
    ///   - mapSizeBytes: the map's size. LMDB's file grows sparsely up to it; a write that
    ///     would pass it fails with `MDB_MAP_FULL`, which the store reports as `indexFull`.
    ///   - syncOnCommit: false sets `MDB_NOSYNC` (the `relaxed` durability mode).
    ///   - readOnly: `MDB_RDONLY`, for verifying a directory another process may be writing
    ///     (lmdb.h: "Open the environment in read-only mode. No write operations will be
    ///     allowed"). The tables must already exist; none is created.
    init(path: String, tables: [Table], minimumKeyBytes: Int, mapSizeBytes: Int, maxReaders: UInt32,
         syncOnCommit: Bool, readOnly: Bool = false) throws {
        var handle: OpaquePointer?
        try LMDBError.check(mdb_env_create(&handle), "mdb_env_create")
        guard let handle else { throw LMDBError(code: EINVAL, operation: "mdb_env_create") }
        env = handle
        do {
            try LMDBError.check(mdb_env_set_maxdbs(env, MDB_dbi(tables.count)), "mdb_env_set_maxdbs")
            try LMDBError.check(mdb_env_set_mapsize(env, mapSizeBytes), "mdb_env_set_mapsize")
            try LMDBError.check(mdb_env_set_maxreaders(env, maxReaders), "mdb_env_set_maxreaders")
            // MDB_NOTLS: read transactions move between threads of a pool.
            // MDB_NORDAHEAD: the index is random-access; read-ahead only evicts useful pages.
            var flags = UInt32(MDB_NOTLS | MDB_NORDAHEAD)
            if !syncOnCommit { flags |= UInt32(MDB_NOSYNC) }
            if readOnly { flags |= UInt32(MDB_RDONLY) }
            try LMDBError.check(mdb_env_open(env, path, flags, 0o644), "mdb_env_open \(path)")
            // The caller's key layout needs keys this long (the objects table's slots: 511,
            // liblmdb's default MDB_MAXKEYSIZE).
            guard mdb_env_get_maxkeysize(env) >= Int32(minimumKeyBytes) else {
                throw LMDBError(code: MDB_BAD_VALSIZE, operation: "liblmdb is built with keys shorter than \(minimumKeyBytes) bytes")
            }
            dbis = try Self.openTables(env, tables, readOnly: readOnly)
        } catch {
            mdb_env_close(env)
            throw error
        }
    }

    private static func openTables(_ env: OpaquePointer, _ tables: [Table], readOnly: Bool) throws -> [MDB_dbi] {
        // A read-only transaction commits too: lmdb.h, mdb_dbi_open: "After a successful
        // commit the handle will reside in the shared environment".
        try LMDBAccess.withTransaction(env: env, parent: nil, flags: readOnly ? UInt32(MDB_RDONLY) : 0, "open") { txn in
            try tables.map { table in
                var dbi = MDB_dbi()
                try LMDBError.check(mdb_dbi_open(txn, table.name, readOnly ? 0 : UInt32(MDB_CREATE), &dbi),
                                    "mdb_dbi_open \(table.name)")
                return dbi
            }
        }
    }

    /// Runs `body` in a read-only snapshot. Values it sees are valid only inside it.
    func read<R>(_ body: (borrowing ReadTransaction) throws -> R) throws -> R {
        let txn = try beginRead()
        defer {
            mdb_txn_reset(txn)
            readerPool.withLock { $0.idle.append(txn) }
        }
        return try body(ReadTransaction(snapshot: LMDBAccess(txn: txn, dbis: dbis)))
    }

    private func beginRead() throws(LMDBError) -> OpaquePointer {
        if let pooled = readerPool.withLock({ $0.idle.popLast() }) {
            let rc = mdb_txn_renew(pooled)
            if rc == MDB_SUCCESS { return pooled }
            mdb_txn_abort(pooled)
        }
        var txn: OpaquePointer?
        try LMDBError.check(mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &txn), "mdb_txn_begin(read)")
        return txn!
    }

    /// Runs `body` in a write transaction: commits when it returns, aborts when it throws.
    /// Only one thread at a time calls this (the group-commit writer, or opening/repair
    /// before it runs).
    func write<R>(_ body: (borrowing WriteTransaction) throws -> R) throws -> R {
        try LMDBAccess.withTransaction(env: env, parent: nil, flags: 0, "write") { txn in
            try body(WriteTransaction(access: LMDBAccess(txn: txn, dbis: dbis)))
        }
    }

    /// Flushes the environment to disk (used at close in relaxed mode).
    func sync() throws(LMDBError) {
        try LMDBError.check(mdb_env_sync(env, 1), "mdb_env_sync")
    }

    /// Closes the environment. No transaction may be open (lmdb.h: "Only a single thread
    /// may call this function. All transactions, databases, and cursors must already be
    /// closed before calling this function").
    func close() {
        guard !closed else { return }
        closed = true
        readerPool.withLock { pool in
            for txn in pool.idle { mdb_txn_abort(txn) }
            pool.idle.removeAll()
        }
        mdb_env_close(env)
    }

    deinit { close() }
}

/// Reset read transactions waiting to be renewed (lmdb.h: "mdb_txn_reset… the reader
/// table slot is kept… mdb_txn_renew() may reuse the handle").
/// `@unchecked Sendable`: a reset `MDB_NOTLS` transaction belongs to no thread, and the
/// pool is only touched under its mutex.
private struct ReaderPool: @unchecked Sendable {
    var idle: [OpaquePointer] = []
}
