import Foundation
import ArgumentParser
import Stowage

/// `serve`'s cluster-mode options: with `--etcd`, the store is a cluster's (etcd index,
/// RADOS bytes) and `--data` is not used.
struct ClusterFlags: ParsableArguments {
    @Option(help: "etcd client endpoints, comma-separated (http://127.0.0.1:2379,...): serve the cluster whose index is there.")
    var etcd: String?

    @Option(help: "Prefix of the store's keys in etcd.")
    var etcdPrefix = "stowage/"

    @Option(help: "The etcd cluster's --max-txn-ops: the most keys one change may touch (a larger prefix rename is refused, nothing moved).")
    var etcdMaxTxnOps = 128

    @Option(help: "Milliseconds one etcd request may take before the S3 request is answered 503.")
    var etcdTimeoutMs: Int64 = 5_000

    @Option(help: "The ceph.conf of the cluster holding the bytes.")
    var cephConf: String?

    @Option(help: "The RADOS pool the bytes go to (it must exist).")
    var radosPool = "stowage"

    @Option(help: "Seconds a released RADOS object is kept before it is deleted (readers that found it finish first).")
    var deletionGrace = 60

    /// Nil without `--etcd` (embedded mode).
    func configuration() throws -> ClusterConfiguration? {
        guard let etcd else {
            guard cephConf == nil else { throw ValidationError("--ceph-conf needs --etcd (cluster mode)") }
            return nil
        }
        let endpoints = etcd.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !endpoints.isEmpty else { throw ValidationError("--etcd needs at least one endpoint") }
        guard let cephConf else { throw ValidationError("cluster mode needs --ceph-conf (the ceph.conf of the RADOS cluster)") }
        guard etcdMaxTxnOps >= 16 else { throw ValidationError("--etcd-max-txn-ops must be at least 16") }
        guard deletionGrace >= 0 else { throw ValidationError("--deletion-grace must be 0 or more") }
        var configuration = ClusterConfiguration(etcdEndpoints: endpoints, cephConfiguration: cephConf, radosPool: radosPool)
        configuration.etcdPrefix = etcdPrefix
        configuration.etcdMaxTxnOperations = etcdMaxTxnOps
        configuration.etcdTimeoutMilliseconds = etcdTimeoutMs
        configuration.deletionGrace = .seconds(deletionGrace)
        return configuration
    }
}
