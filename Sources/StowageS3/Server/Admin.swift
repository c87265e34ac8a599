import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import Metrics
import NIOCore
import Stowage
import Synchronization

/// What the running server knows about itself beyond the store: when it started, its
/// connections and requests, its readiness. Shared by the responder, the admin views and
/// the shutdown sequence.
public final class ServerState: Sendable {
    public let readiness = Readiness()
    let started = Date()
    private let startedInstant = ContinuousClock.now
    private let openConnections = Atomic<Int>(0)
    private let acceptedConnections = Atomic<Int>(0)
    private let inFlight = Atomic<Int>(0)

    static let connectionsOpen = Gauge(label: "stowage_connections_open")
    static let connectionsAccepted = Counter(label: "stowage_connections_accepted_total")

    public init() {}

    var uptime: Duration { ContinuousClock.now - startedInstant }
    var connections: (open: Int, accepted: Int) {
        (openConnections.load(ordering: .relaxed), acceptedConnections.load(ordering: .relaxed))
    }
    var requestsInFlight: Int { inFlight.load(ordering: .relaxed) }

    func connectionOpened() {
        let open = openConnections.add(1, ordering: .relaxed).newValue
        acceptedConnections.add(1, ordering: .relaxed)
        Self.connectionsOpen.record(open)
        Self.connectionsAccepted.increment()
    }

    func connectionClosed() {
        Self.connectionsOpen.record(openConnections.subtract(1, ordering: .relaxed).newValue)
    }

    func requestBegan() {
        inFlight.add(1, ordering: .relaxed)
        RequestMetrics.inFlight.increment()
    }

    func requestEnded() {
        inFlight.subtract(1, ordering: .relaxed)
        RequestMetrics.inFlight.decrement()
    }
}

/// Counts the connections a child channel type serves (open now, accepted in all).
struct CountedChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value
    let base: Base
    let state: ServerState

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        base.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        state.connectionOpened()
        defer { state.connectionClosed() }
        await base.handle(value: value, logger: logger)
    }
}

/// The signed admin API, for `stowage admin`: JSON views of the running server and its
/// store. Requests are SigV4-signed like S3's (service `s3`, the server's region) by any
/// of the server's credentials — every credential is the store's owner until users and
/// policies exist. `-` cannot begin a bucket name, so no S3 request is shadowed.
///
/// - `GET /-/admin/info`: version, uptime, mode, buckets, objects, bytes, space,
///   compaction, connections.
/// - `GET /-/admin/buckets/NAME`: one bucket's objects, bytes, versions, uploads.
/// - Users, keys and users' policies: see `users(_:path:store:)`.
/// - `GET /-/admin/kms-keys`: the SSE-KMS key store's keys; `POST /-/admin/kms-keys[?id=ID]`
///   makes one (its material never leaves the server).
///
/// Counting objects walks the index (`ObjectStore.usage`), off the event loop.
enum AdminRoute {
    static let prefix = "/-/admin/"

    static func matches(_ request: Request, path: String, baseDomain: String) -> Bool {
        path.hasPrefix(prefix) && S3Request.isPathStyle(request, baseDomain: baseDomain)
    }

    static func answer(_ request: Request, store: ObjectStore, state: ServerState, served: String) async throws -> Response {
        let path = request.uri.path.dropFirst(prefix.count)
        if let answer = try await users(request, path: path, store: store) { return answer }
        if path == "kms-keys" && request.method == .post {
            let id = S3Request.parseQuery(request.uri.query ?? "").first { $0.name == "id" }?.value
            let key = try await store.createKMSKey(id: id)
            return try json(KMSKey(key))
        }
        guard request.method == .get else {
            throw S3Error(.methodNotAllowed, "MethodNotAllowed", "The admin API answers GET, POST to kms-keys and users, DELETE of users and keys")
        }
        if path == "kms-keys" {
            let keys = try await store.offLoopAlways { try $0.kmsKeys() }
            return try json(KMSKeys(keys: keys.map(KMSKey.init)))
        }
        if path == "info" {
            return try json(await info(store: store, state: state, served: served))
        }
        if path.hasPrefix("buckets/") {
            let name = String(path.dropFirst("buckets/".count)).removingPercentEncoding ?? ""
            let (created, usage) = try await store.offLoopAlways { store in
                (try store.headBucket(name).createdMilliseconds, try store.usage(of: name))
            }
            return try json(BucketStats(bucket: name, created: isoDate(milliseconds: created), usage: usage))
        }
        throw S3Error(.notFound, "NoSuchAdminView", "No admin view at \(request.uri.path): there are /-/admin/info, /-/admin/buckets/NAME and /-/admin/kms-keys")
    }

    /// Users and keys: `GET users`; `POST users?name=N`; `DELETE users/N`;
    /// `POST users/N/keys` (answers the new key's secret, once); `DELETE keys/ID`;
    /// `GET users/N/policies`, `PUT users/N/policies/P` (the policy JSON as the body),
    /// `DELETE users/N/policies/P`.
    static func users(_ request: Request, path: Substring, store: ObjectStore) async throws -> Response? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).map { String($0).removingPercentEncoding ?? String($0) }
        switch (request.method, parts.count, parts.first) {
        case (.get, 1, "users"):
            let users = try await store.offLoopAlways { try $0.users() }
            return try json(Users(users: users.map { User(name: $0.name, created: isoDate(milliseconds: $0.createdMilliseconds),
                                                          accessKeys: $0.accessKeys) }))
        case (.post, 1, "users"):
            guard let name = S3Request.parseQuery(request.uri.query ?? "").first(where: { $0.name == "name" })?.value else {
                throw S3Error.invalidArgument("POST /-/admin/users needs ?name=NAME")
            }
            try await store.createUser(name)
            return try json(User(name: name, created: isoDate(Date()), accessKeys: []))
        case (.delete, 2, "users"):
            try await store.deleteUser(parts[1])
            return Response(status: .noContent)
        case (.post, 3, "users") where parts[2] == "keys":
            let key = try await store.createAccessKey(for: parts[1])
            return try json(NewKey(user: key.user, accessKeyID: key.accessKeyID, secretKey: key.secretKey))
        case (.delete, 2, "keys"):
            try await store.deleteAccessKey(parts[1])
            return Response(status: .noContent)
        case (.get, 3, "users") where parts[2] == "policies":
            let policies = try await store.offLoopAlways { try $0.userPolicies(parts[1]) }
            return try json(UserPolicies(user: parts[1], policies: policies.map {
                UserPolicy(name: $0.name, document: String(decoding: $0.text, as: UTF8.self))
            }))
        case (.put, 4, "users") where parts[2] == "policies":
            var text: [UInt8] = []
            for try await piece in request.body {
                guard text.count + piece.readableBytes <= PolicyParser.maxBytes else {
                    throw PolicyParser.malformed("Policies must be at most 20 KB")
                }
                text += piece.readableBytesView
            }
            _ = try PolicyParser.parse(text, bucket: nil)
            try await store.attachUserPolicy(user: parts[1], name: parts[3], text: text)
            return Response(status: .noContent)
        case (.delete, 4, "users") where parts[2] == "policies":
            try await store.detachUserPolicy(user: parts[1], name: parts[3])
            return Response(status: .noContent)
        default:
            return nil
        }
    }

    struct User: Codable {
        var name: String
        var created: String
        var accessKeys: [String]
    }

    struct Users: Codable {
        var users: [User]
    }

    struct UserPolicy: Codable {
        var name: String
        var document: String
    }

    struct UserPolicies: Codable {
        var user: String
        var policies: [UserPolicy]
    }

    struct NewKey: Codable {
        var user: String
        var accessKeyID: String
        var secretKey: String
    }

    struct KMSKey: Codable {
        var keyID: String
        var created: String?
        var builtIn: Bool

        init(_ key: KMSKeyInfo) {
            keyID = key.keyID
            created = key.isDefault ? nil : AdminRoute.isoDate(milliseconds: key.createdMilliseconds)
            builtIn = key.isDefault
        }
    }

    struct KMSKeys: Codable {
        var keys: [KMSKey]
    }

    struct Info: Codable {
        var version: String
        var startedAt: String
        var uptimeSeconds: Double
        var mode: String
        var durability: String
        var served: String
        var ready: Bool
        var notReadyReason: String?
        var usage: StoreUsage
        var space: StoreStats
        var connections: Connections
        var requestsInFlight: Int
    }

    struct Connections: Codable {
        var open: Int
        var accepted: Int
    }

    struct BucketStats: Codable {
        var bucket: String
        var created: String
        var usage: BucketUsage
    }

    static func info(store: ObjectStore, state: ServerState, served: String) async throws -> Info {
        let (usage, stats) = try await store.offLoopAlways { store in (try store.usage(), try store.stats()) }
        let (open, accepted) = state.connections
        let reason = state.readiness.notReadyReason()
        return Info(version: StowageVersion.current, startedAt: isoDate(state.started),
                    uptimeSeconds: (state.uptime.seconds * 1000).rounded() / 1000,
                    mode: store.isCluster ? "cluster" : "embedded", durability: store.options.durability.rawValue,
                    served: served, ready: reason == nil, notReadyReason: reason, usage: usage, space: stats,
                    connections: Connections(open: open, accepted: accepted), requestsInFlight: state.requestsInFlight)
    }

    private static func json<T: Encodable>(_ value: T) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        var data = try encoder.encode(value)
        data.append(UInt8(ascii: "\n"))
        return plainText(.ok, ByteBuffer(bytes: data), contentType: "application/json", extra: [.cacheControl: "no-store"])
    }

    static func isoDate(milliseconds: Int64) -> String {
        isoDate(Date(timeIntervalSince1970: Double(milliseconds) / 1000))
    }

    static func isoDate(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }
}
