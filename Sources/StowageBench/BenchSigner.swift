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
    private var signingKey = SymmetricKey(data: [UInt8]())
    private var cachedSecond: Int64 = .min
    private var cachedTimestamp = ""

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
        let day = String(timestamp.prefix(8))
        if day != cachedDay {
            var key = SymmetricKey(data: Array("AWS4\(secretKey)".utf8))
            for element in [day, region, service, "aws4_request"] {
                key = SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array(element.utf8), using: key)))
            }
            signingKey = key
            cachedDay = day
        }
        var headers = [(name: "host", value: host), (name: "x-amz-content-sha256", value: payloadHash),
                       (name: "x-amz-date", value: timestamp)]
        headers.append(contentsOf: amzHeaders)
        headers.sort { $0.name < $1.name }
        var canonical = method + "\n" + canonicalPath + "\n" + canonicalQuery + "\n"
        var signedHeaders = ""
        for (index, header) in headers.enumerated() {
            canonical += header.name + ":" + header.value + "\n"
            signedHeaders += index == 0 ? header.name : ";" + header.name
        }
        canonical += "\n" + signedHeaders + "\n" + payloadHash
        let scope = day + "/" + region + "/" + service + "/aws4_request"
        let stringToSign = "AWS4-HMAC-SHA256\n" + timestamp + "\n" + scope + "\n"
            + Self.hex(SHA256.hash(data: Array(canonical.utf8)))
        let signature = Self.hex(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: signingKey))
        return (timestamp, "AWS4-HMAC-SHA256 Credential=" + accessKey + "/" + scope + ", SignedHeaders=" + signedHeaders
                + ", Signature=" + signature)
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

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for byte in digest {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
