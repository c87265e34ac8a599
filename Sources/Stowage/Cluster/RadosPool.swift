import CRados
import Glibc

/// A failed librados call: the call and its (negated) errno.
struct RadosError: Error, Sendable, CustomStringConvertible {
    let operation: String
    let code: Int32

    var description: String {
        "RADOS \(operation) failed: \(String(cString: strerror(code))) (errno \(code))"
    }

    /// Whether the cluster could not be reached in time (a lost OSD or monitor quorum):
    /// the S3 layer answers 503 for these.
    var isUnavailable: Bool { code == ETIMEDOUT || code == ENOTCONN || code == ESHUTDOWN || code == EAGAIN }

    /// The pool or the cluster is full (or over its quota): writes are refused, deletions
    /// still work (the I/O context is in full-try mode).
    var isFull: Bool { code == ENOSPC || code == EDQUOT }
}

/// One connection to a Ceph cluster and an I/O context on one pool, through librados' C
/// API. librados is thread-safe: one handle serves every thread of the process.
final class RadosPool: @unchecked Sendable {
    private let cluster: rados_t
    let io: rados_ioctx_t
    let pool: String

    /// - Parameters:
    ///   - configuration: a ceph.conf (monitor addresses, auth).
    ///   - pool: the pool objects go to; it must exist.
    ///   - operationTimeoutSeconds: how long one operation may wait for an OSD or monitor
    ///     before it fails (librados waits forever by default).
    init(configuration: String, pool: String, user: String? = nil, operationTimeoutSeconds: Int = 30) throws(RadosError) {
        var handle: rados_t?
        var code = rados_create(&handle, user)
        guard code == 0, let handle else { throw RadosError(operation: "create", code: -code) }
        code = rados_conf_read_file(handle, configuration)
        guard code == 0 else {
            rados_shutdown(handle)
            throw RadosError(operation: "reading \(configuration)", code: -code)
        }
        for (option, value) in [("rados_osd_op_timeout", "\(operationTimeoutSeconds)"),
                                ("rados_mon_op_timeout", "\(operationTimeoutSeconds)"),
                                ("client_mount_timeout", "\(operationTimeoutSeconds)")] {
            _ = rados_conf_set(handle, option, value)
        }
        code = rados_connect(handle)
        guard code == 0 else {
            rados_shutdown(handle)
            throw RadosError(operation: "connect", code: -code)
        }
        var context: rados_ioctx_t?
        code = rados_ioctx_create(handle, pool, &context)
        guard code == 0, let context else {
            rados_shutdown(handle)
            throw RadosError(operation: "opening pool \(pool)", code: -code)
        }
        // Full-try: with the pool or cluster marked full, an operation is sent all the same
        // and either succeeds (a deletion) or fails at once with ENOSPC/EDQUOT (a write).
        // Without it librados holds every operation — deletions too — until the pool is no
        // longer full or the operation times out, so the deletion queue, the only thing
        // that could free space, could never drain: a full pool stayed full.
        rados_set_pool_full_try(context)
        cluster = handle
        io = context
        self.pool = pool
    }

    deinit {
        rados_ioctx_destroy(io)
        rados_shutdown(cluster)
    }

    /// Starts writing `bytes` at `offset` of object `name` (librados copies them first);
    /// wait for the returned write to know it is committed on every replica.
    func startWrite(_ name: String, _ bytes: UnsafeRawBufferPointer, offset: UInt64) throws(RadosError) -> PendingWrite {
        var completion: rados_completion_t?
        var code = rados_aio_create_completion2(nil, nil, &completion)
        guard code == 0, let completion else { throw RadosError(operation: "aio completion", code: -code) }
        code = rados_aio_write(io, name, completion, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), bytes.count, offset)
        guard code == 0 else {
            rados_aio_release(completion)
            throw RadosError(operation: "write \(name)", code: -code)
        }
        return PendingWrite(name: name, completion: completion)
    }

    /// An asynchronous write in flight.
    final class PendingWrite: @unchecked Sendable {
        let name: String
        private let completion: rados_completion_t
        private var released = false

        init(name: String, completion: rados_completion_t) {
            self.name = name
            self.completion = completion
        }

        /// Blocks until the write is committed on every replica; throws its failure.
        func wait() throws(RadosError) {
            rados_aio_wait_for_complete(completion)
            let code = rados_aio_get_return_value(completion)
            guard code >= 0 else { throw RadosError(operation: "write \(name)", code: -code) }
        }

        deinit {
            // librados needs the operation finished before its completion is released.
            rados_aio_wait_for_complete(completion)
            rados_aio_release(completion)
        }
    }

    /// Reads up to `buffer.count` bytes at `offset`; returns how many there were.
    func read(_ name: String, into buffer: UnsafeMutableRawBufferPointer, offset: UInt64) throws(RadosError) -> Int {
        let code = EngineMetrics.timed(EngineMetrics.radosCall("read")) {
            rados_read(io, name, buffer.baseAddress?.assumingMemoryBound(to: CChar.self), buffer.count, offset)
        }
        guard code >= 0 else {
            EngineMetrics.radosError("read").increment()
            throw RadosError(operation: "read \(name)", code: -code)
        }
        return Int(code)
    }

    /// Removes object `name`; false when it was not there.
    func remove(_ name: String) throws(RadosError) -> Bool {
        let code = EngineMetrics.timed(EngineMetrics.radosCall("remove")) { rados_remove(io, name) }
        if code == -ENOENT { return false }
        guard code == 0 else {
            EngineMetrics.radosError("remove").increment()
            throw RadosError(operation: "remove \(name)", code: -code)
        }
        return true
    }

    /// The object's size and last modification (seconds since 1970), or nil when it
    /// does not exist.
    func stat(_ name: String) throws(RadosError) -> (size: UInt64, modifiedSeconds: Int)? {
        var size: UInt64 = 0
        var modified: time_t = 0
        let code = rados_stat(io, name, &size, &modified)
        if code == -ENOENT { return nil }
        guard code == 0 else { throw RadosError(operation: "stat \(name)", code: -code) }
        return (size, Int(modified))
    }

    /// Names of every object in the pool whose name starts with `prefix`.
    func names(prefix: String) throws(RadosError) -> [String] {
        var context: rados_list_ctx_t?
        var code = rados_nobjects_list_open(io, &context)
        guard code == 0, let context else { throw RadosError(operation: "list", code: -code) }
        defer { rados_nobjects_list_close(context) }
        var result: [String] = []
        while true {
            var entry: UnsafePointer<CChar>?
            code = rados_nobjects_list_next(context, &entry, nil, nil)
            if code == -ENOENT { break }
            guard code == 0, let entry else { throw RadosError(operation: "list", code: -code) }
            let name = String(cString: entry)
            if name.hasPrefix(prefix) { result.append(name) }
        }
        return result
    }
}
