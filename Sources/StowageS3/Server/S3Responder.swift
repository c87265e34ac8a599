import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Stowage
import Synchronization

/// Every request's path through the server: a request id, addressing, SigV4 or SigV2, dispatch to
/// one handler, and errors rendered as S3 XML. Handlers parse, call the engine, render.
struct S3Responder: HTTPResponder {
    typealias Context = S3RequestContext

    let store: ObjectStore
    let authenticator: S3Authenticator
    /// Users' access keys, loaded before verification (`AccessKeyCache`).
    let keys: AccessKeyCache
    var credentials: S3Credentials { authenticator.signatureV4.credentials }
    let baseDomain: String
    let region: String
    let hostID: String
    let state: ServerState
    /// The store in words, for the admin views.
    let served: String
    /// A request whose response head took longer is logged `slow` (at notice level).
    let slowRequest: Duration
    let metrics: MetricsExport?
    /// Served over TLS: SSE-C keys may travel (S3 refuses them over plain HTTP).
    let secure: Bool

    func respond(to request: Request, context: S3RequestContext) async throws -> Response {
        var response = try await answer(request, context: context)
        // The connection closes after this answer: say so (RFC 9112 §9.6), so that a client
        // does not send its next request on it.
        if let connection = request.headers.first(.connection), connection.lowercased().contains("close") {
            response.headers[.connection] = "close"
        }
        return response
    }

    private func answer(_ request: Request, context: S3RequestContext) async throws -> Response {
        // Read once: Hummingbird's URI makes a new string of each part every time it is asked.
        let path = request.uri.path
        let rawQuery = request.uri.query ?? ""
        if let health = HealthRoute.answer(request, path: path, baseDomain: baseDomain, readiness: state.readiness) {
            return health
        }
        if let scrape = MetricsRoute.answer(request, path: path, remote: context.remoteAddress, baseDomain: baseDomain,
                                            export: metrics) {
            return scrape
        }
        state.requestBegan()
        defer { state.requestEnded() }
        let requestID = Self.makeRequestID()
        var logger = context.logger
        logger[metadataKey: "request_id"] = .string(requestID)
        let started = ContinuousClock.now
        var response: Response
        var resource = path
        var line = RequestLine(method: request.method.rawValue, path: path)
        // A request with an Origin header to a bucket: its answer gets the CORS headers of
        // the bucket's matching rule, whatever the answer (errors too, as S3 does).
        var crossOrigin: (bucket: String, origin: String)?
        do {
            try await loadUserKey(request, query: rawQuery)
            if AdminRoute.matches(request, path: path, baseDomain: baseDomain) {
                line.operation = "Admin"
                let accessKey = try authenticate(request, rawPath: path, rawQuery: rawQuery, hostBucket: nil).accessKey
                line.user = accessKey
                guard credentials.isAdministrator(accessKey) else {
                    throw S3Error(.forbidden, "AccessDenied", "The admin API is the administrator's (the server's own credentials)")
                }
                await context.sendContinue(for: request)
                response = try await AdminRoute.answer(request, store: store, state: state, served: served)
            } else if request.method == .options {
                // A CORS preflight: a browser sends it without credentials, so it is
                // answered from the bucket's rules alone, and grants nothing by itself.
                let s3 = try S3Request(request, path: path, rawQuery: rawQuery, baseDomain: baseDomain)
                resource = s3.resource
                (line.bucket, line.key, line.operation) = (s3.bucket, s3.key, "PreflightCORS")
                response = try await makeHandlers(logger).preflight(s3)
            } else {
                let s3 = try S3Request(request, path: path, rawQuery: rawQuery, baseDomain: baseDomain)
                resource = s3.resource
                (line.bucket, line.key) = (s3.bucket, s3.key)
                if let bucket = s3.bucket, let origin = request.headers.first(.origin) { crossOrigin = (bucket, origin) }
                // Worked out once: the log line, the authorization check and the route share it.
                let operation = S3Operation.of(s3)
                line.operation = operation?.rawValue
                if let bucket = s3.bucket, S3Operation.isPostObject(s3) {
                    // A browser form: its credentials and key are fields of the body, checked by the handler.
                    line.operation = "PostObject"
                    let caller = Authorization.Caller(principal: .anonymous, sourceIP: Authorization.sourceIP(context.remoteAddress),
                                                      secure: secure)
                    await context.sendContinue(for: request)
                    response = try await makeHandlers(logger).postObject(
                        bucket, s3, body: request.body, signer: .init(credentials: credentials, keys: keys), caller: caller)
                } else {
                    // An unsigned request is anonymous: it gets only what a bucket policy grants everyone.
                    let anonymous = Self.isAnonymous(request, query: rawQuery)
                    if anonymous, request.headers[HTTPField.Name("x-amz-content-sha256")!]?.hasPrefix("STREAMING-") == true {
                        throw Authorization.denied   // a signed stream with no signature
                    }
                    let auth = anonymous ? Self.anonymousAuthentication
                        : try authenticate(request, rawPath: s3.rawPath, rawQuery: s3.rawQuery, hostBucket: s3.hostBucket)
                    logger[metadataKey: "access_key"] = .string(anonymous ? "-" : auth.accessKey)
                    let user = anonymous ? nil : credentials.user(of: auth.accessKey)
                    line.user = anonymous ? "anonymous" : user ?? auth.accessKey
                    let caller = Authorization.Caller(principal: anonymous ? .anonymous : user.map { .user($0) },
                                                      sourceIP: Authorization.sourceIP(context.remoteAddress), secure: secure)
                    // Refused before the client sends its body (Expect: 100-continue).
                    if let operation {
                        try await Authorization.check(operation, s3, caller: caller, store: store)
                    } else if anonymous {
                        throw Authorization.denied
                    }
                    if ExpectContinueHandler.asksToContinue(request.headers) { await context.sendContinue(for: request) }
                    response = try await route(s3, operation: operation, auth: auth, user: user, body: request.body, logger: logger,
                                               connectionLoop: context.channel?.eventLoop)
                }
            }
        } catch {
            var s3Error = S3Error.from(error)
            s3Error.resource = resource
            s3Error.requestID = requestID
            s3Error.hostID = hostID
            line.error = (s3Error.code, s3Error.message)
            response = s3Error.response(isHead: request.method == .head)
        }
        if let crossOrigin {
            await makeHandlers(logger).addCrossOriginHeaders(to: &response, bucket: crossOrigin.bucket, origin: crossOrigin.origin, request)
        }
        return finish(response, request: request, line: &line, started: started, logger: logger, requestID: requestID)
    }

    /// The common headers, the request's log line and its metrics.
    private func finish(_ response: Response, request: Request, line: inout RequestLine, started: ContinuousClock.Instant,
                        logger: Logger, requestID: String) -> Response {
        var response = response
        // Only set here: appended, not looked up and replaced.
        response.headers.append(HTTPField(name: .xAmzRequestID, value: requestID))
        response.headers.append(HTTPField(name: .xAmzID2, value: hostID))
        response.headers[.server] = "Stowage"
        line.status = Int(response.status.code)
        line.bytesIn = request.headers.first(Self.decodedContentLength).flatMap { Int($0) }
            ?? request.headers.first(.contentLength).flatMap { Int($0) } ?? 0
        line.bytesOut = request.method == .head ? 0 : response.headers.first(.contentLength).flatMap { Int($0) } ?? 0
        let elapsed = ContinuousClock.now - started
        line.log(to: logger, elapsed: elapsed, slow: slowRequest)
        RequestMetrics.record(line, nanoseconds: Int64(elapsed.seconds * 1e9))
        return response
    }

    static let decodedContentLength = HTTPField.Name("x-amz-decoded-content-length")!

    /// No credentials of any kind: no Authorization value, no presigned query parameters.
    static func isAnonymous(_ request: Request, query: String) -> Bool {
        if let value = request.headers.first(.authorization), !value.isBlank { return false }
        return !["X-Amz-Algorithm=", "X-Amz-Credential=", "X-Amz-Signature=", "AWSAccessKeyId=", "Signature="].contains { name in
            query.hasPrefix(name) || query.contains("&" + name)
        }
    }

    /// What an anonymous request is owed: its body taken as it comes (nobody signed it).
    static let anonymousAuthentication = SigV4Authentication(
        accessKey: "", payload: .unsigned,
        signing: nil, isPresigned: false)

    /// A user's key (not one of the server's own) is read from the store before the
    /// verifier, which is synchronous, needs its secret.
    private func loadUserKey(_ request: Request, query: String) async throws {
        guard let claimed = AccessKeyCache.claimedAccessKey(authorization: request.headers.first(.authorization),
                                                            query: query),
              !claimed.isEmpty, !credentials.isAdministrator(claimed) else { return }
        try await keys.load(claimed)
    }

    private func authenticate(_ request: Request, rawPath: String, rawQuery: String,
                              hostBucket: String?) throws -> SigV4Authentication {
        var headers = request.headers.map { (name: $0.name.canonicalName, value: $0.value) }
        if let authority = request.head.authority, !headers.contains(where: { $0.name == "host" }) {
            headers.append((name: "host", value: authority))
        }
        return try authenticator.verify(method: request.method.rawValue, rawPath: rawPath, rawQuery: rawQuery,
                                        headers: headers, hostBucket: hostBucket, now: Date())
    }

    /// S3's operations by method, addressing and sub-resource (`S3Operation.of`). Anything
    /// else is 501: a request is never silently taken for a different operation. Every
    /// header and query parameter passes `WirePromises` before the handler runs.
    private func route(_ s3: S3Request, operation: S3Operation?, auth: SigV4Authentication, user: String?, body: RequestBody,
                       logger: Logger, connectionLoop: (any EventLoop)?) async throws -> Response {
        guard let operation else {
            let named = Set(s3.subresources).sorted().joined(separator: "&")
            let target = s3.bucket == nil ? "/" : s3.key == nil ? "a bucket" : "an object"
            throw S3Error.notImplemented("\(s3.method) on \(target)\(named.isEmpty ? "" : " with ?" + named)")
        }
        try WirePromises.check(operation, s3)
        try await checkExpectedOwners(operation, s3)
        var handlers = makeHandlers(logger)
        handlers.user = user
        handlers.connectionLoop = connectionLoop
        let bucket = s3.bucket ?? ""
        let key = s3.key ?? ""
        switch operation {
        case .listBuckets: return try await handlers.listBuckets(s3)
        case .createBucket: return try await handlers.createBucket(bucket, s3, auth: auth, body: body)
        case .headBucket: return try await handlers.headBucket(bucket)
        case .deleteBucket: return try await handlers.deleteBucket(bucket)
        case .getBucketLocation: return try await handlers.bucketLocation(bucket)
        case .getBucketVersioning: return try await handlers.bucketVersioning(bucket)
        case .putBucketVersioning: return try await handlers.putBucketVersioning(bucket, s3, auth: auth, body: body)
        case .getObjectLockConfiguration: return try await handlers.objectLockConfiguration(bucket)
        case .getObjectAttributes: return try await handlers.objectAttributes(bucket, key, s3)
        case .getObjectTagging: return try await handlers.objectTagging(bucket, key, s3)
        case .putObjectTagging: return try await handlers.putObjectTagging(bucket, key, s3, auth: auth, body: body)
        case .deleteObjectTagging: return try await handlers.deleteObjectTagging(bucket, key, s3)
        case .getBucketTagging: return try await handlers.bucketTagging(bucket)
        case .putBucketTagging: return try await handlers.putBucketTagging(bucket, s3, auth: auth, body: body)
        case .deleteBucketTagging: return try await handlers.deleteBucketTagging(bucket)
        case .getBucketLifecycleConfiguration: return try await handlers.lifecycleConfiguration(bucket)
        case .putBucketLifecycleConfiguration: return try await handlers.putLifecycleConfiguration(bucket, s3, auth: auth, body: body)
        case .deleteBucketLifecycle: return try await handlers.deleteLifecycleConfiguration(bucket)
        case .getBucketEncryption: return try await handlers.bucketEncryption(bucket)
        case .putBucketEncryption: return try await handlers.putBucketEncryption(bucket, s3, auth: auth, body: body)
        case .deleteBucketEncryption: return try await handlers.deleteBucketEncryption(bucket)
        case .putBucketPolicy: return try await handlers.putBucketPolicy(bucket, s3, auth: auth, body: body)
        case .getBucketPolicy: return try await handlers.bucketPolicy(bucket)
        case .deleteBucketPolicy: return try await handlers.deleteBucketPolicy(bucket)
        case .getBucketPolicyStatus: return try await handlers.bucketPolicyStatus(bucket)
        case .putPublicAccessBlock: return try await handlers.putPublicAccessBlock(bucket, s3, auth: auth, body: body)
        case .getPublicAccessBlock: return try await handlers.publicAccessBlock(bucket)
        case .deletePublicAccessBlock: return try await handlers.deletePublicAccessBlock(bucket)
        case .getBucketAcl: return try await handlers.bucketAcl(bucket)
        case .putBucketAcl: return try await handlers.putBucketAcl(bucket, s3, auth: auth, body: body)
        case .getObjectAcl: return try await handlers.objectAcl(bucket, key, s3)
        case .putObjectAcl: return try await handlers.putObjectAcl(bucket, key, s3, auth: auth, body: body)
        case .getBucketOwnershipControls: return try await handlers.ownershipControls(bucket)
        case .putBucketOwnershipControls: return try await handlers.putOwnershipControls(bucket, s3, auth: auth, body: body)
        case .deleteBucketOwnershipControls: return try await handlers.deleteOwnershipControls(bucket)
        case .getBucketCors: return try await handlers.bucketCors(bucket)
        case .putBucketCors: return try await handlers.putBucketCors(bucket, s3, auth: auth, body: body)
        case .deleteBucketCors: return try await handlers.deleteBucketCors(bucket)
        case .putObjectLockConfiguration: return try await handlers.putObjectLockConfiguration(bucket, s3, auth: auth, body: body)
        case .getObjectRetention: return try await handlers.objectRetention(bucket, key, s3)
        case .putObjectRetention: return try await handlers.putObjectRetention(bucket, key, s3, auth: auth, body: body)
        case .getObjectLegalHold: return try await handlers.objectLegalHold(bucket, key, s3)
        case .putObjectLegalHold: return try await handlers.putObjectLegalHold(bucket, key, s3, auth: auth, body: body)
        case .listObjects, .listObjectsV2: return try await handlers.listObjects(bucket, s3)
        case .listObjectVersions: return try await handlers.listObjectVersions(bucket, s3)
        case .listMultipartUploads: return try await handlers.listMultipartUploads(bucket, s3)
        case .deleteObjects: return try await handlers.deleteObjects(bucket, s3, auth: auth, body: body)
        case .renamePrefix: return try await handlers.renamePrefix(bucket, s3, auth: auth, body: body)
        case .renameObject: return try await handlers.renameObject(bucket, key, s3)
        case .putObject: return try await handlers.putObject(bucket, key, s3, auth: auth, body: body)
        case .copyObject: return try await handlers.copyObject(bucket, key, s3, source: s3.header("x-amz-copy-source") ?? "")
        case .uploadPart: return try await handlers.uploadPart(bucket, key, s3, auth: auth, body: body)
        case .uploadPartCopy:
            return try await handlers.uploadPartCopy(bucket, key, s3, source: s3.header("x-amz-copy-source") ?? "")
        case .createMultipartUpload: return try await handlers.createMultipartUpload(bucket, key, s3)
        case .completeMultipartUpload: return try await handlers.completeMultipartUpload(bucket, key, s3, auth: auth, body: body)
        case .abortMultipartUpload: return try await handlers.abortMultipartUpload(bucket, key, s3)
        case .listParts: return try await handlers.listParts(bucket, key, s3)
        case .getObject: return try await handlers.getObject(bucket, key, s3, isHead: false)
        case .headObject: return try await handlers.getObject(bucket, key, s3, isHead: true)
        case .deleteObject: return try await handlers.deleteObject(bucket, key, s3)
        }
    }

    /// `x-amz-expected-bucket-owner` (and a copy's `x-amz-source-expected-bucket-owner`):
    /// 403 unless the bucket's owner has that canonical id. A bucket that does not exist is
    /// left to the handler (404).
    private func checkExpectedOwners(_ operation: S3Operation, _ s3: S3Request) async throws {
        func expect(_ expected: String, of bucket: String) async throws {
            let owner: String?
            do { owner = try await store.offLoop { try $0.bucketOwner(bucket) } } catch {
                if error.code == .noSuchBucket || error.code == .invalidBucketName { return }
                throw error
            }
            guard Handlers.canonicalID(owner ?? "") == expected else { throw Authorization.denied }
        }
        if let expected = s3.header("x-amz-expected-bucket-owner"), let bucket = s3.bucket {
            try await expect(expected, of: bucket)
        }
        if operation == .copyObject || operation == .uploadPartCopy, let expected = s3.header("x-amz-source-expected-bucket-owner"),
           let source = s3.header("x-amz-copy-source"), let (bucket, _, _) = try? Handlers.copySource(source) {
            try await expect(expected, of: bucket)
        }
    }

    private func makeHandlers(_ logger: Logger) -> Handlers {
        Handlers(store: store, region: region, logger: logger, secure: secure)
    }

    /// 16 uppercase hex digits, as S3's request ids look.
    /// 16 uppercase hex digits: a random 32-bit prefix drawn once per process, then a
    /// counter. Unique per process and across restarts with all but negligible chance,
    /// like S3's; drawing 64 random bits per request was a `getrandom` syscall each.
    static func makeRequestID() -> String {
        let serial = requestSerial.add(1, ordering: .relaxed).newValue
        let value = requestIDPrefix << 32 | UInt64(truncatingIfNeeded: serial)
        var digits = [UInt8](repeating: 0, count: 16)
        for i in 0..<16 {
            digits[15 - i] = hexDigits[Int(value >> (4 * UInt64(i)) & 0xF)]
        }
        return String(decoding: digits, as: UTF8.self)
    }

    private static let requestIDPrefix = UInt64(UInt32.random(in: .min ... .max))
    private static let requestSerial = Atomic<UInt32>(0)
    private static let hexDigits = Array("0123456789ABCDEF".utf8)
}

extension HTTPField.Name {
    static let xAmzRequestID = HTTPField.Name("x-amz-request-id")!
    static let xAmzID2 = HTTPField.Name("x-amz-id-2")!
    static let xAmzVersionID = HTTPField.Name("x-amz-version-id")!
    static let xAmzDeleteMarker = HTTPField.Name("x-amz-delete-marker")!
    static let xAmzCopySourceVersionID = HTTPField.Name("x-amz-copy-source-version-id")!
    static let xAmzChecksumType = HTTPField.Name("x-amz-checksum-type")!
    static let xAmzChecksumMode = HTTPField.Name("x-amz-checksum-mode")!
    static let xAmzTaggingCount = HTTPField.Name("x-amz-tagging-count")!
    static let xAmzStorageClass = HTTPField.Name("x-amz-storage-class")!
    static let xAmzMultipartPartsCount = HTTPField.Name("x-amz-mp-parts-count")!
}

/// The one structured line each request logs (`--log-format json` prints it as a JSON
/// object): who asked for what, the answer, bytes each way, and the time until the
/// response head (a GET's body streams after it).
struct RequestLine {
    let method: String
    let path: String
    var operation: String?
    var bucket: String?
    var key: String?
    var user: String?
    var status = 0
    var bytesIn = 0
    var bytesOut = 0
    var error: (code: String, message: String)?

    init(method: String, path: String) {
        self.method = method
        self.path = path
    }

    func log(to logger: Logger, elapsed: Duration, slow threshold: Duration) {
        let slow = elapsed >= threshold
        let level: Logger.Level = status >= 500 ? .error : slow ? .notice : .info
        // Most servers log at warning: the line's metadata is not even built then (it was
        // a dictionary and a formatted string on every request).
        guard logger.logLevel <= level else { return }
        let milliseconds = elapsed.seconds * 1000
        var metadata: Logger.Metadata = [
            "method": .string(method), "path": .string(path), "status": .stringConvertible(status),
            "operation": .string(operation ?? "-"), "bytes_in": .stringConvertible(bytesIn),
            "bytes_out": .stringConvertible(bytesOut),
            "ms": .string(String(format: "%.3f", milliseconds)),
        ]
        if let bucket { metadata["bucket"] = .string(bucket) }
        if let key { metadata["key"] = .string(key) }
        if let user { metadata["user"] = .string(user) }
        if let error {
            metadata["error"] = .string(error.code)
            metadata["error_message"] = .string(error.message)
        }
        if slow { metadata["slow"] = .string("true") }
        logger.log(level: level, "request", metadata: metadata)
    }
}
