import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import ServiceLifecycle
import Synchronization
import Stowage

/// The S3 endpoint over an open store.
public struct S3ServerConfiguration: Sendable {
    public var address: String = "127.0.0.1"
    public var port: Int = 9000
    public var credentials: S3Credentials
    /// Host names `BUCKET.<baseDomain>` are virtual-hosted-style requests.
    public var baseDomain: String = "localhost"
    /// A connection idle this long (no request, no body bytes) is closed.
    public static let idleTimeoutSeconds: Int64 = 300
    /// A request whose response head takes this long is logged as slow.
    public var slowRequest: Duration = .seconds(1)
    /// `/metrics`, when the process exports its swift-metrics to Prometheus.
    public var metrics: MetricsExport?
    /// HTTPS instead of HTTP when set.
    public var tls: ReloadableTLS?
    /// Readiness, connections and uptime; the admin views read it, `run` closes it.
    public var state = ServerState()
    /// What the store is, in words, for the admin views (a directory, or the cluster).
    public var served = ""
    /// Between SIGTERM/SIGINT and the graceful shutdown, `/-/ready` answers 503 "closing"
    /// while requests are still served, so that load balancers stop sending first.
    public var shutdownDelay: Duration = .zero

    public init(credentials: S3Credentials) {
        self.credentials = credentials
    }
}

public enum S3Server {
    /// The Hummingbird application serving `store`. Run it with `runService()`; it stops
    /// gracefully on SIGINT/SIGTERM (in-flight requests finish).
    public static func application(store: ObjectStore, configuration: S3ServerConfiguration,
                                   logger: Logger,
                                   onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        let state = configuration.state
        // Users' keys come from the store, through a cache the responder fills off the
        // event loop before it verifies a request.
        let keys = AccessKeyCache(store: store)
        var credentials = configuration.credentials
        credentials.directory = { keys.cached($0) }
        let responder = S3Responder(store: store, authenticator: S3Authenticator(credentials: credentials), keys: keys,
                                    baseDomain: configuration.baseDomain.lowercased(),
                                    region: configuration.credentials.region,
                                    hostID: Data(S3Responder.makeRequestID().utf8).base64EncodedString(),
                                    state: state, served: configuration.served, slowRequest: configuration.slowRequest,
                                    metrics: configuration.metrics, secure: configuration.tls != nil)
        let http1 = HTTP1Channel.Configuration(additionalChannelHandlers: [ExpectContinueHandler()],
                                               idleTimeout: .seconds(S3ServerConfiguration.idleTimeoutSeconds))
        let server: HTTPServerBuilder
        if let tls = configuration.tls {
            server = HTTPServerBuilder { responder in
                CountedChannel(base: ReloadableTLSChannel(base: HTTP1Channel(responder: responder, configuration: http1), tls: tls),
                               state: state)
            }
        } else {
            server = HTTPServerBuilder { responder in
                CountedChannel(base: HTTP1Channel(responder: responder, configuration: http1), state: state)
            }
        }
        return Application(responder: responder,
                           server: server,
                           configuration: ApplicationConfiguration(address: .hostname(configuration.address, port: configuration.port),
                                                                   serverName: "Stowage"),
                           services: [ReadinessProber(store: store, readiness: state.readiness)]
                               + (configuration.metrics == nil ? [] : [StoreGauges(store: store)]),
                           onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? configuration.port) },
                           logger: logger)
    }

    /// Runs `app` until SIGTERM or SIGINT, then: readiness "closing" at once, requests
    /// still served for `configuration.shutdownDelay` (a second signal cuts it short), then
    /// Hummingbird's graceful shutdown (no new connections, in-flight requests finish).
    public static func run(_ app: some ApplicationProtocol, configuration: S3ServerConfiguration, logger: Logger) async throws {
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: logger))
        let signals = Mutex(0)
        let sources = [SIGTERM, SIGINT].map { number -> DispatchSourceSignal in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                let count = signals.withLock { $0 += 1; return $0 }
                let delay = configuration.shutdownDelay
                configuration.state.readiness.beginClosing()
                if count == 1 && delay > .zero {
                    logger.notice("shutting down in \(delay.seconds) s: /-/ready answers 503 until then, requests are still served")
                    Task {
                        try? await Task.sleep(for: delay)
                        await group.triggerGracefulShutdown()
                    }
                } else {
                    logger.notice("shutting down: in-flight requests finish, new connections are refused")
                    Task { await group.triggerGracefulShutdown() }
                }
            }
            source.resume()
            return source
        }
        defer { sources.forEach { $0.cancel() } }
        try await group.run()
    }
}
