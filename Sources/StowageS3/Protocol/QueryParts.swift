/// The `name=value` parts of a raw query string, as ranges of its bytes, in the order sent:
/// parts are split at `&`, a name ends at its first `=`, empty parts are skipped and a
/// part without `=` has no value. Nothing is decoded or copied: each reader of the query
/// (the S3 layer's pairs, SigV4's, the claimed access key) scans it in place with this,
/// once per request.
struct QueryParts: Sequence, IteratorProtocol {
    private let bytes: UnsafeBufferPointer<UInt8>
    private var start = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    mutating func next() -> (name: Range<Int>, value: Range<Int>?)? {
        while start < bytes.count {
            var end = start
            var equals: Int?
            while end < bytes.count, bytes[end] != UInt8(ascii: "&") {
                if equals == nil, bytes[end] == UInt8(ascii: "=") { equals = end }
                end += 1
            }
            defer { start = end + 1 }
            guard start != end else { continue }
            guard let equals else { return (start..<end, nil) }
            return (start..<equals, (equals + 1)..<end)
        }
        return nil
    }
}
