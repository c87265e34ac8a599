import AsyncHTTPClient
import Dispatch
import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// What went wrong talking to etcd.
struct EtcdError: Error, Sendable, CustomStringConvertible {
    enum Kind: Sendable {
        /// No member answered (connection refused, timed out, no leader, quorum lost).
        case unavailable
        /// The request may or may not have been applied (the connection failed after it
        /// was sent): never re-run blindly.
        case ambiguous
        /// etcd refused the request as too big (`--max-txn-ops`, `--max-request-bytes`).
        case tooLarge
        /// A read at a revision etcd has compacted away: read again at a newer one.
        case compacted
        /// Anything else etcd answered with an error.
        case refused
    }
    let kind: Kind
    let message: String

    var description: String { "etcd: \(message)" }
}

/// A client of etcd's v3 JSON gateway (`POST /v3/kv/...`, keys and values base64, int64
/// as strings), over async-http-client on an event loop of its own. Calls block the
/// calling thread, which must not be that event loop's (index reads and mutations run
/// on `BlockingIO` threads).
///
/// Failover: a request goes to the member that last answered; a member that cannot be
/// reached is skipped for the next one. Reads are safe to send again anywhere; a
/// transaction is sent to another member only when it never left (the connection could
/// not be made) — after that it is `ambiguous` and the caller decides.
final class EtcdClient: Sendable {
    let endpoints: [String]
    let timeout: TimeAmount
    private let group: MultiThreadedEventLoopGroup
    private let http: HTTPClient
    private let preferred = Atomic<Int>(0)

    init(endpoints: [String], timeout: TimeAmount = .seconds(5)) {
        precondition(!endpoints.isEmpty)
        self.endpoints = endpoints.map { $0.hasPrefix("http") ? $0 : "http://" + $0 }
        self.timeout = timeout
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .milliseconds(500), read: timeout)
        configuration.connectionPool.idleTimeout = .seconds(60)
        // A refused connection fails at once: failing over to the next member is ours to
        // do. (async-http-client's default retries with backoff until the connect timeout,
        // which made every call pay half a second per dead member.)
        configuration.connectionPool.retryConnectionEstablishment = false
        http = HTTPClient(eventLoopGroupProvider: .shared(group), configuration: configuration)
    }

    func shutdown() {
        try? http.syncShutdown()
        try? group.syncShutdownGracefully()
    }

    /// POSTs `body` to `/v3/PATH` and returns the decoded answer.
    func call(_ path: String, _ body: [String: Any], idempotent: Bool) throws(EtcdError) -> [String: Any] {
        let payload: Data
        do { payload = try JSONSerialization.data(withJSONObject: body) } catch {
            throw EtcdError(kind: .refused, message: "encoding a request: \(error)")
        }
        let first = preferred.load(ordering: .relaxed)
        var failures: [EtcdError] = []
        for step in 0..<endpoints.count {
            let index = (first + step) % endpoints.count
            do {
                let answer = try send(endpoints[index] + "/v3/" + path, payload)
                if index != first { preferred.store(index, ordering: .relaxed) }
                return answer
            } catch {
                guard error.kind == .unavailable || (idempotent && error.kind == .ambiguous) else { throw error }
                failures.append(error)
            }
        }
        // Nothing was applied (a transaction that may have been is thrown above as
        // ambiguous). Every member's reason, so that "no leader" on one is not hidden
        // behind a refused connection on the next.
        throw EtcdError(kind: .unavailable, message: failures.map(\.message).joined(separator: "; "))
    }

    private func send(_ url: String, _ payload: Data) throws(EtcdError) -> [String: Any] {
        let request: HTTPClient.Request
        do {
            // `hasleader` (gRPC metadata, passed through by the gateway) makes a member
            // without a leader refuse at once with "no leader" instead of holding the
            // request until its own timeout (7 s): a lost quorum is answered in
            // milliseconds, and a member cut off from the others is skipped.
            request = try HTTPClient.Request(url: url, method: .POST,
                                             headers: ["Content-Type": "application/json", "Grpc-Metadata-hasleader": "true"],
                                             body: .data(payload))
        } catch {
            throw EtcdError(kind: .refused, message: "bad endpoint \(url): \(error)")
        }
        let call = String(url[url.range(of: "/v3/")!.upperBound...])
        do {
            return try EngineMetrics.timed(EngineMetrics.etcdCall(call)) { () throws(EtcdError) in try exchange(request, url: url) }
        } catch {
            EngineMetrics.etcdError("\(error.kind)").increment()
            throw error
        }
    }

    private func exchange(_ request: HTTPClient.Request, url: String) throws(EtcdError) -> [String: Any] {
        let outcome = Mutex<Result<HTTPClient.Response, Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        http.execute(request: request, deadline: .now() + timeout).whenComplete { result in
            outcome.withLock { $0 = result }
            done.signal()
        }
        done.wait()
        let response: HTTPClient.Response
        switch outcome.withLock({ $0! }) {
        case .success(let value): response = value
        case .failure(let error): throw Self.classify(error, url: url)
        }
        let bytes = response.body.map { Data($0.readableBytesView) } ?? Data()
        let decoded = (try? JSONSerialization.jsonObject(with: bytes)) as? [String: Any] ?? [:]
        guard response.status == .ok else {
            let message = (decoded["message"] as? String) ?? (decoded["error"] as? String) ?? "HTTP \(response.status.code)"
            throw Self.classify(message: message, status: Int(response.status.code))
        }
        return decoded
    }

    private static func classify(_ error: Error, url: String) -> EtcdError {
        if let error = error as? HTTPClientError,
           error == .connectTimeout || error == .getConnectionFromPoolTimeout {
            return EtcdError(kind: .unavailable, message: "\(url): \(error)")
        }
        if error is NIOConnectionError {
            return EtcdError(kind: .unavailable, message: "\(url): \(error)")
        }
        if case ChannelError.connectTimeout = error {
            return EtcdError(kind: .unavailable, message: "\(url): \(error)")
        }
        if let error = error as? NIOCore.IOError, [ECONNREFUSED, EHOSTUNREACH, ENETUNREACH].contains(error.errnoCode) {
            return EtcdError(kind: .unavailable, message: "\(url): \(error)")
        }
        return EtcdError(kind: .ambiguous, message: "\(url): \(error)")
    }

    private static func classify(message: String, status: Int) -> EtcdError {
        if message.contains("too many operations") || message.contains("request is too large") {
            return EtcdError(kind: .tooLarge, message: message)
        }
        if message.contains("compacted") { return EtcdError(kind: .compacted, message: message) }
        if message.contains("no leader") || message.contains("leader changed") || message.contains("timed out")
            || message.contains("unhealthy cluster") || message.contains("not capable") || status == 503 {
            // The gateway answers these once the request was received: it may still apply.
            return EtcdError(kind: status == 503 && message.contains("no leader") ? .unavailable : .ambiguous, message: message)
        }
        return EtcdError(kind: .refused, message: message)
    }
}

/// etcd's JSON encodings.
enum EtcdJSON {
    static func encode(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }

    static func decode(_ value: Any?) -> [UInt8] {
        guard let text = value as? String, let data = Data(base64Encoded: text) else { return [] }
        return [UInt8](data)
    }

    /// int64 fields arrive as strings (and are omitted when zero).
    static func int(_ value: Any?) -> Int64 {
        if let text = value as? String { return Int64(text) ?? 0 }
        if let number = value as? NSNumber { return number.int64Value }
        return 0
    }
}
