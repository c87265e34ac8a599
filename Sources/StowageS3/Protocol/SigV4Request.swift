/// Request headers, looked up by lowercase name. Repeated headers keep their order: SigV4
/// joins their values with commas.
struct SigV4Headers {
    private var valuesByName: [String: [String]] = [:]

    init(_ headers: [(name: String, value: String)]) {
        for header in headers {
            valuesByName[SigV4Encoding.lowercased(header.name), default: []].append(header.value)
        }
    }

    var names: Dictionary<String, [String]>.Keys { valuesByName.keys }

    /// Every header, names lowercased, the values of each name in the order sent.
    var all: [(name: String, value: String)] {
        valuesByName.flatMap { name, values in values.map { (name: name, value: $0) } }
    }

    func values(_ lowercaseName: String) -> [String] {
        valuesByName[lowercaseName] ?? []
    }

    /// The first value of a header, trimmed; nil when absent.
    func first(_ lowercaseName: String) -> String? {
        valuesByName[lowercaseName]?.first.map { String(SigV4Encoding.trim(Substring($0))) }
    }
}

/// A raw query string split into percent-decoded name/value pairs, in the order sent.
struct SigV4Query {
    struct Pair {
        let name: [UInt8]
        let value: [UInt8]
    }

    let pairs: [Pair]

    init(_ rawQuery: String) {
        let bytes = Array(rawQuery.utf8)
        pairs = bytes.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true).map { field in
            let equals = field.firstIndex(of: UInt8(ascii: "=")) ?? field.endIndex
            let value = equals < field.endIndex ? field[(equals + 1)...] : []
            return Pair(name: SigV4Encoding.decode(field[..<equals], plusIsSpace: true),
                        value: SigV4Encoding.decode(value, plusIsSpace: true))
        }
    }

    /// Every value sent for `name` (case-sensitive, as S3 treats its parameters).
    func values(_ name: String) -> [String] {
        let wanted = Array(name.utf8)
        return pairs.filter { $0.name == wanted }.map { String(decoding: $0.value, as: UTF8.self) }
    }

    func contains(_ name: String) -> Bool {
        let wanted = Array(name.utf8)
        return pairs.contains { $0.name == wanted }
    }
}

/// The canonical request of SigV4, built from what the client sent.
enum SigV4CanonicalRequest {
    /// The path, decoded and encoded again by AWS's rules, one segment at a time: clients
    /// escape different characters (`(`, `!`, `~`, unicode…) but all sign AWS's encoding of
    /// the same bytes. A `%2F` inside a segment stays encoded; S3 does not double-encode.
    static func uri(rawPath: String) -> String {
        let bytes = Array(rawPath.utf8)
        guard !bytes.isEmpty else { return "/" }
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count * 2)
        let segments = bytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        for (index, segment) in segments.enumerated() {
            if index > 0 { output.append(UInt8(ascii: "/")) }
            SigV4Encoding.encode(SigV4Encoding.decode(segment, plusIsSpace: false), into: &output)
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Names and values encoded by AWS's rules, sorted by name then value, joined with `&`.
    /// A presigned URL's own `X-Amz-Signature` is left out: it cannot sign itself.
    static func query(_ query: SigV4Query, excludingSignature: Bool) -> String {
        let signatureName = Array(SigV4Verifier.QueryParameter.signature.utf8)
        let encoded: [([UInt8], [UInt8])] = query.pairs.compactMap { pair in
            if excludingSignature && pair.name == signatureName { return nil }
            var name: [UInt8] = []
            var value: [UInt8] = []
            SigV4Encoding.encode(pair.name, into: &name)
            SigV4Encoding.encode(pair.value, into: &value)
            return (name, value)
        }
        let sorted = encoded.sorted { lhs, rhs in
            lhs.0 == rhs.0 ? lhs.1.lexicographicallyPrecedes(rhs.1) : lhs.0.lexicographicallyPrecedes(rhs.0)
        }
        return sorted.map { String(decoding: $0.0 + [UInt8(ascii: "=")] + $0.1, as: UTF8.self) }
            .joined(separator: "&")
    }

    /// `name:value\n` for each signed header, values trimmed and repeated headers joined
    /// with commas. A signed header that is absent contributes an empty value, so the
    /// signature fails as it should.
    static func headers(_ headers: SigV4Headers, signed names: [Substring]) -> String {
        var output = ""
        for name in names {
            let values = headers.values(SigV4Encoding.lowercased(name))
            output += name
            output += ":"
            for (index, value) in values.enumerated() {
                if index > 0 { output += "," }
                output += SigV4Encoding.trimAll(value)
            }
            output += "\n"
        }
        return output
    }

    static func build(method: String, uri: String, query: String, headers: String,
                      signedHeaders: String, payload: String) -> String {
        [method, uri, query, headers, signedHeaders, payload].joined(separator: "\n")
    }
}
