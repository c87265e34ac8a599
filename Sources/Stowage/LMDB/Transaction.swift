import CLMDB
import Glibc

/// The index seam's access to one live LMDB transaction (`IndexMutationAccess`): a
/// read-only one is only ever lent as a `ReadTransaction`, so it is never written to.
///
/// lmdb.h: "Values returned from the database are valid only until a subsequent update
/// operation, or the end of the transaction" — so every accessor either copies or hands the
/// bytes to a closure that must finish with them.
struct LMDBAccess: IndexMutationAccess {
    let txn: OpaquePointer
    /// `MDB_dbi` of each `Table`, by `Table.id`.
    let dbis: [MDB_dbi]

    func withValue<R>(_ table: Table, _ key: [UInt8], _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R? {
        let handle = txn
        let dbi = dbis[table.id]
        var data = MDB_val()
        let rc: Int32 = key.withUnsafeBytes { keyBytes in
            var k = MDB_val(mv_size: keyBytes.count, mv_data: UnsafeMutableRawPointer(mutating: keyBytes.baseAddress))
            return mdb_get(handle, dbi, &k, &data)
        }
        if rc == MDB_NOTFOUND { return nil }
        try LMDBError.check(rc, "mdb_get")
        return try body(UnsafeRawBufferPointer(start: data.mv_data, count: data.mv_size))
    }

    func put(_ table: Table, _ key: [UInt8], _ value: [UInt8], noOverwrite: Bool) throws -> Bool {
        let handle = txn
        let dbi = dbis[table.id]
        let flags = noOverwrite ? UInt32(MDB_NOOVERWRITE) : 0
        let rc: Int32 = key.withUnsafeBytes { keyBytes in
            value.withUnsafeBytes { valueBytes in
                var k = MDB_val(mv_size: keyBytes.count, mv_data: UnsafeMutableRawPointer(mutating: keyBytes.baseAddress))
                var v = MDB_val(mv_size: valueBytes.count, mv_data: UnsafeMutableRawPointer(mutating: valueBytes.baseAddress))
                return mdb_put(handle, dbi, &k, &v, flags)
            }
        }
        if rc == MDB_KEYEXIST && noOverwrite { return false }
        try LMDBError.check(rc, "mdb_put")
        return true
    }

    func delete(_ table: Table, _ key: [UInt8]) throws -> Bool {
        let handle = txn
        let dbi = dbis[table.id]
        let rc: Int32 = key.withUnsafeBytes { keyBytes in
            var k = MDB_val(mv_size: keyBytes.count, mv_data: UnsafeMutableRawPointer(mutating: keyBytes.baseAddress))
            return mdb_del(handle, dbi, &k, nil)
        }
        if rc == MDB_NOTFOUND { return false }
        try LMDBError.check(rc, "mdb_del")
        return true
    }

    func scan(_ table: Table, from start: [UInt8],
              _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) throws {
        var cursor: OpaquePointer?
        try LMDBError.check(mdb_cursor_open(txn, dbis[table.id], &cursor), "mdb_cursor_open")
        defer { mdb_cursor_close(cursor) }
        var key = MDB_val()
        var value = MDB_val()
        var rc: Int32 = start.withUnsafeBytes { startBytes in
            key = MDB_val(mv_size: startBytes.count, mv_data: UnsafeMutableRawPointer(mutating: startBytes.baseAddress))
            return mdb_cursor_get(cursor, &key, &value, start.isEmpty ? MDB_FIRST : MDB_SET_RANGE)
        }
        while rc == MDB_SUCCESS {
            let more = try body(UnsafeRawBufferPointer(start: key.mv_data, count: key.mv_size),
                                UnsafeRawBufferPointer(start: value.mv_data, count: value.mv_size))
            if !more { return }
            rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)
        }
        if rc != MDB_NOTFOUND { try LMDBError.check(rc, "mdb_cursor_get") }
    }

    /// A nested write transaction: group commit applies each queued mutation
    /// all-or-nothing inside one shared transaction this way.
    func nested<R>(_ body: (any IndexMutationAccess) throws -> R) throws -> R {
        try Self.withTransaction(env: mdb_txn_env(txn), parent: txn, flags: 0, "nested") { child in
            try body(LMDBAccess(txn: child, dbis: dbis))
        }
    }

    func count(_ table: Table) throws -> Int {
        var stat = MDB_stat()
        try LMDBError.check(mdb_stat(txn, dbis[table.id], &stat), "mdb_stat")
        return stat.ms_entries
    }

    /// lmdb.h's rules for a transaction's life, in one place: begin; commit when `body`
    /// returns, abort when it throws; and never abort after a failed commit ("the
    /// transaction handle is freed… even if the commit fails").
    static func withTransaction<R>(env: OpaquePointer, parent: OpaquePointer?, flags: UInt32, _ what: String,
                                   _ body: (OpaquePointer) throws -> R) throws -> R {
        var txn: OpaquePointer?
        try LMDBError.check(mdb_txn_begin(env, parent, flags, &txn), "mdb_txn_begin(\(what))")
        guard let txn else { throw LMDBError(code: EINVAL, operation: "mdb_txn_begin(\(what))") }
        let result: R
        do {
            result = try body(txn)
        } catch {
            mdb_txn_abort(txn)
            throw error
        }
        try LMDBError.check(mdb_txn_commit(txn), "mdb_txn_commit(\(what))")
        return result
    }
}
