import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// One keep-alive connection of the load, run entirely on its event loop: each answer,
/// once checked, starts the next request from the same callback (no task, no thread hop).
/// It owns the object slots whose number modulo the concurrency is its index, so it knows
/// whether each exists and under which name, and what every answer must be.
final class BenchConnection: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    /// What the answer to the request in flight must be.
    enum Expectation {
        /// 200 (or 206) with exactly these bytes of the payload.
        case body(status: UInt, offset: Int, length: Int)
        case headLength(Int)
        case status(UInt, orAlso: UInt)
        /// This status with an XML body containing `token` (an S3 200 can carry an error).
        case xml(status: UInt, token: String)
        case uploadID
        case partETag
        /// 404: the object was deleted (or renamed away) by this connection.
        case absent
    }

    enum Outcome {
        case ok(bytes: Int)
        case absent
        case error(String)
    }

    private enum Mode {
        case idle
        case single(EventLoopPromise<String?>)
        case setup(EventLoopPromise<ConnectionResult>, next: Int)
        case run(BenchWindow, EventLoopPromise<ConnectionResult>)
    }

    /// A multipart upload's progress.
    private struct Upload {
        var uploadID = ""
        var partETags: [String] = []
        var partCount = 1
    }

    private let shared: BenchShared
    private let configuration: BenchConfiguration
    private let index: Int
    /// The connection whose slots this one uses: itself, unless readers share objects.
    private let home: Int
    private let eventLoop: EventLoop
    private var signer: BenchSigner?
    /// `--presigned`: each method and path's URL, and when it was signed.
    private var presignedTargets: [String: (target: String, signedAt: Int64)] = [:]
    /// The most URLs one connection keeps (about 20 MiB of them at most).
    static let maxPresignedTargets = 65_536
    private var random: SplitMix64
    private var context: ChannelHandlerContext?
    /// A request is on the wire and its answer not yet complete.
    private var inFlight = false
    /// The server said `Connection: close`: the close that follows is no failure.
    private var closeAfterAnswer = false
    /// The request to write once a new connection is up.
    private var pendingWrite: ((ChannelHandlerContext) -> Void)?
    private var reconnecting = false
    /// The request in flight, to send again once on a new connection if the old one closed
    /// before any byte of the answer (a keep-alive race: the server closed as it was sent).
    private var lastWrite: ((ChannelHandlerContext) -> Void)?
    private var resent = false
    private var mode = Mode.idle
    private var result = ConnectionResult()

    // The slots this connection owns (local index i is slot index + i × concurrency).
    private let ownedSlots: Int
    private var exists: [Bool]
    private var renamed: [Bool]
    private var prefixMoved: [Bool]

    // The operation in flight.
    private var operation = BenchOperation.put
    private var operationStartNanoseconds: UInt64 = 0
    private var operationBytes = 0
    private var localSlot = 0
    private var upload = Upload()

    // The answer in flight.
    private var expectation = Expectation.absent
    private var status: UInt = 0
    private var contentLength: Int?
    private var etag: String?
    private var received = 0
    private var mismatch = false
    private var collected: ByteBuffer
    private var collecting = false
    /// The largest XML or error body kept for checking.
    static let maxCollectedBytes = 1 << 20

    init(shared: BenchShared, index: Int, eventLoop: EventLoop) {
        self.shared = shared
        self.eventLoop = eventLoop
        self.configuration = shared.configuration
        self.index = index
        signer = configuration.unsigned ? nil
            : BenchSigner(accessKey: configuration.accessKey, secretKey: configuration.secretKey, region: configuration.region)
        random = SplitMix64(seed: configuration.seed &* 1_000_003 &+ UInt64(index))
        home = configuration.homeConnection(index)
        ownedSlots = (configuration.objects - home + configuration.concurrency - 1) / configuration.concurrency
        // Objects the mix reads are there: PUT at set-up, or by an earlier run (--no-setup, --unsigned).
        exists = Array(repeating: configuration.needsObjects, count: ownedSlots)
        renamed = Array(repeating: false, count: ownedSlots)
        prefixMoved = Array(repeating: false, count: ownedSlots)
        collected = ByteBufferAllocator().buffer(capacity: 4096)
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    /// Servers that answer `Connection: close` (moto's) or drop an idle connection get a
    /// new one, from the same event loop, before the next request: its set-up time is in
    /// that request's latency, as for any client.
    private func reconnect(on eventLoop: EventLoop) {
        guard !reconnecting else { return }
        reconnecting = true
        let handler = NIOLoopBound(self, eventLoop: eventLoop)
        ClientBootstrap(group: eventLoop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(handler.value)
                }
            }
            .connect(host: configuration.host, port: configuration.port)
            .whenComplete { result in handler.value.reconnected(result) }
    }

    private func reconnected(_ result: Result<Channel, Error>) {
        reconnecting = false
        guard let write = pendingWrite else { return }
        pendingWrite = nil
        switch result {
        case .success:
            if let context { write(context) } else { answered(.error("connection closed")) }
        case .failure:
            answered(.error("cannot reconnect"))
        }
    }

    // MARK: Commands from the runner (on this event loop)

    /// `PUT /bucket`: nil when made or already ours, else the error.
    func createBucket(_ promise: EventLoopPromise<String?>) {
        mode = .single(promise)
        send(method: .PUT, path: "/" + configuration.bucket, expect: .status(200, orAlso: 200))
    }

    /// PUTs every owned object (and the prefixes' objects) that the mix reads.
    func setUp(_ promise: EventLoopPromise<ConnectionResult>) {
        mode = .setup(promise, next: 0)
        nextSetupRequest()
    }

    func run(_ window: BenchWindow, _ promise: EventLoopPromise<ConnectionResult>) {
        result.stats = Array(repeating: OperationStats(), count: BenchOperation.allCases.count)
        mode = .run(window, promise)
        nextOperation()
    }

    // MARK: Set-up

    private var setupRequests: Int {
        // A reader sharing another connection's objects leaves their PUTs to that one.
        guard configuration.setup, home == index else { return 0 }
        let objects = configuration.needsObjects ? ownedSlots : 0
        let prefixes = configuration.mix.contains(.renamePrefix) ? ownedSlots * configuration.prefixObjects : 0
        return objects + prefixes
    }

    private func nextSetupRequest() {
        guard case .setup(let promise, let next) = mode else { return }
        guard next < setupRequests else {
            mode = .idle
            promise.succeed(result)
            return
        }
        mode = .setup(promise, next: next + 1)
        let objects = configuration.needsObjects ? ownedSlots : 0
        if next < objects {
            let slot = globalSlot(next)
            send(method: .PUT, path: objectPath(configuration.objectKey(slot)), body: shared.payload.body(ofSlot: slot),
                 expect: .status(200, orAlso: 200))
        } else {
            let local = (next - objects) / configuration.prefixObjects, item = (next - objects) % configuration.prefixObjects
            let slot = globalSlot(local)
            send(method: .PUT, path: objectPath(configuration.prefix(slot, moved: false) + String(item)),
                 body: shared.payload.body(ofSlot: configuration.prefixObjectSlot(slot, item)), expect: .status(200, orAlso: 200))
        }
    }

    // MARK: The load

    private func globalSlot(_ local: Int) -> Int { home + local * configuration.concurrency }

    private func objectPath(_ key: String) -> String { "/" + configuration.bucket + "/" + key }

    private func nextOperation() {
        guard case .run(let window, _) = mode else { return }
        let now = NIODeadline.now().uptimeNanoseconds
        if now >= window.measureEndNanoseconds { return finish() }
        if configuration.count != nil, now >= window.measureStartNanoseconds,
           shared.remaining.subtract(1, ordering: .relaxed).newValue < 0 {
            return finish()
        }
        operation = configuration.mix.operation(forDraw: random.next(below: configuration.mix.total))
        localSlot = random.next(below: ownedSlots)
        operationStartNanoseconds = now
        operationBytes = 0
        startOperation()
    }

    private func startOperation() {
        let slot = globalSlot(localSlot)
        let key = configuration.objectKey(slot, renamed: renamed[localSlot])
        let present = exists[localSlot]
        let (offset, length) = shared.payload.extent(ofSlot: slot)
        switch operation {
        case .put:
            operationBytes = length
            send(method: .PUT, path: objectPath(key), body: shared.payload.body(ofSlot: slot), expect: .status(200, orAlso: 200))
        case .get:
            send(method: .GET, path: objectPath(key), expect: present ? .body(status: 200, offset: offset, length: length) : .absent)
        case .getRange:
            let rangeLength = min(configuration.rangeBytes, length)
            let start = length > rangeLength ? random.next(below: length - rangeLength + 1) : 0
            send(method: .GET, path: objectPath(key), headers: [("Range", "bytes=\(start)-\(start + rangeLength - 1)")],
                 expect: present ? .body(status: 206, offset: offset + start, length: rangeLength) : .absent)
        case .head:
            send(method: .HEAD, path: objectPath(key), expect: present ? .headLength(length) : .absent)
        case .delete:
            send(method: .DELETE, path: objectPath(key), expect: .status(204, orAlso: 200))
        case .list:
            let prefix = BenchSigner.uriEncode(configuration.keyPrefix)
            let query = "list-type=2&max-keys=\(configuration.listMaxKeys)&prefix=\(prefix)"
            send(method: .GET, path: "/" + configuration.bucket, rawQuery: query, canonicalQuery: query,
                 expect: .xml(status: 200, token: "<ListBucketResult"))
        case .copy:
            operationBytes = length
            send(method: .PUT, path: objectPath(configuration.copyKey(slot)),
                 amzHeaders: [("x-amz-copy-source", objectPath(key))],
                 expect: present ? .xml(status: 200, token: "<CopyObjectResult") : .absent)
        case .renameObject:
            send(method: .PUT, path: objectPath(configuration.objectKey(slot, renamed: !renamed[localSlot])),
                 rawQuery: "renameObject", canonicalQuery: "renameObject=",
                 amzHeaders: [("x-amz-rename-source", objectPath(key))], expect: present ? .status(200, orAlso: 200) : .absent)
        case .renamePrefix:
            let moved = prefixMoved[localSlot]
            let document = "<RenamePrefix xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><SourcePrefix>"
                + configuration.prefix(slot, moved: moved) + "</SourcePrefix><DestinationPrefix>"
                + configuration.prefix(slot, moved: !moved) + "</DestinationPrefix></RenamePrefix>"
            send(method: .POST, path: "/" + configuration.bucket, rawQuery: "renamePrefix", canonicalQuery: "renamePrefix=",
                 body: ByteBuffer(string: document), expect: .xml(status: 200, token: "<Moved>\(configuration.prefixObjects)</Moved>"))
        case .multipart:
            operationBytes = length
            upload = Upload(partCount: max(1, (length + configuration.partBytes - 1) / configuration.partBytes))
            send(method: .POST, path: objectPath(key), rawQuery: "uploads", canonicalQuery: "uploads=", expect: .uploadID)
        }
    }

    /// The next request of a multipart upload, or nil when the upload is complete.
    private func continueUpload() -> Bool {
        let slot = globalSlot(localSlot)
        let key = configuration.objectKey(slot, renamed: renamed[localSlot])
        let id = BenchSigner.uriEncode(upload.uploadID)
        let done = upload.partETags.count
        if done < upload.partCount {
            let part = shared.payload.part(ofSlot: slot, index: done, partBytes: configuration.partBytes)
            let query = "partNumber=\(done + 1)&uploadId=\(id)"
            send(method: .PUT, path: objectPath(key), rawQuery: query, canonicalQuery: query, body: part, expect: .partETag)
            return true
        }
        var document = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        for (number, etag) in upload.partETags.enumerated() {
            document += "<Part><PartNumber>\(number + 1)</PartNumber><ETag>\(etag)</ETag></Part>"
        }
        document += "</CompleteMultipartUpload>"
        upload.partCount = -1  // the complete is in flight
        let query = "uploadId=\(id)"
        send(method: .POST, path: objectPath(key), rawQuery: query, canonicalQuery: query, body: ByteBuffer(string: document),
             expect: .xml(status: 200, token: "<CompleteMultipartUploadResult"))
        return true
    }

    /// A request's answer is in: the operation goes on (multipart) or is over.
    private func answered(_ outcome: Outcome) {
        switch mode {
        case .idle:
            return
        case .single(let promise):
            mode = .idle
            switch outcome {
            case .ok, .absent: promise.succeed(nil)
            case .error(let error): promise.succeed(error.hasSuffix("BucketAlreadyOwnedByYou") ? nil : error)
            }
        case .setup:
            if case .error(let error) = outcome { result.setupErrors[error, default: 0] += 1 }
            nextSetupRequest()
        case .run(let window, _):
            if operation == .multipart, case .ok = outcome, upload.partCount >= 0, continueUpload() { return }
            finishOperation(outcome, window)
        }
    }

    private func finishOperation(_ outcome: Outcome, _ window: BenchWindow) {
        let end = NIODeadline.now().uptimeNanoseconds
        if case .ok(let bytes) = outcome { applySuccess(); operationBytes = max(operationBytes, bytes) }
        if operationStartNanoseconds >= window.measureStartNanoseconds, operationStartNanoseconds < window.measureEndNanoseconds {
            let statsIndex = operation.index
            result.stats[statsIndex].operations += 1
            result.stats[statsIndex].histogram.record(nanoseconds: end - operationStartNanoseconds)
            result.lastEndNanoseconds = max(result.lastEndNanoseconds, end)
            switch outcome {
            case .ok: result.stats[statsIndex].bytes += operationBytes
            case .absent: result.stats[statsIndex].absent += 1
            case .error(let error):
                result.stats[statsIndex].errors[error, default: 0] += 1
                shared.failed.add(1, ordering: .relaxed)
            }
            shared.completed.add(1, ordering: .relaxed)
        }
        nextOperation()
    }

    /// What a successful operation changed about the slot.
    private func applySuccess() {
        switch operation {
        case .put, .multipart: exists[localSlot] = true
        case .delete: exists[localSlot] = false
        case .renameObject: renamed[localSlot].toggle()
        case .renamePrefix: prefixMoved[localSlot].toggle()
        case .get, .getRange, .head, .list, .copy: break
        }
    }

    private func finish() {
        guard case .run(_, let promise) = mode else { return }
        mode = .idle
        promise.succeed(result)
    }

    // MARK: The wire

    private func send(method: HTTPMethod, path: String, rawQuery: String = "", canonicalQuery: String = "",
                      amzHeaders: [(name: String, value: String)] = [], headers extra: [(String, String)] = [],
                      body: ByteBuffer? = nil, expect: Expectation) {
        expectation = expect
        status = 0
        contentLength = nil
        etag = nil
        received = 0
        mismatch = false
        collecting = false
        collected.clear()
        var headers = HTTPHeaders()
        headers.reserveCapacity(8 + amzHeaders.count + extra.count)
        headers.add(name: "Host", value: configuration.hostHeader)
        var target = rawQuery.isEmpty ? path : path + "?" + rawQuery
        if configuration.presigned {
            target = presignedTarget(method: method, path: path)
        } else if signer != nil {
            let seconds = Int64(Date().timeIntervalSince1970)
            // In place: the signer reuses its buffers, which a copy would make shared.
            let (date, authorization) = signer!.sign(method: method.rawValue, canonicalPath: path, canonicalQuery: canonicalQuery,
                                                     host: configuration.hostHeader, amzHeaders: amzHeaders,
                                                     payloadHash: BenchSigner.unsignedPayload, secondsSince1970: seconds)
            headers.add(name: "x-amz-date", value: date)
            headers.add(name: "x-amz-content-sha256", value: BenchSigner.unsignedPayload)
            headers.add(name: "Authorization", value: authorization)
        }
        for header in amzHeaders { headers.add(name: header.name, value: header.value) }
        for header in extra { headers.add(name: header.0, value: header.1) }
        if body != nil || method == .PUT || method == .POST {
            headers.add(name: "Content-Length", value: String(body?.readableBytes ?? 0))
        }
        let head = HTTPRequestHead(version: .http1_1, method: method, uri: target, headers: headers)
        let write = { (context: ChannelHandlerContext) in
            self.inFlight = true
            context.write(self.wrapOutboundOut(.head(head)), promise: nil)
            if let body, body.readableBytes > 0 { context.write(self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
            context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
        }
        lastWrite = write
        resent = false
        if let context, context.channel.isActive, !closeAfterAnswer {
            write(context)
        } else {
            pendingWrite = write
            reconnect(on: eventLoop)
        }
    }

    /// The presigned URL of `method` on `path` (a request with no query of its own): made
    /// once and sent again until a quarter of its validity is over.
    private func presignedTarget(method: HTTPMethod, path: String) -> String {
        let seconds = Int64(Date().timeIntervalSince1970)
        let name = method.rawValue + " " + path
        if let cached = presignedTargets[name], seconds - cached.signedAt < Int64(BenchConfiguration.presignedExpirySeconds / 4) {
            return cached.target
        }
        let query = signer!.presignedQuery(method: method.rawValue, canonicalPath: path, host: configuration.hostHeader,
                                           expiresSeconds: BenchConfiguration.presignedExpirySeconds, secondsSince1970: seconds)
        let target = path + "?" + query
        // Bounded: a run over millions of objects re-signs URLs instead of keeping them all.
        if presignedTargets.count >= Self.maxPresignedTargets { presignedTargets.removeAll(keepingCapacity: true) }
        presignedTargets[name] = (target, seconds)
        return target
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = head.status.code
            closeAfterAnswer = !head.isKeepAlive
            contentLength = head.headers.first(name: "content-length").flatMap { Int($0) }
            etag = head.headers.first(name: "etag")
            collecting = !expectsBody(status) || {
                if case .xml = expectation { return true }
                if case .uploadID = expectation { return true }
                return false
            }()
        case .body(let part):
            received += part.readableBytes
            if collecting {
                if collected.readableBytes + part.readableBytes <= Self.maxCollectedBytes {
                    var part = part
                    collected.writeBuffer(&part)
                }
            } else if case .body(_, let offset, let length) = expectation, !mismatch {
                let start = received - part.readableBytes
                if received > length {
                    mismatch = true
                } else {
                    let equal = part.withUnsafeReadableBytes { got in
                        shared.payload.buffer.withUnsafeReadableBytes { want in
                            memcmp(got.baseAddress!, want.baseAddress!.advanced(by: offset + start), got.count) == 0
                        }
                    }
                    mismatch = !equal
                }
            }
        case .end:
            inFlight = false
            if closeAfterAnswer { context.close(promise: nil) }
            answered(evaluate())
        }
    }

    /// Whether a body of this status is compared with the payload as it streams in.
    private func expectsBody(_ status: UInt) -> Bool {
        if case .body(let wanted, _, _) = expectation { return status == wanted }
        return false
    }

    private func evaluate() -> Outcome {
        switch expectation {
        case .absent:
            return status == 404 ? .absent : failure(expected: 404)
        case .body(let wanted, _, let length):
            guard status == wanted else { return failure(expected: wanted) }
            return received == length && !mismatch ? .ok(bytes: received) : .error("verify")
        case .headLength(let length):
            guard status == 200 else { return failure(expected: 200) }
            return contentLength == length ? .ok(bytes: 0) : .error("verify")
        case .status(let wanted, let other):
            return status == wanted || status == other ? .ok(bytes: 0) : failure(expected: wanted)
        case .xml(let wanted, let token):
            guard status == wanted else { return failure(expected: wanted) }
            let text = String(buffer: collected)
            guard text.contains(token) else {
                return text.contains("<Error>") ? .error("HTTP \(status) \(Self.s3Code(text) ?? "Error") in the body") : .error("verify")
            }
            return .ok(bytes: operation == .list ? received : 0)
        case .uploadID:
            guard status == 200 else { return failure(expected: 200) }
            guard let id = Self.element("UploadId", in: String(buffer: collected)) else { return .error("verify") }
            upload.uploadID = id
            return .ok(bytes: 0)
        case .partETag:
            guard status == 200 else { return failure(expected: 200) }
            guard let etag else { return .error("verify") }
            upload.partETags.append(etag)
            return .ok(bytes: 0)
        }
    }

    private func failure(expected: UInt) -> Outcome {
        let code = collecting ? Self.s3Code(String(buffer: collected)) : nil
        return .error("HTTP \(status)" + (code.map { " " + $0 } ?? ""))
    }

    static func s3Code(_ xml: String) -> String? { element("Code", in: xml) }

    static func element(_ name: String, in xml: String) -> String? {
        guard let open = xml.range(of: "<\(name)>"), let close = xml.range(of: "</\(name)>", range: open.upperBound..<xml.endIndex)
        else { return nil }
        return String(xml[open.upperBound..<close.lowerBound])
    }

    // MARK: A connection lost

    /// The connection closed: an answer cut short is an error; the next request opens a
    /// new connection.
    func channelInactive(context: ChannelHandlerContext) {
        self.context = nil
        closeAfterAnswer = false
        guard inFlight else { return }
        inFlight = false
        if status == 0, !resent, let lastWrite {
            resent = true
            pendingWrite = lastWrite
            reconnect(on: eventLoop)
        } else {
            answered(.error("connection closed"))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
