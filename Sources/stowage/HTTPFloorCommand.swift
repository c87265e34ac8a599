import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import StowageChecksums
import StowageS3

/// Hidden: the HTTP floors for the side by side (`HTTPFloor`), not a server for users.
struct HTTPFloorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "http-floor",
        abstract: "Benchmark reference: serve the files under a directory from memory through Hummingbird (or NIO alone), no S3.",
        shouldDisplay: false)

    enum Stack: String, ExpressibleByArgument {
        /// Hummingbird over NIO, as `stowage serve` runs.
        case hummingbird
        /// NIO's HTTP/1 channel handlers alone: no Swift Concurrency, no Hummingbird.
        case nio
    }

    @Option(help: "Directory whose files are served, <root>/<bucket>/<key> at /<bucket>/<key>.")
    var root: String

    @Option(help: "Address to listen on.")
    var address = "127.0.0.1"

    @Option(help: "Port to listen on (0: any free port, printed).")
    var port = 0

    @Option(help: "hummingbird (the stack `stowage serve` runs on) or nio (its channel handlers alone).")
    var stack = Stack.hummingbird

    @Flag(help: "Require a SigV4 signature of --access-key on every request (checked as `stowage serve` checks it), answer GETs with S3's headers and PUTs with the MD5 of the body they read (nothing is stored).")
    var signed = false

    @Option(help: "With --signed: the one access key accepted.")
    var accessKey = "floor"

    @Option(help: "With --signed: its secret key.")
    var secretKey = "floor-secret"

    func run() async throws {
        // As `stowage serve` does: the same executor for the same comparison.
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        var logger = Logger(label: "http-floor")
        logger.logLevel = .warning
        let files = try HTTPFloor.load(root: root)
        let (address, count) = (address, files.count)
        let signed = signed ? SignedFloor(accessKey: accessKey, secretKey: secretKey) : nil
        let kind = stack.rawValue + (signed == nil ? "" : ", signed")
        let running: @Sendable (Int) async -> Void = { port in
            print("http-floor (\(kind)) serving \(count) file(s) from memory at http://\(address):\(port)")
            fflush(nil)
        }
        switch stack {
        case .hummingbird:
            try await HTTPFloor.application(files: files, signed: signed, address: address, port: port, logger: logger, onServerRunning: running).runService()
        case .nio:
            let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                        try channel.pipeline.syncOperations.addHandler(NIOFloorHandler(files: files, signed: signed))
                    }
                }
                .bind(host: address, port: port).get()
            await running(channel.localAddress?.port ?? port)
            try await channel.closeFuture.get()
        }
    }
}

/// The NIO floor's answer: the file at the request's path from memory, with the same
/// headers as the Hummingbird floor's, from the channel handler that read the request.
private final class NIOFloorHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let files: [String: HTTPFloor.File]
    let signed: SignedFloor?
    private var head: HTTPRequestHead?
    /// The signed floor's fixed answer headers, built once.
    private let objectHeaders: [(name: String, value: String)]
    /// A signed floor's PUT body, hashed as it arrives.
    private var md5 = MD5Digest()

    init(files: [String: HTTPFloor.File], signed: SignedFloor?) {
        self.files = files
        self.signed = signed
        objectHeaders = signed?.objectHeaders ?? []
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let request):
            head = request
            md5 = MD5Digest()
        case .body(let part):
            if signed != nil { part.withUnsafeReadableBytes { md5.update($0) } }
        case .end:
            guard let request = head else { return }
            head = nil
            let (status, headers, body) = answer(request)
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
            if let body { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
            let (keepAlive, channel) = (request.isKeepAlive, context.channel)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
                if !keepAlive { channel.close(promise: nil) }
            }
        }
    }

    private func answer(_ request: HTTPRequestHead) -> (HTTPResponseStatus, HTTPHeaders, ByteBuffer?) {
        var headers = HTTPHeaders()
        if !request.isKeepAlive { headers.add(name: "connection", value: "close") }
        func empty(_ status: HTTPResponseStatus) -> (HTTPResponseStatus, HTTPHeaders, ByteBuffer?) {
            headers.add(name: "content-length", value: "0")
            return (status, headers, nil)
        }
        if let signed {
            // Names as sent: the verifier lowercases them, as it does for `stowage serve`.
            let fields = request.headers.map { (name: $0.name, value: $0.value) }
            guard signed.accepts(method: request.method.rawValue, target: request.uri, headers: fields) else {
                return empty(.forbidden)
            }
            if request.method == .PUT {
                headers.add(name: "etag", value: "\"" + md5.finalize().hexString + "\"")
                headers.add(contentsOf: SignedFloor.putHeaders)
                return (.ok, headers, nil)
            }
        }
        guard request.method == .GET || request.method == .HEAD else { return empty(.methodNotAllowed) }
        guard let file = files[String(request.uri.prefix { $0 != "?" })] else { return empty(.notFound) }
        headers.add(name: "content-type", value: "application/octet-stream")
        headers.add(name: "content-length", value: String(file.body.readableBytes))
        if signed != nil {
            headers.add(name: "etag", value: file.etag)
            headers.add(contentsOf: objectHeaders)
        }
        return (.ok, headers, request.method == .GET ? file.body : nil)
    }
}
