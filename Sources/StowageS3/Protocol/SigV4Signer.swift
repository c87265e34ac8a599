import Foundation

/// Signs a request with AWS Signature Version 4 in the `Authorization` header: Stowage's own
/// client (`stowage mv`) and the router tests use it. Every header passed in is signed, with
/// `host`.
///
/// Written from AWS's "Signature Calculations for the Authorization Header" rather than
/// from the verifier's canonical-request code, so that the two check each other;
/// `SignerTests` pins its output to botocore's.
public struct SigV4Signer: Sendable {
    /// SHA-256 of the empty body.
    public static let emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    public var accessKey: String
    public var secretKey: String
    public var region: String

    public init(accessKey: String, secretKey: String, region: String) {
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.region = region
    }

    /// `headers` with `x-amz-date`, `x-amz-content-sha256` and `Authorization` added.
    /// - Parameters:
    ///   - rawPath: the path exactly as it will be sent (percent-encoded).
    ///   - rawQuery: the query exactly as it will be sent, without `?`.
    ///   - host: the `Host` header the transport will send (`name:port` unless the port is
    ///     the scheme's default).
    ///   - payload: the body's hex SHA-256 (`sha256Hex`), or `UNSIGNED-PAYLOAD`.
    public func sign(method: String, rawPath: String, rawQuery: String, host: String,
                     headers: [(name: String, value: String)], payload: String, at date: Date) -> [(name: String, value: String)] {
        let timestamp = SigV4Timestamp(secondsSince1970: Int64(date.timeIntervalSince1970.rounded(.down))).basicISO8601
        var sent = headers + [(name: "x-amz-date", value: timestamp), (name: "x-amz-content-sha256", value: payload)]
        let signed = (sent + [(name: "host", value: host)])
            .map { (name: $0.name.lowercased(), value: $0.value.trimmingCharacters(in: .whitespaces)) }
            .sorted { $0.name < $1.name }
        let signedHeaders = signed.map(\.name).joined(separator: ";")
        let canonicalRequest = [method, Self.canonicalURI(rawPath), Self.canonicalQuery(rawQuery),
                                signed.map { "\($0.name):\($0.value)\n" }.joined(), signedHeaders, payload]
            .joined(separator: "\n")
        let day = String(timestamp.prefix(8))
        let scope = "\(day)/\(region)/s3/aws4_request"
        let stringToSign = ["AWS4-HMAC-SHA256", timestamp, scope,
                            Self.sha256Hex(Array(canonicalRequest.utf8))].joined(separator: "\n")
        var key = Array("AWS4\(secretKey)".utf8)
        for element in [day, region, "s3", "aws4_request"] {
            key = SigV4SigningContext.hmac(key: key, Array(element.utf8))
        }
        let signature = SigV4Encoding.lowercaseHex(SigV4SigningContext.hmac(key: key, Array(stringToSign.utf8)))
        sent.append((name: "Authorization",
                     value: "AWS4-HMAC-SHA256 Credential=\(accessKey)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"))
        return sent
    }

    /// Lowercase hex SHA-256 of a body, as `x-amz-content-sha256` carries it.
    public static func sha256Hex(_ bytes: [UInt8]) -> String {
        SigV4SigningContext.sha256Hex(bytes)
    }

    /// Each path segment decoded, then encoded by AWS's `UriEncode` (S3 encodes once).
    static func canonicalURI(_ rawPath: String) -> String {
        rawPath.split(separator: "/", omittingEmptySubsequences: false)
            .map { uriEncode(percentDecode($0)) }
            .joined(separator: "/")
    }

    /// Pairs decoded and encoded again, sorted by name then value, each with its `=`.
    static func canonicalQuery(_ rawQuery: String) -> String {
        let pairs: [(name: String, value: String)] = rawQuery.split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name: String = uriEncode(percentDecode(parts[0]))
            let value: String = parts.count > 1 ? uriEncode(percentDecode(parts[1])) : ""
            return (name: name, value: value)
        }
        let sorted = pairs.sorted { $0.name == $1.name ? $0.value < $1.value : $0.name < $1.name }
        return sorted.map { $0.name + "=" + $0.value }.joined(separator: "&")
    }

    /// AWS's `UriEncode`: every byte but `A-Z a-z 0-9 - _ . ~` (and `/` when kept) as `%XX`.
    /// This is how a client writes a key into a path or a query value.
    public static func uriEncode(_ bytes: some Sequence<UInt8>, keepingSlash: Bool = false) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for byte in bytes {
            if SigV4Encoding.isUnreserved(byte) || (keepingSlash && byte == UInt8(ascii: "/")) {
                out.append(byte)
            } else {
                out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 15)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func uriEncode(_ text: String, keepingSlash: Bool = false) -> String {
        uriEncode(text.utf8, keepingSlash: keepingSlash)
    }

    /// `%XX` decoded; anything else (a stray `%` too) kept as it is.
    static func percentDecode(_ text: Substring) -> [UInt8] {
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "%"), index + 2 < bytes.count,
               let high = SigV4Encoding.hexDigitValue(bytes[index + 1]), let low = SigV4Encoding.hexDigitValue(bytes[index + 2]) {
                out.append(high << 4 | low)
                index += 3
            } else {
                out.append(bytes[index])
                index += 1
            }
        }
        return out
    }
}
