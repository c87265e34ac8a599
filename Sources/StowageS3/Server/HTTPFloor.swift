import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

/// The floor under any Hummingbird server on a machine: files read into memory once, then
/// every GET answered from a dictionary, with no signature, no index and no disk. The same
/// HTTP/1 channel, the same Swift Concurrency take-over and the same Hummingbird as
/// `stowage serve`, so that the side by side can split what separates Stowage from nginx
/// into what the framework costs and what Stowage's own request path costs
/// (`stowage http-floor`, hidden; `Benchmarks/http/bench_side.py` runs it).
public enum HTTPFloor {
    /// `<root>/<a>/<b>` → `/a/b`, every regular file under `root`.
    public static func load(root: String) throws -> [String: ByteBuffer] {
        var files: [String: ByteBuffer] = [:]
        let base = URL(fileURLWithPath: root).standardizedFileURL.path
        guard let walker = FileManager.default.enumerator(atPath: base) else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: base])
        }
        while let relative = walker.nextObject() as? String {
            let path = base + "/" + relative
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            files["/" + relative] = ByteBuffer(data: try Data(contentsOf: URL(fileURLWithPath: path)))
        }
        return files
    }

    public static func application(files: [String: ByteBuffer], address: String, port: Int, logger: Logger,
                                   onServerRunning: @escaping @Sendable (Int) async -> Void) -> some ApplicationProtocol {
        let router = FloorResponder(files: files)
        return Application(responder: router,
                           server: .http1(),
                           configuration: ApplicationConfiguration(address: .hostname(address, port: port), serverName: "floor"),
                           onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
                           logger: logger)
    }
}

private struct FloorResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let files: [String: ByteBuffer]

    func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
        guard request.method == .get || request.method == .head else {
            return Response(status: .methodNotAllowed)
        }
        guard let body = files[request.uri.path] else { return Response(status: .notFound) }
        var headers = HTTPFields()
        headers[.contentType] = "application/octet-stream"
        headers[.contentLength] = String(body.readableBytes)
        return Response(status: .ok, headers: headers,
                        body: request.method == .head ? ResponseBody() : ResponseBody(byteBuffer: body))
    }
}
