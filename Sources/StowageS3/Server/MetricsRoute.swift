import Foundation
import Synchronization
import HTTPTypes
import Hummingbird
import Metrics
import NIOCore
import Prometheus
import ServiceLifecycle
import Stowage
import StowageChecksums

/// Where `/metrics` is served from, and who may read it.
public struct MetricsExport: Sendable {
    /// The registry the process bootstrapped swift-metrics with (`PrometheusMetricsFactory`).
    public let registry: PrometheusCollectorRegistry
    /// When set, a scrape must send `Authorization: Bearer <token>`, from anywhere; when
    /// nil, only loopback peers may scrape.
    public let token: String?

    public init(registry: PrometheusCollectorRegistry, token: String?) {
        self.registry = registry
        self.token = token
    }
}

/// `GET /metrics` in Prometheus' text format. A path-style request that is not signed
/// (no SigV4 `Authorization`, no `X-Amz-Signature`) is the exporter's; a signed one is
/// S3's — a ListObjects of a bucket named `metrics`.
enum MetricsRoute {
    static let path = "/metrics"

    static func answer(_ request: Request, path requestPath: String, remote: SocketAddress?, baseDomain: String,
                       export: MetricsExport?) -> Response? {
        guard let export, requestPath == path, request.method == .get || request.method == .head else { return nil }
        let authorization = request.headers[.authorization]
        if authorization?.hasPrefix("AWS") == true || request.uri.queryParameters["X-Amz-Signature"] != nil
            || request.uri.queryParameters["Signature"] != nil {
            return nil
        }
        guard S3Request.isPathStyle(request, baseDomain: baseDomain) else { return nil }
        switch access(remote: remote, authorization: authorization, token: export.token) {
        case .allowed:
            var buffer: [UInt8] = []
            export.registry.emit(into: &buffer)
            return plainText(.ok, ByteBuffer(bytes: buffer), head: request.method == .head,
                             contentType: "text/plain; version=0.0.4; charset=utf-8", extra: [.cacheControl: "no-store"])
        case .needsToken:
            return plainText(.unauthorized, ByteBuffer(string: "a bearer token is required\n"), extra: [.wwwAuthenticate: "Bearer"])
        case .notLoopback:
            return plainText(.forbidden, ByteBuffer(string: "metrics are served to loopback peers only (or start the server with --metrics-token)\n"))
        }
    }

    enum Access: Equatable { case allowed, needsToken, notLoopback }

    /// The access rule: with a token, exactly `Bearer <token>`; without, a loopback peer.
    static func access(remote: SocketAddress?, authorization: String?, token: String?) -> Access {
        if let token {
            guard let authorization, authorization.hasPrefix("Bearer "),
                  constantTimeEqual(Array(authorization.utf8.dropFirst(7)), Array(token.utf8)) else { return .needsToken }
            return .allowed
        }
        return isLoopback(remote) ? .allowed : .notLoopback
    }

    static func isLoopback(_ address: SocketAddress?) -> Bool {
        switch address {
        case .v4(let v4):
            return UInt32(bigEndian: v4.address.sin_addr.s_addr) >> 24 == 127
        case .v6(let v6):
            var loopback = in6addr_loopback
            var address = v6.address.sin6_addr
            if memcmp(&address, &loopback, MemoryLayout<in6_addr>.size) == 0 { return true }
            // ::ffff:127.x.y.z
            let bytes = withUnsafeBytes(of: &address) { Array($0) }
            return bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xFF && bytes[11] == 0xFF && bytes[12] == 127
        case .unixDomainSocket:
            return true
        default:
            return false
        }
    }

    private static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}

/// Per-request metrics, by operation (botocore's name, or `-` before one is known).
enum RequestMetrics {
    static let inFlight = Meter(label: "stowage_requests_in_flight")

    static func record(_ line: RequestLine, nanoseconds: Int64) {
        let handles = handles(line.operation ?? "-", status: line.status)
        handles.requests.increment()
        handles.duration.recordNanoseconds(nanoseconds)
        if line.bytesIn > 0 { handles.received.increment(by: line.bytesIn) }
        if line.bytesOut > 0 { handles.sent.increment(by: line.bytesOut) }
    }

    /// One operation's metric handles, made once: asking the metrics factory for them on
    /// every request (a registry lookup by label and dimensions each) was ~1.7 % of a 4 KiB
    /// GET load.
    private struct Handles {
        let requests: Metrics.Counter
        let duration: Metrics.Timer
        let received: Metrics.Counter
        let sent: Metrics.Counter
    }

    private static let made = Mutex<[OperationStatus: Handles]>([:])

    private struct OperationStatus: Hashable {
        let operation: String
        let status: Int
    }

    private static func handles(_ operation: String, status: Int) -> Handles {
        let key = OperationStatus(operation: operation, status: status)
        if let known = made.withLock({ $0[key] }) { return known }
        let fresh = Handles(
            requests: Metrics.Counter(label: "stowage_requests_total", dimensions: [("operation", operation), ("status", String(status))]),
            duration: Metrics.Timer(label: "stowage_request_duration_seconds", dimensions: [("operation", operation)]),
            received: Metrics.Counter(label: "stowage_received_bytes_total", dimensions: [("operation", operation)]),
            sent: Metrics.Counter(label: "stowage_sent_bytes_total", dimensions: [("operation", operation)]))
        return made.withLock { made in
            // Operations and statuses are finite sets; the bound only guards against a bug.
            if made.count >= 4096 { made.removeAll() }
            if let raced = made[key] { return raced }
            made[key] = fresh
            return fresh
        }
    }
}

/// Hummingbird's basic context plus the peer's address (the metrics route's loopback rule).
public struct S3RequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    /// The connection, for the `100 Continue` sent after authentication.
    let channel: (any Channel)?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
        channel = source.channel
    }
}

/// The store's space, index and compaction figures as gauges, refreshed every
/// `interval` from `ObjectStore.stats()` (one read of the segment records; off the event
/// loop in cluster mode, where there are no segments and the figures stay 0).
struct StoreGauges: Service {
    static let interval: Duration = .seconds(5)
    let store: ObjectStore

    private static let segments = Gauge(label: "stowage_segments")
    private static let capacity = Gauge(label: "stowage_space_capacity_bytes")
    private static let live = Gauge(label: "stowage_space_live_bytes")
    private static let dead = Gauge(label: "stowage_space_dead_bytes")
    private static let free = Gauge(label: "stowage_space_free_bytes")
    private static let indexMap = Gauge(label: "stowage_index_map_bytes")
    private static let indexUsed = Gauge(label: "stowage_index_used_bytes")
    private static let passes = Gauge(label: "stowage_compaction_passes")
    private static let retired = Gauge(label: "stowage_compaction_segments_retired")
    private static let moved = Gauge(label: "stowage_compaction_moved_bytes")
    private static let reclaimed = Gauge(label: "stowage_compaction_reclaimed_bytes")
    /// What `MD5Lanes` did since start: runs of an upload's blocks handed to it, those
    /// hashed entirely on their caller's thread (nothing else was being hashed), rounds
    /// hashed, and those with more than one upload in the lanes at once.
    private static let md5Runs = Gauge(label: "stowage_md5_lane_runs")
    private static let md5SoloRuns = Gauge(label: "stowage_md5_lane_solo_runs")
    private static let md5Rounds = Gauge(label: "stowage_md5_lane_rounds")
    private static let md5SharedRounds = Gauge(label: "stowage_md5_lane_shared_rounds")

    func run() async throws {
        await cancelWhenGracefulShutdown { [store] in
            while !Task.isCancelled {
                if let stats = try? await store.offLoop({ try $0.stats() }) { Self.publish(stats) }
                Self.publish(MD5Lanes.shared.counts)
                try? await Task.sleep(for: Self.interval)
            }
        }
    }

    static func publish(_ stats: StoreStats) {
        segments.record(stats.segments)
        capacity.record(stats.capacityBytes)
        live.record(stats.liveBytes)
        dead.record(stats.deadBytes)
        free.record(stats.capacityBytes - min(stats.capacityBytes, stats.liveBytes + stats.deadBytes))
        indexMap.record(stats.indexMapBytes)
        indexUsed.record(stats.indexUsedBytes)
        passes.record(stats.compactionPasses)
        retired.record(stats.segmentsRetired)
        moved.record(stats.bytesMoved)
        reclaimed.record(stats.bytesReclaimed)
    }

    static func publish(_ lanes: MD5Lanes.Counters) {
        md5Runs.record(lanes.runs)
        md5SoloRuns.record(lanes.soloRuns)
        md5Rounds.record(lanes.rounds)
        md5SharedRounds.record(lanes.sharedRounds)
    }
}
