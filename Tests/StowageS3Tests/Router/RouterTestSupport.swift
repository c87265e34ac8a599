import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Stowage
import Testing
@testable import StowageS3

/// The S3 app over a real engine on a fresh temporary data directory, driven by `setup`
/// (`.router`: no socket). The store is closed and the directory removed afterwards.
func withTestServer<R: Sendable>(_ setup: TestingSetup = .router,
                                 _ body: @Sendable (any TestClientProtocol, ObjectStore) async throws -> R) async throws -> R {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("stowage-router-test-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: directory) }
    var options = StoreOptions()
    options.durability = .relaxed
    options.segmentCapacityBytes = 8 << 20
    options.chunkSizeBytes = 64 << 10
    options.reservationRunBytes = 1 << 20
    options.indexMapSizeBytes = 1 << 30
    options.logger.logLevel = .critical
    let store = try ObjectStore(directory: directory, options: options)
    defer { store.close() }
    var logger = Logger(label: "stowage.router-tests")
    logger.logLevel = .critical
    let app = S3Server.application(store: store, configuration: S3ServerConfiguration(credentials: TestSigner.credentials),
                                   logger: logger)
    return try await app.test(setup) { client in try await body(client, store) }
}

// MARK: - Signing

/// The router tests sign with `SigV4Signer` (checked against botocore in `SignerTests`),
/// under these credentials.
typealias TestSigner = SigV4Signer

extension SigV4Signer {
    static let accessKey = "AKIASTOWAGEROUTER001"
    static let secretKey = "stowage/router+test/SECRET"
    static let credentials = S3Credentials([accessKey: secretKey])
    static let standard = SigV4Signer(secretKey: secretKey)

    init(accessKey: String = Self.accessKey, secretKey: String) {
        self.init(accessKey: accessKey, secretKey: secretKey, region: "us-east-1")
    }
}

/// AWS's `UriEncode`: every byte but `A-Z a-z 0-9 - _ . ~` (and `/` when kept) as `%XX`.
func awsEncode(_ bytes: some Sequence<UInt8>, keepingSlash: Bool = false) -> String {
    SigV4Signer.uriEncode(bytes, keepingSlash: keepingSlash)
}

func awsEncode(_ text: String, keepingSlash: Bool = false) -> String {
    awsEncode(text.utf8, keepingSlash: keepingSlash)
}

/// `/bucket/key` with the key encoded as the SDKs send it (`/` kept).
func objectPath(_ bucket: String, _ key: String) -> String {
    "/\(bucket)/" + awsEncode(key, keepingSlash: true)
}

// MARK: - Requests

/// One S3 request as a test writes it: the path as sent (percent-encoded), query pairs
/// (a nil value is a bare name, like `?delete`), headers and body. Signed when sent unless
/// `signer` is nil.
struct S3TestRequest: Sendable {
    enum Payload: Sendable {
        /// The body's SHA-256, checked by the server.
        case signed
        /// An `x-amz-content-sha256` value as given (`UNSIGNED-PAYLOAD`, the streaming modes).
        case literal(String)
    }

    var method: HTTPRequest.Method
    var path: String
    var query: [(name: String, value: String?)] = []
    var headers: [(name: String, value: String)] = []
    var body: [UInt8]?
    var payload: Payload = .signed
    var signer: TestSigner? = .standard
    /// When it was signed (default: when sent).
    var signedAt: Date?
    /// Headers sent but left out of the signature.
    var unsignedHeaders: [(name: String, value: String)] = []

    var rawQuery: String {
        query.map { awsEncode($0.name) + ($0.value.map { "=" + awsEncode($0) } ?? "") }.joined(separator: "&")
    }

    var uri: String { rawQuery.isEmpty ? path : path + "?" + rawQuery }

    var payloadValue: String {
        switch payload {
        case .signed: SigV4SigningContext.sha256Hex(body ?? [])
        case .literal(let value): value
        }
    }

    /// The header fields to send to `host` (the router test framework's authority is `localhost`).
    func fields(host: String = "localhost", at date: Date? = nil) -> HTTPFields {
        let signed = signer?.sign(method: method.rawValue, rawPath: path, rawQuery: rawQuery, host: host,
                                  headers: headers, payload: payloadValue, at: date ?? signedAt ?? Date()) ?? headers
        let all = signed + unsignedHeaders
        var fields = HTTPFields()
        for header in all { fields.append(HTTPField(name: HTTPField.Name(header.name)!, value: header.value)) }
        return fields
    }
}

extension TestClientProtocol {
    func send(_ request: S3TestRequest) async throws -> TestResponse {
        try await execute(uri: request.uri, method: request.method, headers: request.fields(),
                          body: request.body.map { ByteBuffer(bytes: $0) })
    }

    func send(_ method: HTTPRequest.Method, _ path: String, query: [(name: String, value: String?)] = [],
              headers: [(name: String, value: String)] = [], body: [UInt8]? = nil,
              payload: S3TestRequest.Payload = .signed, signer: TestSigner? = .standard) async throws -> TestResponse {
        try await send(S3TestRequest(method: method, path: path, query: query, headers: headers, body: body,
                                     payload: payload, signer: signer))
    }

    /// PutObject of `text` (path-style), answering 200.
    @discardableResult
    func put(_ bucket: String, _ key: String, _ text: String, headers: [(name: String, value: String)] = [],
             sourceLocation: SourceLocation = #_sourceLocation) async throws -> TestResponse {
        let response = try await send(.put, objectPath(bucket, key), headers: headers, body: Array(text.utf8))
        #expect(response.status == .ok, "PUT \(bucket)/\(key): \(response.text)", sourceLocation: sourceLocation)
        return response
    }
}

// MARK: - Responses

extension HTTPFields {
    subscript(_ name: String) -> String? { HTTPField.Name(name).flatMap { self[$0] } }
}

extension TestResponse {
    var text: String { String(buffer: body) }
    var xml: XMLNode? { XMLNode.parse(Data(body.readableBytesView)) }
    var requestID: String? { headers["x-amz-request-id"] }
}

extension XMLNode {
    /// The text of the element at `path` below this one.
    func text(_ path: String...) -> String? {
        var node: XMLNode? = self
        for name in path { node = node?.child(name) }
        return node?.text
    }
}

/// Expects an S3 error document: status, `Code`, a `Message`, `RequestId` equal to the
/// `x-amz-request-id` header, and `Resource` and `Condition` when given. Returns the
/// parsed `Error` element.
@discardableResult
func expectS3Error(_ response: TestResponse, _ status: HTTPResponse.Status, _ code: String,
                   resource: String? = nil, condition: String? = nil,
                   sourceLocation: SourceLocation = #_sourceLocation) -> XMLNode? {
    #expect(response.status == status, "\(response.text)", sourceLocation: sourceLocation)
    guard let error = response.xml, error.name == "Error" else {
        Issue.record("no S3 error document: \(response.status) \(response.text)", sourceLocation: sourceLocation)
        return nil
    }
    #expect(response.headers[.contentType] == "application/xml", sourceLocation: sourceLocation)
    #expect(error.text("Code") == code, "\(response.text)", sourceLocation: sourceLocation)
    #expect(!(error.text("Message") ?? "").isEmpty, sourceLocation: sourceLocation)
    #expect(response.requestID != nil, sourceLocation: sourceLocation)
    #expect(error.text("RequestId") == response.requestID, sourceLocation: sourceLocation)
    if let resource { #expect(error.text("Resource") == resource, sourceLocation: sourceLocation) }
    #expect(error.text("Condition") == condition, sourceLocation: sourceLocation)
    return error
}

extension ObjectStore {
    /// True when `bucket/key` is stored.
    func has(_ bucket: String, _ key: String) -> Bool {
        (try? headObject(bucket: bucket, key: key)) != nil
    }

    func text(_ bucket: String, _ key: String) async throws -> String {
        String(decoding: try await getObject(bucket: bucket, key: key).body.collect(), as: UTF8.self)
    }
}
