import CLMDB

/// A result code from liblmdb, named as in `lmdb.h` so that `catch` reads like the C docs.
/// `MDB_NOTFOUND` never surfaces as an error: lookups return nil instead.
struct LMDBError: Error, Equatable, Sendable, CustomStringConvertible {
    let code: Int32
    let operation: String

    static let keyExists: Int32 = MDB_KEYEXIST
    static let notFound: Int32 = MDB_NOTFOUND
    static let mapFull: Int32 = MDB_MAP_FULL
    static let readersFull: Int32 = MDB_READERS_FULL
    static let corrupted: Int32 = MDB_CORRUPTED

    var description: String {
        "\(operation): \(String(cString: mdb_strerror(code))) (\(code))"
    }

    /// Throws unless `rc` is `MDB_SUCCESS`.
    @inline(__always)
    static func check(_ rc: Int32, _ operation: @autoclosure () -> String) throws(LMDBError) {
        if rc != MDB_SUCCESS { throw LMDBError(code: rc, operation: operation()) }
    }
}
