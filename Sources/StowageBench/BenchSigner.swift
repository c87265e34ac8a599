import Crypto
import Foundation

/// AWS Signature Version 4 in the `Authorization` header, for the bench's own requests:
/// the signing key is derived once per day (it depends on the date, the region and the
/// service only) and `x-amz-date` is formatted once per second, so a request costs one
/// SHA-256 of its canonical request and one HMAC. The caller gives the path and query in
/// their canonical form (the bench's keys are unreserved characters and `/`).
///
/// Tests pin it to StowageS3's `SigV4Signer`, itself pinned to botocore's `SigV4Auth`.
/// One per connection: it caches, and is not shared between threads.
public struct BenchSigner {
    public static let unsignedPayload = "UNSIGNED-PAYLOAD"

    let accessKey: String
    let secretKey: String
    let region: String
    let service: String
    private var cachedDay = ""
    private var cachedScope = ""
    /// HMAC-SHA256 keyed with the day's signing key: copied per request, so the key's
    /// padding blocks are hashed once a day, not once per request.
    private var keyed = HMAC<SHA256>(key: SymmetricKey(data: [UInt8]()))
    private var cachedSecond: Int64 = .min
    private var cachedTimestamp = ""
    /// Reused per request: the canonical request and the string to sign, as bytes.
    private var canonical: [UInt8] = []
    private var stringToSign: [UInt8] = []

    public init(accessKey: String, secretKey: String, region: String, service: String = "s3") {
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.region = region
        self.service = service
    }

    /// `x-amz-date` and `Authorization` for a request whose signed headers are `host`,
    /// `x-amz-content-sha256`, `x-amz-date` and `amzHeaders` (lowercase `x-amz-*` names
    /// with values as sent, in any order).
    public mutating func sign(method: String, canonicalPath: String, canonicalQuery: String, host: String,
                              amzHeaders: [(name: String, value: String)] = [], payloadHash: String,
                              secondsSince1970: Int64) -> (amzDate: String, authorization: String) {
        let timestamp = timestamp(secondsSince1970)
        prepareKey(forDay: String(timestamp.prefix(8)))
        // The three fixed headers sort as host < x-amz-content-sha256 < x-amz-date; any
        // others (x-amz-*) are merged in by name.
        var headers = [(name: "host", value: host), (name: "x-amz-content-sha256", value: payloadHash),
                       (name: "x-amz-date", value: timestamp)]
        if !amzHeaders.isEmpty {
            headers.append(contentsOf: amzHeaders)
            headers.sort { $0.name < $1.name }
        }
        canonical.removeAll(keepingCapacity: true)
        Self.appendLine(method, to: &canonical)
        Self.appendLine(canonicalPath, to: &canonical)
        Self.appendLine(canonicalQuery, to: &canonical)
        var signedHeaders = ""
        for (index, header) in headers.enumerated() {
            canonical.append(contentsOf: header.name.utf8)
            canonical.append(UInt8(ascii: ":"))
            canonical.append(contentsOf: header.value.utf8)
            canonical.append(UInt8(ascii: "\n"))
            if index > 0 { signedHeaders += ";" }
            signedHeaders += header.name
        }
        canonical.append(UInt8(ascii: "\n"))
        canonical.append(contentsOf: signedHeaders.utf8)
        canonical.append(UInt8(ascii: "\n"))
        canonical.append(contentsOf: payloadHash.utf8)
        return (timestamp, "AWS4-HMAC-SHA256 Credential=" + accessKey + "/" + cachedScope + ", SignedHeaders=" + signedHeaders
                + ", Signature=" + signature(timestamp))
    }

    /// The query of a presigned URL (SigV4 in the query string, as botocore's
    /// `S3SigV4QueryAuth` makes it: `host` the one signed header, UNSIGNED-PAYLOAD), for a
    /// request without a query of its own; the request target is `canonicalPath?<query>`.
    /// A client sends the same URL for as long as it is valid, as a browser or `wrk` given
    /// presigned URLs does: the server still checks the signature of every request.
    public mutating func presignedQuery(method: String, canonicalPath: String, host: String, expiresSeconds: Int,
                                        secondsSince1970: Int64) -> String {
        let timestamp = timestamp(secondsSince1970)
        prepareKey(forDay: String(timestamp.prefix(8)))
        let query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" + Self.uriEncode(accessKey + "/" + cachedScope)
            + "&X-Amz-Date=" + timestamp + "&X-Amz-Expires=" + String(expiresSeconds) + "&X-Amz-SignedHeaders=host"
        canonical.removeAll(keepingCapacity: true)
        Self.appendLine(method, to: &canonical)
        Self.appendLine(canonicalPath, to: &canonical)
        Self.appendLine(query, to: &canonical)
        Self.appendLine("host:" + host, to: &canonical)
        canonical.append(UInt8(ascii: "\n"))
        Self.appendLine("host", to: &canonical)
        canonical.append(contentsOf: Self.unsignedPayload.utf8)
        return query + "&X-Amz-Signature=" + signature(timestamp)
    }

    /// The signing key of `day` (and its credential scope), derived when the day changes.
    private mutating func prepareKey(forDay day: String) {
        guard day != cachedDay else { return }
        var key = SymmetricKey(data: Array("AWS4\(secretKey)".utf8))
        for element in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array(element.utf8), using: key)))
        }
        keyed = HMAC<SHA256>(key: key)
        cachedDay = day
        cachedScope = day + "/" + region + "/" + service + "/aws4_request"
    }

    /// The signature of the canonical request in `canonical`, made at `timestamp`.
    private mutating func signature(_ timestamp: String) -> String {
        stringToSign.removeAll(keepingCapacity: true)
        Self.appendLine("AWS4-HMAC-SHA256", to: &stringToSign)
        Self.appendLine(timestamp, to: &stringToSign)
        Self.appendLine(cachedScope, to: &stringToSign)
        Self.appendHex(SHA256.hash(data: canonical), to: &stringToSign)
        var mac = keyed
        mac.update(data: stringToSign)
        return Self.hex(mac.finalize())
    }

    /// RFC 3986 percent-encoding of all but the unreserved characters (`/` included), as
    /// SigV4 wants a query value or a key in a header.
    static func uriEncode(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for byte in text.utf8 {
            if BenchConfiguration.isPathSafe(byte), byte != UInt8(ascii: "/") {
                out.append(byte)
            } else {
                out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 15)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private mutating func timestamp(_ seconds: Int64) -> String {
        if seconds != cachedSecond {
            cachedTimestamp = Self.basicISO8601(seconds)
            cachedSecond = seconds
        }
        return cachedTimestamp
    }

    /// `YYYYMMDDTHHMMSSZ` in UTC, from days since 1970 by Howard Hinnant's `civil_from_days`.
    static func basicISO8601(_ seconds: Int64) -> String {
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(year)\(two(month))\(two(day))T\(two(secondOfDay / 3600))\(two(secondOfDay / 60 % 60))\(two(secondOfDay % 60))Z"
    }

    private static func appendLine(_ text: String, to out: inout [UInt8]) {
        out.append(contentsOf: text.utf8)
        out.append(UInt8(ascii: "\n"))
    }

    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    static func appendHex<D: Sequence>(_ digest: D, to out: inout [UInt8]) where D.Element == UInt8 {
        for byte in digest {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        var out = [UInt8]()
        out.reserveCapacity(64)
        appendHex(digest, to: &out)
        return String(decoding: out, as: UTF8.self)
    }
}
