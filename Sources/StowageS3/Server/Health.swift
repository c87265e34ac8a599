import Foundation
import HTTPTypes
import Hummingbird
import ServiceLifecycle
import Stowage
import Synchronization

/// Liveness and readiness for load balancers and orchestrators, answered without
/// authentication and without touching the store on the request's path:
///
/// - `GET /-/healthy`: 200 while the process serves requests at all.
/// - `GET /-/ready`: 200 once the store has answered a probe and while its latest probe
///   succeeded within `Readiness.patience`; 503 with the reason while starting, closing
///   (graceful shutdown begun), or — in cluster mode — while etcd or RADOS do not answer.
///
/// `-` cannot begin a bucket name, so these paths never shadow an S3 request; a
/// virtual-hosted request (`BUCKET.<domain>/-/ready`) is S3's, a key in that bucket.
enum HealthRoute {
    static let live = "/-/healthy"
    static let ready = "/-/ready"

    static func answer(_ request: Request, path: String, baseDomain: String, readiness: Readiness) -> Response? {
        guard path == live || path == ready, request.method == .get || request.method == .head,
              S3Request.isPathStyle(request, baseDomain: baseDomain) else { return nil }
        let (status, text): (HTTPResponse.Status, String)
        if path == live {
            (status, text) = (.ok, "ok\n")
        } else if Task.isShuttingDownGracefully {
            (status, text) = (.serviceUnavailable, "not ready: closing\n")
        } else if let reason = readiness.notReadyReason() {
            (status, text) = (.serviceUnavailable, "not ready: \(reason)\n")
        } else {
            (status, text) = (.ok, "ready\n")
        }
        return plainText(status, ByteBuffer(string: text), head: request.method == .head, extra: [.cacheControl: "no-store"])
    }
}

/// A plain-text answer of the server's own routes (health, metrics); HEAD gets the
/// headers only.
func plainText(_ status: HTTPResponse.Status, _ body: ByteBuffer, head: Bool = false,
               contentType: String = "text/plain; charset=utf-8", extra: HTTPFields = [:]) -> Response {
    var headers: HTTPFields = [.contentType: contentType]
    headers[.contentLength] = String(body.readableBytes)
    headers.append(contentsOf: extra)
    return Response(status: status, headers: headers, body: head ? ResponseBody() : ResponseBody(byteBuffer: body))
}

/// The store's readiness, kept current by a background prober (`ReadinessProber`) so that
/// `/-/ready` answers from memory: a probe in flight longer than `patience` counts as a
/// failure (a frozen etcd never answers; the probe's own timeout is seconds longer).
public final class Readiness: Sendable {
    static let interval: Duration = .seconds(1)
    static let patience: Duration = .seconds(2)

    private struct State {
        var everSucceeded = false
        var lastFailure: String?
        var inFlightSince: ContinuousClock.Instant?
    }
    private let state = Mutex(State())
    private let closing = Atomic<Bool>(false)

    public init() {}

    /// From now on `/-/ready` answers 503 "closing" (the shutdown delay has begun).
    public func beginClosing() { closing.store(true, ordering: .relaxed) }

    var isClosing: Bool { closing.load(ordering: .relaxed) }

    /// Nil when ready; otherwise why not.
    func notReadyReason() -> String? {
        if isClosing { return "closing" }
        return state.withLock { s in
            if let since = s.inFlightSince, ContinuousClock.now - since > Self.patience {
                return String(format: "the store has not answered a probe for %.1f s", (ContinuousClock.now - since).seconds)
            }
            if let failure = s.lastFailure { return failure }
            return s.everSucceeded ? nil : "starting"
        }
    }

    /// Marks a probe in flight; false when one already is.
    func beginProbe() -> Bool {
        state.withLock { s in
            guard s.inFlightSince == nil else { return false }
            s.inFlightSince = .now
            return true
        }
    }

    /// Runs the probe `beginProbe` marked.
    func probe(_ store: ObjectStore) async {
        let failure: String?
        do {
            try await store.probe()
            failure = nil
        } catch {
            failure = "\(error.code): \(error.message)"
        }
        state.withLock { s in
            s.inFlightSince = nil
            s.lastFailure = failure
            if failure == nil { s.everSucceeded = true }
        }
    }
}

/// Probes the store every `Readiness.interval` for as long as the server runs.
struct ReadinessProber: Service {
    let store: ObjectStore
    let readiness: Readiness

    func run() async throws {
        await cancelWhenGracefulShutdown { [store, readiness] in
            while !Task.isCancelled {
                // Not awaited: a probe hung on an unreachable cluster (up to the backend's
                // timeout) neither delays the next check of it nor a shutdown.
                if readiness.beginProbe() {
                    Task { await readiness.probe(store) }
                }
                try? await Task.sleep(for: Readiness.interval)
            }
        }
    }
}
