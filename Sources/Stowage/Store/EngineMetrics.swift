import Dispatch
import Metrics

/// The engine's metrics, through swift-metrics (`stowage serve` bootstraps a Prometheus
/// backend; anywhere else they go to the no-op handler). Handles are made once, at first
/// use — after the bootstrap, which `serve` does before opening the store.
enum EngineMetrics {
    /// Mutations applied in one group commit (embedded) — one per etcd `Txn` in a cluster.
    static let commitBatchSize = Recorder(label: "stowage_commit_batch_size", aggregate: true)
    /// From the batch's durability barrier to its index commit, inclusive.
    static let commitDuration = Timer(label: "stowage_commit_duration_seconds")
    /// Chunks that failed their XXH3 on a read, or could not be read (I4).
    static let integrityFailures = Counter(label: "stowage_integrity_failures_total")
    /// Objects renamed (RenameObject; a prefix rename counts each key it moved).
    static let renamedObjects = Counter(label: "stowage_renamed_objects_total")

    /// RenameObject requests carrying `x-amz-client-token`, by outcome: `recorded` (applied
    /// and remembered), `replayed` (a retry answered from the token table, nothing moved),
    /// `mismatch` (the token came back with other parameters: 409).
    static func clientTokens(_ outcome: String) -> Counter {
        Counter(label: "stowage_client_tokens_total", dimensions: [("outcome", outcome)])
    }

    /// What lifecycle passes did, by action.
    static func lifecycleActions(_ report: LifecycleReport) {
        for (action, count) in [("expire_object", report.expiredObjects), ("expire_noncurrent", report.expiredNoncurrentVersions),
                                ("remove_delete_marker", report.removedDeleteMarkers), ("abort_upload", report.abortedUploads),
                                ("kept_locked", report.lockedVersionsKept)] where count > 0 {
            Counter(label: "stowage_lifecycle_actions_total", dimensions: [("action", action)]).increment(by: count)
        }
    }

    /// One etcd round trip of the cluster's index, by call (`kv/range`, `kv/txn`).
    static func etcdCall(_ path: String) -> Timer {
        Timer(label: "stowage_etcd_request_duration_seconds", dimensions: [("call", path)])
    }

    /// etcd calls that failed, by what `EtcdError.Kind` they were.
    static func etcdError(_ kind: String) -> Counter {
        Counter(label: "stowage_etcd_errors_total", dimensions: [("kind", kind)])
    }

    /// One synchronous RADOS operation, by operation (`read`, `stat`, `remove`).
    static func radosCall(_ operation: String) -> Timer {
        Timer(label: "stowage_rados_operation_duration_seconds", dimensions: [("operation", operation)])
    }

    /// RADOS operations that failed, by operation.
    static func radosError(_ operation: String) -> Counter {
        Counter(label: "stowage_rados_errors_total", dimensions: [("operation", operation)])
    }

    /// Times `body` into `timer`.
    @inline(__always)
    static func timed<R, E: Error>(_ timer: Timer, _ body: () throws(E) -> R) throws(E) -> R {
        let started = DispatchTime.now().uptimeNanoseconds
        defer { timer.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - started)) }
        return try body()
    }
}
