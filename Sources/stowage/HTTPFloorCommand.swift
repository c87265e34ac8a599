import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
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

    func run() async throws {
        // As `stowage serve` does: the same executor for the same comparison.
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        var logger = Logger(label: "http-floor")
        logger.logLevel = .warning
        let files = try HTTPFloor.load(root: root)
        let (address, count) = (address, files.count)
        let running: @Sendable (Int) async -> Void = { port in
            print("http-floor (\(stack.rawValue)) serving \(count) file(s) from memory at http://\(address):\(port)")
            fflush(nil)
        }
        switch stack {
        case .hummingbird:
            try await HTTPFloor.application(files: files, address: address, port: port, logger: logger, onServerRunning: running).runService()
        case .nio:
            let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                        try channel.pipeline.syncOperations.addHandler(NIOFloorHandler(files: files))
                    }
                }
                .bind(host: address, port: port).get()
            await running(channel.localAddress?.port ?? port)
            try await channel.closeFuture.get()
        }
    }
}

/// The NIO floor's answer: the file at the request's path from memory, with the same two
/// headers as the Hummingbird floor's, from the channel handler that read the request.
private final class NIOFloorHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let files: [String: ByteBuffer]
    private var head: HTTPRequestHead?

    init(files: [String: ByteBuffer]) { self.files = files }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let request): head = request
        case .body: break
        case .end:
            guard let request = head else { return }
            head = nil
            var headers = HTTPHeaders()
            let status: HTTPResponseStatus
            var body: ByteBuffer?
            if request.method != .GET && request.method != .HEAD {
                status = .methodNotAllowed
                headers.add(name: "content-length", value: "0")
            } else if let file = files[String(request.uri.prefix { $0 != "?" })] {
                status = .ok
                headers.add(name: "content-type", value: "application/octet-stream")
                headers.add(name: "content-length", value: String(file.readableBytes))
                body = request.method == .GET ? file : nil
            } else {
                status = .notFound
                headers.add(name: "content-length", value: "0")
            }
            if !request.isKeepAlive { headers.add(name: "connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
            if let body { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
            let (keepAlive, channel) = (request.isKeepAlive, context.channel)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
                if !keepAlive { channel.close(promise: nil) }
            }
        }
    }
}
