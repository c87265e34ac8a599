import Foundation
import HTTPTypes
import Hummingbird
import Stowage

/// What a request addresses, parsed once: bucket and key from the path (path-style) or
/// the Host header (virtual-hosted style), and the query as ordered, decoded pairs.
struct S3Request: Sendable {
    let method: HTTPRequest.Method
    let headers: HTTPFields
    let rawPath: String
    let rawQuery: String
    let bucket: String?
    /// The bucket when the Host names it (virtual-hosted style), nil for path-style.
    let hostBucket: String?
    let key: String?
    let query: [(name: String, value: String)]

    /// `Resource` in error bodies: `/bucket/key` as the client addressed it.
    var resource: String {
        guard let bucket else { return "/" }
        return "/" + bucket + (key.map { "/" + $0 } ?? "")
    }

    /// `path` and `rawQuery` are `request.uri`'s, read once by the caller.
    init(_ request: Request, path rawPath: String, rawQuery: String, baseDomain: String) throws(S3Error) {
        method = request.method
        headers = request.headers
        self.rawPath = rawPath
        self.rawQuery = rawQuery
        query = Self.parseQuery(rawQuery)
        let host = try Self.host(request)
        var path = rawPath
        if path.hasPrefix("/") { path.removeFirst() }
        hostBucket = Self.virtualBucket(host: host, baseDomain: baseDomain)
        if let virtualBucket = hostBucket {
            bucket = virtualBucket
            key = try Self.decodeKey(path)
        } else if path.isEmpty {
            bucket = nil
            key = nil
        } else {
            let parts = path.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = PercentDecoding.string(String(parts[0])) else {
                throw S3Error(.badRequest, "InvalidBucketName", "The specified bucket is not valid.")
            }
            bucket = name
            key = parts.count > 1 ? try Self.decodeKey(String(parts[1])) : nil
        }
    }

    /// The same request addressing `key` in its bucket (a POST Object form names its key in a field).
    func addressing(key: String) -> S3Request {
        S3Request(method: method, headers: headers, rawPath: rawPath, rawQuery: rawQuery, bucket: bucket,
                  hostBucket: hostBucket, key: key, query: query)
    }

    private init(method: HTTPRequest.Method, headers: HTTPFields, rawPath: String, rawQuery: String, bucket: String?,
                 hostBucket: String?, key: String?, query: [(name: String, value: String)]) {
        (self.method, self.headers, self.rawPath, self.rawQuery) = (method, headers, rawPath, rawQuery)
        (self.bucket, self.hostBucket, self.key, self.query) = (bucket, hostBucket, key, query)
    }

    /// A key from its percent-encoded path form; nil for an empty key.
    private static func decodeKey(_ encoded: String) throws(S3Error) -> String? {
        guard !encoded.isEmpty else { return nil }
        guard let bytes = PercentDecoding.bytes(encoded) else {
            throw S3Error.invalidArgument("The object key is not correctly percent-encoded")
        }
        do { return try Validation.key(fromBytes: bytes) } catch { throw S3Error(error) }
    }

    /// The host that addresses the request: the authority (HTTP/1's Host header), else a
    /// `host` field. A `host` field that disagrees with the authority is a second Host
    /// header, refused as RFC 9112 §3.2 says: SigV4 signs that field, so it could sign one
    /// bucket while the authority addresses another.
    private static func host(_ request: Request) throws(S3Error) -> String {
        let fields = request.headers[values: .host]
        let host = request.head.authority ?? fields.first ?? ""
        guard fields.allSatisfy({ $0.lowercased() == host.lowercased() }) else {
            throw S3Error(.badRequest, "InvalidRequest", "The request has more than one Host header.")
        }
        return hostWithoutPort(host)
    }

    /// The bucket a virtual-hosted request names in its host (`BUCKET.<domain>`); nil for
    /// a path-style one.
    static func virtualBucket(host: String, baseDomain: String) -> String? {
        guard host.utf8.count > baseDomain.utf8.count + 1, host.hasSuffix(baseDomain),
              host.utf8.dropLast(baseDomain.utf8.count).last == UInt8(ascii: ".") else { return nil }
        return String(host.dropLast(baseDomain.count + 1))
    }

    /// Whether `request` is path-style: the server's own paths (`/-/…`, `/metrics`) exist
    /// only there; virtual-hosted, the same path is a key of the host's bucket.
    static func isPathStyle(_ request: Request, baseDomain: String) -> Bool {
        let host = hostWithoutPort(request.head.authority ?? request.headers[.host] ?? "")
        return virtualBucket(host: host, baseDomain: baseDomain) == nil
    }

    private static func hostWithoutPort(_ host: String) -> String {
        if host.hasPrefix("[") { return host }   // IPv6 literal: never a virtual host
        let name = host.utf8.firstIndex(of: UInt8(ascii: ":")).map { host[..<$0] } ?? host[...]
        return SigV4Encoding.lowercased(name)
    }

    /// Query pairs in order; `+` is a space in a query (form encoding), as clients send it.
    /// A part that does not decode (a stray `%`) is kept as sent. One pass over the bytes:
    /// a presigned URL's query is read on every request (Foundation's
    /// `replacingOccurrences` here was a quarter of a presigned GET load's CPU).
    static func parseQuery(_ raw: String) -> [(name: String, value: String)] {
        guard !raw.isEmpty else { return [] }
        var raw = raw
        // Scanned in place as bytes: String.UTF8View's indices cost more than the work here.
        return raw.withUTF8 { bytes in
            var pairs: [(name: String, value: String)] = []
            let decode = { (range: Range<Int>) in
                let part = UnsafeBufferPointer(rebasing: bytes[range])
                return PercentDecoding.string(bytes: part, plusIsSpace: true) ?? String(decoding: part, as: UTF8.self)
            }
            for part in QueryParts(bytes) {
                pairs.append((decode(part.name), part.value.map(decode) ?? ""))
            }
            return pairs
        }
    }

    func has(_ name: String) -> Bool { query.contains { $0.name == name } }

    func parameter(_ name: String) -> String? { query.first { $0.name == name }?.value }

    /// The header's value; a header sent more than once reads as its values joined with
    /// commas, as HTTP combines repeated fields (RFC 9110 §5.3). Headers that are one value
    /// by nature and are read on every request (Authorization, Content-Length, Origin)
    /// use `HTTPFields.first` instead, which neither joins nor allocates.
    func header(_ name: String) -> String? {
        HTTPField.Name(name).flatMap { headers[$0] }
    }

    /// Query names that select an operation or a sub-resource (everything but the
    /// parameters of the plain operations and of authentication).
    var subresources: [String] {
        // The prefixes first: a presigned URL's six X-Amz-* names need no hashing.
        query.map(\.name).filter { name in
            !name.hasPrefix("X-Amz-") && !name.hasPrefix("response-")
                && !Self.plainParameters.contains(name) && !Self.signatureV2Parameters.contains(name)
        }
    }

    /// A SigV2 presigned URL's own parameters (`SigV2Verifier`).
    static let signatureV2Parameters: Set<String> = [
        SigV2Verifier.QueryParameter.accessKey, SigV2Verifier.QueryParameter.signature,
        SigV2Verifier.QueryParameter.expires,
    ]

    static let plainParameters: Set<String> = [
        "x-id", "prefix", "delimiter", "max-keys", "marker", "list-type", "continuation-token",
        "start-after", "encoding-type", "fetch-owner", "versionId",
        "key-marker", "upload-id-marker", "max-uploads", "max-parts", "part-number-marker",
        "version-id-marker", "max-buckets", "bucket-region",
    ]
}

extension HTTPField.Name {
    static let host = HTTPField.Name("host")!
}

/// S3's URL encoding for `encoding-type=url` listings: everything but unreserved
/// characters and `/` as %XX.
func urlEncode(_ text: String) -> String {
    var out = ""
    for byte in text.utf8 {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"),
             UInt8(ascii: "."), UInt8(ascii: "~"), UInt8(ascii: "/"):
            out.unicodeScalars.append(Unicode.Scalar(byte))
        default:
            let hex = Array("0123456789ABCDEF".utf8)
            out += "%" + String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 15)]], as: UTF8.self)
        }
    }
    return out
}
