import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The few S3 calls Stowage's own tools make (`stowage mv`), SigV4-signed (`SigV4Signer`),
/// path-style, over URLSession. Not a general SDK: each call is one request, and every
/// answer but the expected one is an `S3ClientError`.
public struct S3Client: Sendable {
    public let endpoint: URL
    public let signer: SigV4Signer
    /// `AWS_SESSION_TOKEN` for temporary credentials, sent (and signed) as
    /// `x-amz-security-token`.
    public let sessionToken: String?
    private let session: URLSession

    /// How long one request may take.
    public static let timeoutSeconds: TimeInterval = 300

    public init(endpoint: URL, signer: SigV4Signer, sessionToken: String? = nil) {
        self.endpoint = endpoint
        self.signer = signer
        self.sessionToken = sessionToken
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = Self.timeoutSeconds
        session = URLSession(configuration: configuration)
    }

    /// An answer of any status.
    public struct Reply: Sendable {
        public let status: Int
        /// Header names lowercased.
        public let headers: [String: String]
        public let body: Data
    }

    // MARK: Operations

    public struct PrefixRenameResult: Sendable, Equatable {
        public let moved: Int
        public let replaced: Int
    }

    /// Stowage's atomic prefix rename (`POST /{bucket}?renamePrefix`).
    public func renamePrefix(bucket: String, _ body: PrefixRenameBody) async throws -> PrefixRenameResult {
        let reply = try await send("POST", bucket: bucket, query: [("renamePrefix", nil)], body: Data(body.document.utf8))
        guard reply.status == 200, let root = XMLNode.parse(reply.body), root.name == "RenamePrefixResult",
              let moved = root.child("Moved").flatMap({ Int($0.text) }),
              let replaced = root.child("Replaced").flatMap({ Int($0.text) }) else { throw S3ClientError(reply) }
        return PrefixRenameResult(moved: moved, replaced: replaced)
    }

    /// RenameObject (`PUT /{bucket}/{destination}?renameObject`). The source goes out as
    /// `/bucket/key`, URL-encoded, the form of the S3 API model.
    public func renameObject(bucket: String, source: String, destination: String, clientToken: String?,
                             destinationMustNotExist: Bool) async throws {
        var headers = [(name: "x-amz-rename-source", value: "/\(bucket)/" + SigV4Signer.uriEncode(source, keepingSlash: true))]
        if let clientToken { headers.append((name: "x-amz-client-token", value: clientToken)) }
        if destinationMustNotExist { headers.append((name: "If-None-Match", value: "*")) }
        let reply = try await send("PUT", bucket: bucket, key: destination, query: [("renameObject", nil)], headers: headers)
        guard reply.status == 200 else { throw S3ClientError(reply) }
    }

    public struct ListedObject: Sendable, Equatable {
        public let key: String
        /// Without quotes.
        public let etag: String
    }

    /// Every object under `prefix` (ListObjectsV2, page after page).
    public func listObjects(bucket: String, prefix: String) async throws -> [ListedObject] {
        var objects: [ListedObject] = []
        var token: String?
        repeat {
            var query: [(String, String?)] = [("list-type", "2"), ("prefix", prefix)]
            if let token { query.append(("continuation-token", token)) }
            let reply = try await send("GET", bucket: bucket, query: query)
            guard reply.status == 200, let root = XMLNode.parse(reply.body), root.name == "ListBucketResult" else {
                throw S3ClientError(reply)
            }
            for entry in root.all("Contents") {
                guard let key = entry.child("Key")?.text else { throw S3ClientError(reply) }
                objects.append(ListedObject(key: key, etag: Self.unquoted(entry.child("ETag")?.text ?? "")))
            }
            token = root.child("IsTruncated")?.text == "true" ? root.child("NextContinuationToken")?.text : nil
        } while token != nil
        return objects
    }

    /// The object's ETag (without quotes), or nil when there is no such key.
    public func headObject(bucket: String, key: String) async throws -> String? {
        let reply = try await send("HEAD", bucket: bucket, key: key)
        if reply.status == 404 { return nil }
        guard reply.status == 200 else { throw S3ClientError(reply) }
        return Self.unquoted(reply.headers["etag"] ?? "")
    }

    static func unquoted(_ etag: String) -> String {
        etag.count >= 2 && etag.hasPrefix("\"") && etag.hasSuffix("\"") ? String(etag.dropFirst().dropLast()) : etag
    }

    /// A view of Stowage's signed admin API (`GET /-/admin/VIEW`): its JSON.
    public func admin(_ view: String, method: String = "GET", query: [(String, String?)] = [],
                      body: Data = Data()) async throws -> Data {
        let reply = try await send(method, bucket: "-", key: "admin/" + view, query: query, body: body)
        guard reply.status == 200 || reply.status == 204 else { throw S3ClientError(reply) }
        return reply.body
    }

    // MARK: Requests

    /// One signed request to `/{bucket}[/{key}]?{query}`; any status is returned.
    public func send(_ method: String, bucket: String, key: String? = nil, query: [(String, String?)] = [],
                     headers: [(name: String, value: String)] = [], body: Data = Data()) async throws -> Reply {
        let basePath = endpoint.path.hasSuffix("/") ? String(endpoint.path.dropLast()) : endpoint.path
        let path = basePath + "/" + SigV4Signer.uriEncode(bucket) + (key.map { "/" + SigV4Signer.uriEncode($0, keepingSlash: true) } ?? "")
        let rawQuery = query.map { SigV4Signer.uriEncode($0.0) + ($0.1.map { "=" + SigV4Signer.uriEncode($0) } ?? "") }
            .joined(separator: "&")
        guard let scheme = endpoint.scheme, let host = endpoint.host,
              let url = URL(string: "\(scheme)://\(host)\(endpoint.port.map { ":\($0)" } ?? "")\(path)\(rawQuery.isEmpty ? "" : "?" + rawQuery)") else {
            throw S3ClientError(status: 0, code: "InvalidEndpoint", message: "cannot address \(endpoint)")
        }
        var unsigned = headers
        if let sessionToken { unsigned.append((name: "x-amz-security-token", value: sessionToken)) }
        let signed = signer.sign(method: method, rawPath: path, rawQuery: rawQuery,
                                 host: host + (endpoint.port.map { ":\($0)" } ?? ""), headers: unsigned,
                                 payload: SigV4Signer.sha256Hex(Array(body)), at: Date())
        var request = URLRequest(url: url)
        request.httpMethod = method
        for header in signed { request.setValue(header.value, forHTTPHeaderField: header.name) }
        if method == "PUT" || method == "POST" { request.httpBody = body }
        let (data, response) = try await session.data(for: request)
        guard let http = response as? HTTPURLResponse else {
            throw S3ClientError(status: 0, code: "InvalidResponse", message: "not an HTTP response from \(endpoint)")
        }
        var fields: [String: String] = [:]
        for (name, value) in http.allHeaderFields {
            if let name = name as? String, let value = value as? String { fields[name.lowercased()] = value }
        }
        return Reply(status: http.statusCode, headers: fields, body: data)
    }
}

/// An S3 error answer: the status, and the `Code`, `Message` and `Condition` of its XML
/// body (HEAD errors have no body: the code is then the status).
public struct S3ClientError: Error, Sendable, CustomStringConvertible {
    public let status: Int
    public let code: String
    public let message: String
    public var condition: String?
    public var requestID: String?

    public init(status: Int, code: String, message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    init(_ reply: S3Client.Reply) {
        if let root = XMLNode.parse(reply.body), root.name == "Error" {
            self.init(status: reply.status, code: root.child("Code")?.text ?? String(reply.status),
                      message: root.child("Message")?.text ?? "")
            condition = root.child("Condition")?.text
        } else {
            self.init(status: reply.status, code: String(reply.status),
                      message: reply.status == 200 ? "unexpected answer" : String(decoding: reply.body.prefix(200), as: UTF8.self))
        }
        requestID = reply.headers["x-amz-request-id"]
    }

    public var description: String {
        "\(status) \(code)" + (message.isEmpty ? "" : ": \(message)") + (condition.map { " (condition \($0))" } ?? "")
            + (requestID.map { " [request \($0)]" } ?? "")
    }
}
