import Foundation

/// Where a cluster store keeps its index and its bytes.
public struct ClusterConfiguration: Sendable {
    /// etcd client URLs (`http://127.0.0.1:2379`); any member will do, the others are failover.
    public var etcdEndpoints: [String]
    /// Prefix of every index key in etcd: several stores can share one etcd.
    public var etcdPrefix: String = "stowage/"
    /// etcd's `--max-txn-ops` of the cluster: one mutation changes and checks at most this
    /// many keys (a larger prefix rename is refused with 400, nothing moved).
    public var etcdMaxTxnOperations: Int = 128
    /// How long one etcd request may take before it is given up (503).
    public var etcdTimeoutMilliseconds: Int64 = 5_000
    /// The ceph.conf naming the monitors.
    public var cephConfiguration: String
    /// The RADOS pool object bytes go to (it must exist).
    public var radosPool: String
    /// Prefix of every RADOS object name.
    public var radosPrefix: String = "stowage.blob."
    /// How long a RADOS operation may wait for an OSD or monitor before it fails.
    public var radosTimeoutSeconds: Int = 30
    /// How long a released RADOS object is kept after a gateway first sees its deletion
    /// queued: readers that found it before the release finish within it.
    public var deletionGrace: Duration = .seconds(60)

    public init(etcdEndpoints: [String], cephConfiguration: String, radosPool: String) {
        self.etcdEndpoints = etcdEndpoints
        self.cephConfiguration = cephConfiguration
        self.radosPool = radosPool
    }
}

extension ObjectStore {
    /// Opens a gateway's view of a cluster store: the index in etcd, the bytes in RADOS.
    /// Any number of gateways may open the same cluster at once; none keeps state of its
    /// own that matters.
    public static func openCluster(_ cluster: ClusterConfiguration, options: StoreOptions = StoreOptions()) throws(StoreError) -> ObjectStore {
        let pool: RadosPool
        do {
            pool = try RadosPool(configuration: cluster.cephConfiguration, pool: cluster.radosPool,
                                 operationTimeoutSeconds: cluster.radosTimeoutSeconds)
        } catch {
            throw StoreError(.unavailable, "Cannot reach RADOS pool \(cluster.radosPool) (\(cluster.cephConfiguration)): \(error)", cause: error)
        }
        let client = EtcdClient(endpoints: cluster.etcdEndpoints, timeout: .milliseconds(cluster.etcdTimeoutMilliseconds))
        let index = EtcdIndex(client: client, prefix: cluster.etcdPrefix, maxTxnOperations: cluster.etcdMaxTxnOperations)
        let blobs = RadosBlobs(pool: pool, prefix: cluster.radosPrefix)
        do {
            return try ObjectStore(index: index, blobs: blobs,
                                   name: "cluster \(cluster.etcdEndpoints.joined(separator: ",")) / \(cluster.radosPool)",
                                   options: options)
        } catch {
            client.shutdown()
            throw error
        }
    }

    /// The cluster's own background work, every `interval` until the store closes: queued
    /// RADOS deletions past their grace, and expired client tokens (the embedded engine
    /// does both in compaction passes).
    public func startClusterMaintenance(grace: Duration = .seconds(60), interval: Duration = .seconds(5)) {
        guard let rados = blobs as? RadosBlobs, let etcd = indexBackend as? EtcdIndex else { return }
        let task = Task.detached { [self] in
            while !Task.isCancelled {
                do {
                    let deleted = try await rados.sweep(store: self, grace: grace, limit: etcd.maxTxnOperations / 2)
                    let swept = try await sweepExpiredTokens(limit: etcd.maxTxnOperations / 2)
                    if deleted > 0 || swept > 0 {
                        options.logger.info("cluster maintenance: deleted \(deleted) released RADOS objects, swept \(swept) expired tokens")
                    }
                } catch {
                    if (error as? StoreError)?.code == .closed { return }
                    options.logger.error("cluster maintenance: \(error)")
                }
                try? await Task.sleep(for: interval)
            }
        }
        let previous = compaction.background.withLock { t -> Task<Void, Never>? in defer { t = task }; return t }
        previous?.cancel()
    }
}
