import Foundation
import ArgumentParser
import Stowage

/// `serve`'s cluster-mode options: with `--etcd`, the store is a cluster's (etcd index,
/// RADOS bytes) and `--data` is not used.
struct ClusterFlags: ParsableArguments {
    @Option(help: "etcd client endpoints, comma-separated (http://127.0.0.1:2379,...): serve the cluster whose index is there.")
    var etcd: String?

    @Option(help: "Prefix of the store's keys in etcd (default stowage/).")
    var etcdPrefix: String?

    @Option(help: "The etcd cluster's --max-txn-ops: the most keys one change may touch; a larger prefix rename is refused, nothing moved (default 128).")
    var etcdMaxTxnOps: Int?

    @Option(help: "Milliseconds one etcd request may take before the S3 request is answered 503 (default 5000).")
    var etcdTimeoutMs: Int?

    @Option(help: "The ceph.conf of the cluster holding the bytes.")
    var cephConf: String?

    @Option(help: "The RADOS pool the bytes go to; it must exist (default stowage).")
    var radosPool: String?

    @Option(help: "Seconds a released RADOS object is kept before it is deleted, so that readers that found it finish first (default 60).")
    var deletionGrace: Int?

    /// The configuration from these flags alone (`stowage fsck`); nil without `--etcd`.
    func configuration() throws -> ClusterConfiguration? {
        var layers = Settings(configPath: nil, environment: [:])
        let configuration = configuration(&layers)
        try layers.check()
        return configuration
    }

    /// Nil without `etcd` (embedded mode); mistakes go to `layers`.
    func configuration(_ layers: inout Settings) -> ClusterConfiguration? {
        let conf = layers.value("ceph-conf", flag: cephConf)
        let prefix = layers.value("etcd-prefix", flag: etcdPrefix, default: "stowage/")
        let maxOps = layers.value("etcd-max-txn-ops", flag: etcdMaxTxnOps, default: 128)
        let timeout = layers.value("etcd-timeout-ms", flag: etcdTimeoutMs, default: 5_000)
        let pool = layers.value("rados-pool", flag: radosPool, default: "stowage")
        let grace = layers.value("deletion-grace", flag: deletionGrace, default: 60)
        guard let endpoints = layers.value("etcd", flag: etcd.flatMap { [String](setting: $0) }) else {
            if conf != nil { layers.problem("ceph-conf", "needs etcd (cluster mode)") }
            return nil
        }
        layers.require(!endpoints.isEmpty, "etcd", "needs at least one endpoint")
        layers.require(endpoints.allSatisfy { $0.hasPrefix("http://") || $0.hasPrefix("https://") }, "etcd",
                       "each endpoint is a URL: http://HOST:PORT")
        layers.require(maxOps >= 16, "etcd-max-txn-ops", "must be at least 16")
        layers.require(timeout >= 100, "etcd-timeout-ms", "must be at least 100")
        layers.require(grace >= 0, "deletion-grace", "must be 0 or more")
        layers.require(!pool.isEmpty, "rados-pool", "must not be empty")
        guard let conf else {
            layers.problem("etcd", "cluster mode needs ceph-conf (the ceph.conf of the RADOS cluster)")
            return nil
        }
        layers.require(FileManager.default.isReadableFile(atPath: conf), "ceph-conf", "cannot read \(conf)")
        var configuration = ClusterConfiguration(etcdEndpoints: endpoints, cephConfiguration: conf, radosPool: pool)
        configuration.etcdPrefix = prefix
        configuration.etcdMaxTxnOperations = maxOps
        configuration.etcdTimeoutMilliseconds = Int64(timeout)
        configuration.deletionGrace = .seconds(grace)
        return configuration
    }
}
