import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
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
        let readiness = Readiness()
        let responder = S3Responder(store: store, verifier: SigV4Verifier(credentials: configuration.credentials),
                                    baseDomain: configuration.baseDomain.lowercased(),
                                    region: configuration.credentials.region,
                                    hostID: Data(S3Responder.makeRequestID().utf8).base64EncodedString(),
                                    readiness: readiness, slowRequest: configuration.slowRequest,
                                    metrics: configuration.metrics)
        let http1 = HTTP1Channel.Configuration(additionalChannelHandlers: [ExpectContinueHandler()],
                                               idleTimeout: .seconds(S3ServerConfiguration.idleTimeoutSeconds))
        let server: HTTPServerBuilder
        if let tls = configuration.tls {
            server = HTTPServerBuilder { responder in
                ReloadableTLSChannel(base: HTTP1Channel(responder: responder, configuration: http1), tls: tls)
            }
        } else {
            server = .http1(configuration: http1)
        }
        return Application(responder: responder,
                           server: server,
                           configuration: ApplicationConfiguration(address: .hostname(configuration.address, port: configuration.port),
                                                                   serverName: "Stowage"),
                           services: [ReadinessProber(store: store, readiness: readiness)]
                               + (configuration.metrics == nil ? [] : [StoreGauges(store: store)]),
                           onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? configuration.port) },
                           logger: logger)
    }
}
