import CLMDB

/// A live LMDB transaction, lent to a closure by `LMDBEnvironment.read`/`write`.
///
/// `~Copyable` and only ever borrowed, so it cannot escape the closure that begins and ends
/// it. lmdb.h: "Values returned from the database are valid only until a subsequent update
/// operation, or the end of the transaction" — so every accessor either copies or hands the
/// bytes to a closure that must finish with them.
struct Transaction: ~Copyable {
    fileprivate let txn: OpaquePointer

    init(txn: OpaquePointer) { self.txn = txn }

    /// The value stored under `key`, copied out; nil when absent.
    func get(_ table: Table, _ key: [UInt8]) throws -> [UInt8]? {
        try withValue(table, key) { Array($0) }
    }

    /// Lends the stored value to `body` without copying; nil when absent.
    func withValue<R>(_ table: Table, _ key: [UInt8],
                      _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R? {
        let handle = txn
        var data = MDB_val()
        let rc: Int32 = key.withUnsafeBytes { keyBytes in
            var k = MDB_val(mv_size: keyBytes.count, mv_data: UnsafeMutableRawPointer(mutating: keyBytes.baseAddress))
            return mdb_get(handle, table.dbi, &k, &data)
        }
        if rc == MDB_NOTFOUND { return nil }
        try LMDBError.check(rc, "mdb_get")
        return try body(UnsafeRawBufferPointer(start: data.mv_data, count: data.mv_size))
    }

    /// Stores `value` under `key`. With `noOverwrite`, returns false (and writes nothing)
    /// when the key already exists.
    @discardableResult
    func put(_ table: Table, _ key: [UInt8], _ value: [UInt8], noOverwrite: Bool = false) throws(LMDBError) -> Bool {
        let handle = txn
        let flags = noOverwrite ? UInt32(MDB_NOOVERWRITE) : 0
        let rc: Int32 = key.withUnsafeBytes { keyBytes in
            value.withUnsafeBytes { valueBytes in
                var k = MDB_val(mv_size: keyBytes.count, mv_data: UnsafeMutableRawPointer(mutating: keyBytes.baseAddress))
                var v = MDB_val(mv_size: valueBytes.count, mv_data: UnsafeMutableRawPointer(mutating: valueBytes.baseAddress))
                return mdb_put(handle, table.dbi, &k, &v, flags)
            }
        }
        if rc == MDB_KEYEXIST && noOverwrite { return false }
        try LMDBError.check(rc, "mdb_put")
        return true
    }

    /// Deletes `key`; false when it was not there.
    @discardableResult
    func delete(_ table: Table, _ key: [UInt8]) throws(LMDBError) -> Bool {
        let handle = txn
        let rc: Int32 = key.withUnsafeBytes { keyBytes in
            var k = MDB_val(mv_size: keyBytes.count, mv_data: UnsafeMutableRawPointer(mutating: keyBytes.baseAddress))
            return mdb_del(handle, table.dbi, &k, nil)
        }
        if rc == MDB_NOTFOUND { return false }
        try LMDBError.check(rc, "mdb_del")
        return true
    }

    /// Walks keys in byte order from the first key ≥ `start`, lending each pair to `body`
    /// until it returns false or the table ends.
    func scan(_ table: Table, from start: [UInt8],
              _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) throws {
        var cursor: OpaquePointer?
        try LMDBError.check(mdb_cursor_open(txn, table.dbi, &cursor), "mdb_cursor_open")
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

    /// Runs `body` in a nested write transaction: its writes join this one when it returns
    /// and vanish when it throws, leaving the parent as it was. Group commit uses this to
    /// apply each queued mutation all-or-nothing inside one shared transaction.
    func nested<R>(_ body: (borrowing Transaction) throws -> R) throws -> R {
        var child: OpaquePointer?
        try LMDBError.check(mdb_txn_begin(mdb_txn_env(txn), txn, 0, &child), "mdb_txn_begin(nested)")
        let result: R
        do {
            result = try body(Transaction(txn: child!))
        } catch {
            mdb_txn_abort(child)
            throw error
        }
        // A failed commit has already freed the transaction: never abort after it.
        try LMDBError.check(mdb_txn_commit(child), "mdb_txn_commit(nested)")
        return result
    }

    /// Number of records in `table`.
    func count(_ table: Table) throws(LMDBError) -> Int {
        var stat = MDB_stat()
        try LMDBError.check(mdb_stat(txn, table.dbi, &stat), "mdb_stat")
        return stat.ms_entries
    }
}
