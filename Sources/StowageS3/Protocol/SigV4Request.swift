/// Request headers, looked up by lowercase name. Repeated headers keep their order: SigV4
/// joins their values with commas.
///
/// A list scanned by name, not a dictionary: a request has a dozen headers or so, and a
/// scan costs less than hashing every name and an array per name (perf: building the
/// dictionary was 1.5 % of a 4 KiB GET load's CPU).
struct SigV4Headers {
    /// Every header as sent, names lowercased.
    let all: [(name: String, value: String)]

    init(_ headers: [(name: String, value: String)]) {
        all = headers.map { (name: SigV4Encoding.lowercased($0.name), value: $0.value) }
    }

    func values(_ lowercaseName: String) -> [String] {
        all.compactMap { $0.name == lowercaseName ? $0.value : nil }
    }

    /// The first value of a header, trimmed; nil when absent.
    func first(_ lowercaseName: String) -> String? {
        all.first { $0.name == lowercaseName }.map { String(SigV4Encoding.trim(Substring($0.value))) }
    }
}

/// A raw query string split into percent-decoded name/value pairs, in the order sent.
struct SigV4Query {
    /// Where a pair's name and value are in `decoded`. Plain ranges, not slices: a slice
    /// holds the buffer, so every copy of a pair was a retain and a release (perf: a
    /// quarter of a presigned verification was reference counting).
    struct Pair {
        let name: Range<Int>
        let value: Range<Int>
    }

    /// Every name and value, decoded, one after another in one buffer.
    let decoded: [UInt8]
    let pairs: [Pair]

    /// One pass over the query's bytes, decoded into one buffer (a presigned request's
    /// query is read on every request: an array per name and per value was a dozen
    /// allocations each time).
    init(_ rawQuery: String) {
        guard !rawQuery.isEmpty else { decoded = []; pairs = []; return }
        var raw = rawQuery
        var decoded: [UInt8] = []
        var pairs: [Pair] = []
        raw.withUTF8 { bytes in
            decoded.reserveCapacity(bytes.count)
            pairs.reserveCapacity(8)
            for part in QueryParts(bytes) {
                let nameStart = decoded.count
                SigV4Encoding.decode(bytes[part.name], plusIsSpace: true, into: &decoded)
                let valueStart = decoded.count
                if let value = part.value { SigV4Encoding.decode(bytes[value], plusIsSpace: true, into: &decoded) }
                pairs.append(Pair(name: nameStart..<valueStart, value: valueStart..<decoded.count))
            }
        }
        self.decoded = decoded
        self.pairs = pairs
    }

    func name(_ pair: Pair) -> ArraySlice<UInt8> { decoded[pair.name] }
    func valueString(_ pair: Pair) -> String { String(decoding: decoded[pair.value], as: UTF8.self) }

    /// The index in `names` of `pair`'s name (compared as bytes, case-sensitive), nil when
    /// none matches.
    func position(of pair: Pair, in names: [[UInt8]]) -> Int? {
        decoded.withUnsafeBufferPointer { buffer in
            let name = UnsafeBufferPointer(rebasing: buffer[pair.name])
            return names.firstIndex { $0.count == name.count && $0.withUnsafeBufferPointer { $0.elementsEqual(name) } }
        }
    }

    func isNamed(_ pair: Pair, _ wanted: String) -> Bool {
        guard pair.name.count == wanted.utf8.count else { return false }
        var wanted = wanted
        return wanted.withUTF8 { wanted in
            decoded.withUnsafeBufferPointer { UnsafeBufferPointer(rebasing: $0[pair.name]).elementsEqual(wanted) }
        }
    }

    /// Every value sent for `name` (case-sensitive, as S3 treats its parameters).
    func values(_ name: String) -> [String] {
        pairs.compactMap { isNamed($0, name) ? valueString($0) : nil }
    }

    func contains(_ name: String) -> Bool {
        pairs.contains { isNamed($0, name) }
    }
}

/// The canonical request of SigV4, built from what the client sent.
enum SigV4CanonicalRequest {
    /// The path, decoded and encoded again by AWS's rules, one segment at a time: clients
    /// escape different characters (`(`, `!`, `~`, unicode…) but all sign AWS's encoding of
    /// the same bytes. A `%2F` inside a segment stays encoded; S3 does not double-encode.
    static func uri(rawPath: String, into output: inout [UInt8]) {
        let bytes = rawPath.utf8
        guard !bytes.isEmpty else { output.append(UInt8(ascii: "/")); return }
        // Most paths are already AWS's encoding of themselves: nothing to decode.
        if bytes.allSatisfy({ SigV4Encoding.isUnreserved($0) || $0 == UInt8(ascii: "/") }) {
            output.append(contentsOf: bytes)
            return
        }
        let array = Array(bytes)
        for (index, segment) in array.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).enumerated() {
            if index > 0 { output.append(UInt8(ascii: "/")) }
            SigV4Encoding.encode(SigV4Encoding.decode(segment, plusIsSpace: false), into: &output)
        }
    }

    static func uri(rawPath: String) -> String {
        var output: [UInt8] = []
        uri(rawPath: rawPath, into: &output)
        return String(decoding: output, as: UTF8.self)
    }

    /// Names and values encoded by AWS's rules, sorted by name then value, joined with `&`.
    /// A presigned URL's own `X-Amz-Signature` is left out: it cannot sign itself.
    ///
    /// Encoded into one buffer and sorted as ranges of it: no array per pair (perf: the
    /// per-pair arrays and their reference counts were most of the canonical query's cost).
    static func query(_ query: SigV4Query, excludingSignature: Bool, into output: inout [UInt8]) {
        guard !query.pairs.isEmpty else { return }
        var encoded: [UInt8] = []
        encoded.reserveCapacity(query.decoded.count + query.decoded.count / 2)
        var parts: [SigV4Query.Pair] = []
        parts.reserveCapacity(query.pairs.count)
        query.decoded.withUnsafeBufferPointer { decoded in
            for pair in query.pairs {
                if excludingSignature && query.isNamed(pair, SigV4Verifier.QueryParameter.signature) { continue }
                let nameStart = encoded.count
                SigV4Encoding.encode(UnsafeBufferPointer(rebasing: decoded[pair.name]), into: &encoded)
                let valueStart = encoded.count
                SigV4Encoding.encode(UnsafeBufferPointer(rebasing: decoded[pair.value]), into: &encoded)
                parts.append(SigV4Query.Pair(name: nameStart..<valueStart, value: valueStart..<encoded.count))
            }
        }
        encoded.withUnsafeBufferPointer { bytes in
            // Clients send them sorted more often than not (botocore does): then nothing moves.
            parts.sort { lhs, rhs in
                let (leftName, rightName) = (bytes[lhs.name], bytes[rhs.name])
                if leftName.elementsEqual(rightName) {
                    return bytes[lhs.value].lexicographicallyPrecedes(bytes[rhs.value])
                }
                return leftName.lexicographicallyPrecedes(rightName)
            }
            for (index, part) in parts.enumerated() {
                if index > 0 { output.append(UInt8(ascii: "&")) }
                output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[part.name]))
                output.append(UInt8(ascii: "="))
                output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[part.value]))
            }
        }
    }

    static func query(_ query: SigV4Query, excludingSignature: Bool) -> String {
        var output: [UInt8] = []
        Self.query(query, excludingSignature: excludingSignature, into: &output)
        return String(decoding: output, as: UTF8.self)
    }

    /// `name:value\n` for each signed header, values trimmed and repeated headers joined
    /// with commas. A signed header that is absent contributes an empty value, so the
    /// signature fails as it should.
    static func headers(_ headers: SigV4Headers, signed names: [Substring], into output: inout [UInt8]) {
        for name in names {
            output.append(contentsOf: name.utf8)
            output.append(UInt8(ascii: ":"))
            var first = true
            for header in headers.all where SigV4Encoding.equalsIgnoringASCIICase(name, lowercase: header.name) {
                if !first { output.append(UInt8(ascii: ",")) }
                first = false
                SigV4Encoding.trimAll(header.value, into: &output)
            }
            output.append(UInt8(ascii: "\n"))
        }
    }

    static func headers(_ headers: SigV4Headers, signed names: [Substring]) -> String {
        var output: [UInt8] = []
        Self.headers(headers, signed: names, into: &output)
        return String(decoding: output, as: UTF8.self)
    }

    /// The canonical request's bytes: method, URI, query, headers, signed header names and
    /// payload hash, a line each, built in one buffer (no string per part, no join).
    static func bytes(method: String, rawPath: String, query: SigV4Query, excludingSignature: Bool,
                      headers: SigV4Headers, signed names: [Substring], signedHeadersLine: String,
                      payload: String) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(256 + rawPath.utf8.count * 3)
        output.append(contentsOf: method.utf8)
        output.append(UInt8(ascii: "\n"))
        uri(rawPath: rawPath, into: &output)
        output.append(UInt8(ascii: "\n"))
        Self.query(query, excludingSignature: excludingSignature, into: &output)
        output.append(UInt8(ascii: "\n"))
        Self.headers(headers, signed: names, into: &output)
        output.append(UInt8(ascii: "\n"))
        output.append(contentsOf: signedHeadersLine.utf8)
        output.append(UInt8(ascii: "\n"))
        output.append(contentsOf: payload.utf8)
        return output
    }
}
