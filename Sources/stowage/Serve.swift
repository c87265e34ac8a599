import ArgumentParser
import Foundation
import Logging
import Metrics
import NIOCore
import NIOPosix
import Prometheus
import Stowage
import StowageS3

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve a data directory over the S3 API.")

    /// Used when no credentials are given, and printed at start-up: for development only.
    static let developmentAccessKey = "stowage-dev"
    static let developmentSecretKey = "stowage-dev-secret"

    @Option(help: "YAML configuration file whose keys are these flags' names (or STOWAGE_CONFIG); flags and STOWAGE_* environment variables override it.")
    var config: String?

    @Flag(help: "Check the configuration (file, environment, flags, TLS files, credentials), print the effective settings and every mistake, and exit.")
    var checkConfig = false

    @Option(help: "Data directory, created if missing (default ./data).")
    var data: String?

    @Option(help: "Address to listen on (default 127.0.0.1).")
    var address: String?

    @Option(help: "Port to listen on; 0 picks a free one (default 9000).")
    var port: Int?

    @Option(help: "Access key (or STOWAGE_ACCESS_KEY).")
    var accessKey: String?

    @Option(help: "Secret key (or STOWAGE_SECRET_KEY).")
    var secretKey: String?

    @Option(help: "File of credentials, one 'ACCESS_KEY SECRET_KEY' pair per line ('#' starts a comment).")
    var credentialsFile: String?

    @Option(help: "Region in the credential scope (default us-east-1).")
    var region: String?

    @Option(help: "Base domain for virtual-hosted-style requests, BUCKET.<domain> (default localhost).")
    var domain: String?

    @Option(help: "strict (the default: data and index synced before answering) or relaxed (no syncs; tests and benchmarks).")
    var durability: String?

    @Option(help: "Log level: trace, debug, info (default), notice, warning, error, critical.")
    var logLevel: String?

    @Option(help: "Log format: text (key=value fields, the default) or json (one JSON object per line).")
    var logFormat: String?

    @Option(help: "A request whose response head takes at least this many milliseconds is logged as slow, at notice level (default 1000).")
    var slowRequestMs: Int?

    @Option(help: "PEM certificate chain: serve HTTPS (with --tls-key). SIGHUP reloads both files without dropping connections.")
    var tlsCert: String?

    @Option(help: "PEM private key of --tls-cert.")
    var tlsKey: String?

    @Option(help: "File holding the 32-byte master key (raw, 64 hex digits or base64) that seals SSE-S3 data keys and the SSE-KMS key store; without one (nor --master-key), SSE-S3 and SSE-KMS are refused.")
    var masterKeyFile: String?

    @Option(help: "The master key itself, as 64 hex digits or base64 (or STOWAGE_MASTER_KEY); prefer --master-key-file.")
    var masterKey: String?

    @Option(help: "Bearer token a scrape of /metrics must send (or STOWAGE_METRICS_TOKEN); without one, only loopback peers may scrape.")
    var metricsToken: String?

    @Option(help: "Seconds between SIGTERM/SIGINT and the start of the graceful shutdown, while /-/ready answers 503 'closing' and requests are still served (default 0). A second signal skips the rest.")
    var shutdownDelay: Int?

    @OptionGroup var compaction: CompactionFlags

    @Option(help: "Seconds between background compaction passes; 0: no background compaction (default 60).")
    var compactionInterval: Int?

    @Option(help: "Size of new segment files in MiB (default: the size of the newest segment, or 1024).")
    var segmentSize: UInt64?

    @Option(help: "Seconds between lifecycle passes, which apply the buckets' lifecycle rules; 0: none (default 600).")
    var lifecycleInterval: Int?

    @Option(help: "Length in seconds of a lifecycle rule's day (default 86400; tests shorten it).")
    var lifecycleDaySeconds: Int?

    @OptionGroup(title: "Cluster mode (instead of --data: the index in etcd, the bytes in Ceph RADOS)")
    var cluster: ClusterFlags

    func run() async throws {
        let settings = ServeSettings(self)
        if checkConfig {
            print(settings.layers.report())
            if settings.layers.problems.isEmpty {
                print("configuration OK")
                return
            }
            print("\(settings.layers.problems.count) mistake(s):")
            settings.layers.problems.forEach { print("  - " + $0) }
            throw ExitCode(2)
        }
        try settings.layers.check()
        // Swift Concurrency's jobs run on the server's NIO event loops instead of Dispatch's
        // cooperative pool (NIO's documented take-over; `any()` keeps a job on the loop that
        // resumed it). A request's task and its connection then share a thread, so reading
        // the request and writing the answer no longer cross threads twice per request.
        // Blocking work never runs on a task: disk and network waits go to `BlockingIO`'s
        // threads, index reads inline are LMDB memory reads.
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        if settings.logFormat == "json" {
            LoggingSystem.bootstrap { JSONLogHandler(label: $0) }
        } else {
            LoggingSystem.bootstrap { TextLogHandler(label: $0) }
        }
        // Before the store opens: the engine's metric handles are made at first use.
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        var logger = Logger(label: "stowage")
        logger.logLevel = settings.logLevel
        var options = StoreOptions()
        options.durability = settings.durability
        options.logger = logger
        options.masterKey = settings.masterKey
        let store: ObjectStore
        let served: String
        if let cluster = settings.cluster {
            store = try ObjectStore.openCluster(cluster, options: options)
            store.startClusterMaintenance(grace: cluster.deletionGrace)
            served = "the cluster (etcd \(cluster.etcdEndpoints.joined(separator: ",")), RADOS pool \(cluster.radosPool))"
        } else {
            options.segmentCapacityBytes = try segmentCapacity(settings.segmentSize, data: settings.data)
            store = try ObjectStore(directory: settings.data, options: options)
            // The first pass runs at once: it also deletes segment files a crash left unreferenced.
            if settings.compactionInterval > 0 {
                store.startCompaction(settings.compaction, interval: .seconds(settings.compactionInterval))
            }
            served = settings.data
        }
        if settings.lifecycleInterval > 0 {
            store.startLifecycle(interval: .seconds(settings.lifecycleInterval),
                                 dayMilliseconds: Int64(settings.lifecycleDaySeconds) * 1000)
        }
        var configuration = S3ServerConfiguration(credentials: S3Credentials(settings.credentials, region: settings.region))
        configuration.address = settings.address
        configuration.port = settings.port
        configuration.baseDomain = settings.domain
        configuration.slowRequest = .milliseconds(settings.slowRequestMs)
        configuration.metrics = MetricsExport(registry: registry, token: settings.metricsToken)
        configuration.tls = settings.tls
        configuration.served = served
        configuration.shutdownDelay = .seconds(settings.shutdownDelay)
        let reloader = settings.tls.map { Self.reloadOnSIGHUP($0, logger: logger) }
        defer { reloader?.cancel() }
        let (address, isDevelopment) = (settings.address, settings.isDevelopment)
        let effectiveDurability = store.options.durability.rawValue
        let scheme = settings.tls == nil ? "http" : "https"
        let app = S3Server.application(store: store, configuration: configuration, logger: logger) { port in
            print("Stowage serving \(served) at \(scheme)://\(address):\(port) (durability: \(effectiveDurability))")
            if isDevelopment {
                print("Development credentials: access key \(Self.developmentAccessKey), secret key \(Self.developmentSecretKey)")
                print("Try: AWS_ACCESS_KEY_ID=\(Self.developmentAccessKey) AWS_SECRET_ACCESS_KEY=\(Self.developmentSecretKey) aws --endpoint-url \(scheme)://\(address):\(port) s3 ls")
            }
            fflush(nil)
        }
        do {
            try await S3Server.run(app, configuration: configuration, logger: logger)
        } catch {
            await store.shutDown()
            throw error
        }
        await store.shutDown()
        logger.info("store closed cleanly")
    }

    /// SIGHUP reads the certificate and key again; new connections get them, open ones
    /// keep theirs. A failed reload keeps the old pair and says why.
    private static func reloadOnSIGHUP(_ tls: ReloadableTLS, logger: Logger) -> DispatchSourceSignal {
        signal(SIGHUP, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        source.setEventHandler {
            do {
                try tls.reload()
                logger.notice("TLS certificate reloaded from \(tls.certificatePath)")
            } catch {
                logger.error("TLS reload failed, still serving the previous certificate: \(error)")
            }
        }
        source.resume()
        return source
    }
}
