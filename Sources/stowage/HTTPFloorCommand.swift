import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import StowageS3

/// Hidden: the Hummingbird floor for the side by side (`HTTPFloor`), not a server for users.
struct HTTPFloorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "http-floor",
        abstract: "Benchmark reference: serve the files under a directory from memory through Hummingbird, no S3.",
        shouldDisplay: false)

    @Option(help: "Directory whose files are served, <root>/<bucket>/<key> at /<bucket>/<key>.")
    var root: String

    @Option(help: "Address to listen on.")
    var address = "127.0.0.1"

    @Option(help: "Port to listen on (0: any free port, printed).")
    var port = 0

    func run() async throws {
        // As `stowage serve` does: the same executor for the same comparison.
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        var logger = Logger(label: "http-floor")
        logger.logLevel = .warning
        let files = try HTTPFloor.load(root: root)
        let app = HTTPFloor.application(files: files, address: address, port: port, logger: logger) { port in
            print("http-floor serving \(files.count) file(s) from memory at http://\(address):\(port)")
            fflush(nil)
        }
        try await app.runService()
    }
}
