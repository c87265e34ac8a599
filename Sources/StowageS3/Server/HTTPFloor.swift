import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import StowageChecksums

/// The floor under any Hummingbird server on a machine: files read into memory once, then
/// every GET answered from a dictionary, with no signature, no index and no disk. The same
/// HTTP/1 channel, the same Swift Concurrency take-over and the same Hummingbird as
/// `stowage serve`, so that the side by side can split what separates Stowage from nginx
/// into what the framework costs and what Stowage's own request path costs
/// (`stowage http-floor`, hidden; `Benchmarks/http/bench_side.py` runs it).
///
/// Signed (`SignedFloor`), it also does the two things every S3 request must pay for
/// whatever the server: it checks each request's SigV4 signature with the same verifier
/// as `stowage serve`, answers GETs with S3's headers, and reads PUT bodies through MD5
/// for their ETag. It still stores nothing: it is a ceiling, not an S3 server.
public enum HTTPFloor {
    /// A file served from memory, with the MD5 its ETag is.
    public struct File: Sendable {
        public let body: ByteBuffer
        public let etag: String
    }

    /// `<root>/<a>/<b>` → `/a/b`, every regular file under `root`.
    public static func load(root: String) throws -> [String: File] {
        var files: [String: File] = [:]
        let base = URL(fileURLWithPath: root).standardizedFileURL.path
        guard let walker = FileManager.default.enumerator(atPath: base) else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: base])
        }
        while let relative = walker.nextObject() as? String {
            let path = base + "/" + relative
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            var md5 = MD5Digest()
            bytes.withUnsafeBytes { md5.update($0) }
            files["/" + relative] = File(body: ByteBuffer(data: bytes), etag: "\"" + md5.finalize().hexString + "\"")
        }
        return files
    }

    public static func application(files: [String: File], signed: SignedFloor?, address: String, port: Int, logger: Logger,
                                   onServerRunning: @escaping @Sendable (Int) async -> Void) -> some ApplicationProtocol {
        let router = FloorResponder(files: files, signed: signed)
        return Application(responder: router,
                           server: .http1(),
                           configuration: ApplicationConfiguration(address: .hostname(address, port: port), serverName: "floor"),
                           onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
                           logger: logger)
    }
}

/// What a signed floor adds to a request, for both stacks (Hummingbird's responder and the
/// NIO channel handler): the signature check, and S3's answer headers.
public struct SignedFloor: Sendable {
    let authenticator: S3Authenticator
    /// Fixed: the floor answers from memory and its files do not change.
    private let lastModified = HTTPDate.format(milliseconds: Int64(Date().timeIntervalSince1970 * 1000))

    public init(accessKey: String, secretKey: String) {
        authenticator = S3Authenticator(credentials: S3Credentials([accessKey: secretKey]))
    }

    /// True when the request carries a valid signature (either form) of the floor's key.
    /// - Parameter target: the request target as received, `path?query`.
    public func accepts(method: String, target: String, headers: [(name: String, value: String)]) -> Bool {
        let question = target.utf8.firstIndex(of: UInt8(ascii: "?"))
        let path = question.map { String(target[..<$0]) } ?? target
        let query = question.map { String(target[target.utf8.index(after: $0)...]) } ?? ""
        return (try? authenticator.verify(method: method, rawPath: path, rawQuery: query, headers: headers,
                                          hostBucket: nil, now: Date())) != nil
    }

    /// A GET's or HEAD's headers beside the floor's two and the file's ETag: what `stowage
    /// serve` sends for an object. Fixed: both floors build them once, not per request.
    public var objectHeaders: [(name: String, value: String)] {
        [("last-modified", lastModified), ("accept-ranges", "bytes")] + Self.requestIDs
    }

    /// A PUT's answer headers beside the ETag of the body that was read.
    public static let putHeaders = [("content-length", "0")] + requestIDs

    /// Of the lengths `stowage serve` sends.
    private static let requestIDs = [("x-amz-request-id", "F878312700000007"), ("x-amz-id-2", "Rjg3ODMxMjcwMDAwMDAwMQ==")]
}

private struct FloorResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let files: [String: HTTPFloor.File]
    let signed: SignedFloor?
    /// The signed floor's fixed answer headers, made into fields once, not per request.
    private let objectFields: HTTPFields
    private let putFields: HTTPFields

    init(files: [String: HTTPFloor.File], signed: SignedFloor?) {
        self.files = files
        self.signed = signed
        objectFields = Self.fields(signed?.objectHeaders ?? [])
        putFields = Self.fields(SignedFloor.putHeaders)
    }

    func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
        if let signed {
            var headers = request.headers.map { (name: $0.name.canonicalName, value: $0.value) }
            if let authority = request.head.authority, !headers.contains(where: { $0.name == "host" }) {
                headers.append((name: "host", value: authority))
            }
            guard signed.accepts(method: request.method.rawValue, target: request.head.path ?? "/", headers: headers) else {
                return Response(status: .forbidden)
            }
            if request.method == .put {
                var md5 = MD5Digest()
                for try await part in request.body {
                    part.withUnsafeReadableBytes { md5.update($0) }
                }
                var fields = HTTPFields()
                fields[.eTag] = "\"" + md5.finalize().hexString + "\""
                fields.append(contentsOf: putFields)
                return Response(status: .ok, headers: fields)
            }
        }
        guard request.method == .get || request.method == .head else {
            return Response(status: .methodNotAllowed)
        }
        guard let file = files[request.uri.path] else { return Response(status: .notFound) }
        var headers = HTTPFields()
        headers[.contentType] = "application/octet-stream"
        headers[.contentLength] = String(file.body.readableBytes)
        if signed != nil {
            headers[.eTag] = file.etag
            headers.append(contentsOf: objectFields)
        }
        return Response(status: .ok, headers: headers,
                        body: request.method == .head ? ResponseBody() : ResponseBody(byteBuffer: file.body))
    }

    private static func fields(_ pairs: [(name: String, value: String)]) -> HTTPFields {
        HTTPFields(pairs.compactMap { pair in HTTPField.Name(pair.name).map { HTTPField(name: $0, value: pair.value) } })
    }
}
