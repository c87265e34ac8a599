import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import Stowage
import StowageS3

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve a data directory over the S3 API.")

    /// Used when no credentials are given, and printed at start-up: for development only.
    static let developmentAccessKey = "stowage-dev"
    static let developmentSecretKey = "stowage-dev-secret"

    @Option(help: "Data directory (created if missing).")
    var data = "./data"

    @Option(help: "Address to listen on.")
    var address = "127.0.0.1"

    @Option(help: "Port to listen on (0 picks a free one).")
    var port = 9000

    @Option(help: "Access key (or STOWAGE_ACCESS_KEY).")
    var accessKey: String?

    @Option(help: "Secret key (or STOWAGE_SECRET_KEY).")
    var secretKey: String?

    @Option(help: "File of credentials, one 'ACCESS_KEY SECRET_KEY' pair per line ('#' starts a comment).")
    var credentialsFile: String?

    @Option(help: "Region in the credential scope.")
    var region = "us-east-1"

    @Option(help: "Base domain for virtual-hosted-style requests (BUCKET.<domain>).")
    var domain = "localhost"

    @Option(help: "strict (default: data and index synced before answering) or relaxed (no syncs; tests and benchmarks).")
    var durability: String = Durability.strict.rawValue

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    @Option(help: "Log format: text (key=value fields) or json (one JSON object per line).")
    var logFormat = "text"

    @Option(help: "A request whose response head takes at least this many milliseconds is logged as slow (at notice level).")
    var slowRequestMs = 1000

    @Option(help: "PEM certificate chain: serve HTTPS (with --tls-key). SIGHUP reloads both files without dropping connections.")
    var tlsCert: String?

    @Option(help: "PEM private key of --tls-cert.")
    var tlsKey: String?

    @Option(help: "Bearer token a scrape of /metrics must send (or STOWAGE_METRICS_TOKEN); without one, only loopback peers may scrape.")
    var metricsToken: String?

    @OptionGroup var compaction: CompactionFlags

    @Option(help: "Seconds between background compaction passes (0: no background compaction).")
    var compactionInterval = 60

    @Option(help: "Size of new segment files in MiB (default: the size of the newest segment, or 1024).")
    var segmentSize: UInt64?

    @OptionGroup(title: "Cluster mode (instead of --data: the index in etcd, the bytes in Ceph RADOS)")
    var cluster: ClusterFlags

    func run() async throws {
        guard let durability = Durability(rawValue: durability) else {
            throw ValidationError("--durability must be strict or relaxed")
        }
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
        switch logFormat {
        case "text": break
        case "json": LoggingSystem.bootstrap { JSONLogHandler(label: $0) }
        default: throw ValidationError("--log-format must be text or json")
        }
        guard slowRequestMs >= 0 else { throw ValidationError("--slow-request-ms must be 0 or more") }
        let token = metricsToken ?? ProcessInfo.processInfo.environment["STOWAGE_METRICS_TOKEN"]
        if let token, token.isEmpty || token.contains(where: \.isWhitespace) {
            throw ValidationError("--metrics-token must be non-empty, without spaces")
        }
        let tls: ReloadableTLS?
        switch (tlsCert, tlsKey) {
        case (nil, nil): tls = nil
        case let (certificate?, key?):
            do { tls = try ReloadableTLS(certificatePath: certificate, keyPath: key) } catch {
                throw ValidationError("cannot use --tls-cert \(certificate) / --tls-key \(key): \(error)")
            }
        default: throw ValidationError("--tls-cert and --tls-key go together")
        }
        // Before the store opens: the engine's metric handles are made at first use.
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        var logger = Logger(label: "stowage")
        logger.logLevel = level
        let (credentials, isDevelopment) = try loadCredentials()
        var options = StoreOptions()
        options.durability = durability
        options.logger = logger
        guard compactionInterval >= 0 else { throw ValidationError("--compaction-interval must be 0 or more") }
        let store: ObjectStore
        let served: String
        if let configuration = try cluster.configuration() {
            store = try ObjectStore.openCluster(configuration, options: options)
            store.startClusterMaintenance(grace: configuration.deletionGrace)
            served = "the cluster (etcd \(configuration.etcdEndpoints.joined(separator: ",")), RADOS pool \(configuration.radosPool))"
        } else {
            options.segmentCapacityBytes = try segmentCapacity(segmentSize, data: data)
            let compactionOptions = try compaction.options()
            store = try ObjectStore(directory: data, options: options)
            // The first pass runs at once: it also deletes segment files a crash left unreferenced.
            if compactionInterval > 0 { store.startCompaction(compactionOptions, interval: .seconds(compactionInterval)) }
            served = data
        }
        var configuration = S3ServerConfiguration(credentials: S3Credentials(credentials, region: region))
        configuration.address = address
        configuration.port = port
        configuration.baseDomain = domain
        configuration.slowRequest = .milliseconds(slowRequestMs)
        configuration.metrics = MetricsExport(registry: registry, token: token)
        configuration.tls = tls
        let reloader = tls.map { Self.reloadOnSIGHUP($0, logger: logger) }
        defer { reloader?.cancel() }
        let address = self.address
        let data = served
        let effectiveDurability = store.options.durability.rawValue
        let scheme = tls == nil ? "http" : "https"
        let app = S3Server.application(store: store, configuration: configuration, logger: logger) { port in
            print("Stowage serving \(data) at \(scheme)://\(address):\(port) (durability: \(effectiveDurability))")
            if isDevelopment {
                print("Development credentials: access key \(Self.developmentAccessKey), secret key \(Self.developmentSecretKey)")
                print("Try: AWS_ACCESS_KEY_ID=\(Self.developmentAccessKey) AWS_SECRET_ACCESS_KEY=\(Self.developmentSecretKey) aws --endpoint-url \(scheme)://\(address):\(port) s3 ls")
            }
            fflush(nil)
        }
        do {
            try await app.runService()
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

    /// Flags, then the environment, then a credentials file; with none, the development pair.
    private func loadCredentials() throws -> ([String: String], isDevelopment: Bool) {
        let environment = ProcessInfo.processInfo.environment
        var pairs: [String: String] = [:]
        if let access = accessKey ?? environment["STOWAGE_ACCESS_KEY"] {
            guard let secret = secretKey ?? environment["STOWAGE_SECRET_KEY"] else {
                throw ValidationError("an access key needs a secret key (--secret-key or STOWAGE_SECRET_KEY)")
            }
            pairs[access] = secret
        }
        if let credentialsFile {
            let text = try String(contentsOfFile: credentialsFile, encoding: .utf8)
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let content = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0]
                let fields = content.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == ":" })
                if fields.isEmpty { continue }
                guard fields.count == 2 else {
                    throw ValidationError("\(credentialsFile):\(number + 1): expected 'ACCESS_KEY SECRET_KEY'")
                }
                pairs[String(fields[0])] = String(fields[1])
            }
        }
        if pairs.isEmpty { return ([Self.developmentAccessKey: Self.developmentSecretKey], true) }
        return (pairs, false)
    }
}
