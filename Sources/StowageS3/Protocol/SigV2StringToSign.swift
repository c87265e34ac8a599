/// S3's Signature Version 2 string to sign (AWS, "Signing and Authenticating REST
/// Requests"), built from the request as received:
///
///     HTTP-Verb \n Content-MD5 \n Content-Type \n Date \n CanonicalizedAmzHeaders CanonicalizedResource
///
/// `Date` is the `Date` header — empty when `x-amz-date` is sent, which is signed among
/// the `x-amz-*` headers instead — or a presigned URL's `Expires`. The body is not signed.
enum SigV2StringToSign {
    /// The query parameters signed into the canonical resource: AWS's documented list,
    /// botocore's `HmacV1Auth.QSAOfInterest` (1.43) and s3cmd's list, plus the newer
    /// sub-resources that select an operation here (`encryption`, `retention`,
    /// `legal-hold`, `attributes`) and Stowage's own (`renameObject`, `renamePrefix`).
    /// Every name that selects an operation must be here: an unsigned one could be added
    /// to a captured request to turn it into another operation.
    static let signedSubresources: Set<String> = [
        "accelerate", "acl", "analytics", "attributes", "cors", "defaultObjectAcl", "delete", "encryption",
        "inventory", "legal-hold", "lifecycle", "location", "logging", "metrics", "notification", "object-lock",
        "partNumber", "policy", "renameObject", "renamePrefix", "replication", "requestPayment", "restore",
        "retention", "select", "select-type", "storageClass", "tagging", "torrent", "uploadId", "uploads",
        "versionId", "versioning", "versions", "website",
        "response-cache-control", "response-content-disposition", "response-content-encoding",
        "response-content-language", "response-content-type", "response-expires",
    ]

    static func build(method: String, contentMD5: String, contentType: String, date: String,
                      amzHeaders: String, resource: String) -> String {
        "\(method)\n\(contentMD5)\n\(contentType)\n\(date)\n\(amzHeaders)\(resource)"
    }

    /// CanonicalizedAmzHeaders: `name:value\n` for each `x-amz-*` header, names lowercased
    /// and sorted, values trimmed, the values of a repeated header joined with commas in
    /// the order sent.
    static func amzHeaders(_ headers: [(name: String, value: String)]) -> String {
        var valuesByName: [String: [Substring]] = [:]
        for header in headers {
            let name = header.name.lowercased()
            guard name.hasPrefix(amzPrefix) else { continue }
            valuesByName[name, default: []].append(SigV4Encoding.trim(Substring(header.value)))
        }
        return valuesByName.keys.sorted().map { name in
            "\(name):\(valuesByName[name]!.joined(separator: ","))\n"
        }.joined()
    }

    static let amzPrefix = "x-amz-"

    /// CanonicalizedResource: `/bucket` for a virtual-hosted request, the path as received
    /// (percent-encoding intact), then `?` and the signed sub-resources, sorted by name,
    /// values percent-decoded (`name` alone when sent without `=`).
    ///
    /// A request for a bucket itself has two readings: `/bucket/`, as AWS's documentation
    /// signs a virtual-hosted one and botocore signs every one (its `auth_path`, even when
    /// it sends the path `/bucket`), and `/bucket`. Both name the same request, so both are
    /// returned, the one the request was sent as first.
    static func resources(rawPath: String, hostBucket: String?, rawQuery: String) -> [String] {
        let path = (hostBucket.map { "/" + $0 } ?? "") + (rawPath.isEmpty ? "/" : rawPath)
        let subresources = subresources(rawQuery)
        let bucket = path.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        guard path.hasPrefix("/"), !bucket[0].isEmpty, bucket.count == 1 || (bucket.count == 2 && bucket[1].isEmpty) else {
            return [path + subresources]
        }
        let other = bucket.count == 1 ? path + "/" : String(path.dropLast())
        return [path + subresources, other + subresources]
    }

    /// `?a&b=v…` for the signed sub-resources of a raw query, or "" when there are none.
    static func subresources(_ rawQuery: String) -> String {
        var signed: [(name: String, text: String)] = []
        for field in rawQuery.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = field.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = decode(parts[0])
            guard signedSubresources.contains(name) else { continue }
            signed.append((name, parts.count > 1 ? name + "=" + decode(parts[1]) : name))
        }
        guard !signed.isEmpty else { return "" }
        // A stable sort: repeated names keep the order they were sent in, as botocore's do.
        let sorted = signed.enumerated().sorted { ($0.element.name, $0.offset) < ($1.element.name, $1.offset) }
        return "?" + sorted.map(\.element.text).joined(separator: "&")
    }

    /// Percent-decoding only: `+` stays `+`, as botocore's `unquote` leaves it.
    private static func decode(_ text: Substring) -> String {
        String(decoding: SigV4Encoding.decode(ArraySlice(text.utf8), plusIsSpace: false), as: UTF8.self)
    }
}
