/// RFC 3986 percent-decoding, shared by the engine (rename sources) and the S3 layer
/// (paths and queries). `+` is left alone unless asked: it means a space only in
/// form-encoded queries.
public enum PercentDecoding {
    /// The decoded bytes; nil when a `%` is not followed by two hex digits.
    public static func bytes(_ text: String) -> [UInt8]? {
        decode(Substring(text).utf8, plusIsSpace: false)
    }

    /// The decoded text; nil on a malformed escape or when the bytes are not UTF-8.
    public static func string(_ text: String) -> String? {
        string(Substring(text), plusIsSpace: false)
    }

    /// The decoded text, `+` read as a space when `plusIsSpace` (a query, as clients send
    /// it); nil on a malformed escape or when the bytes are not UTF-8. Text with nothing to
    /// decode — most query names and values — is returned as it is, its bytes copied once.
    public static func string(_ text: Substring, plusIsSpace: Bool) -> String? {
        let utf8 = text.utf8
        guard utf8.contains(where: { $0 == UInt8(ascii: "%") || (plusIsSpace && $0 == UInt8(ascii: "+")) }) else {
            return String(text)
        }
        return decode(utf8, plusIsSpace: plusIsSpace).flatMap { String(validating: $0, as: UTF8.self) }
    }

    /// The same over bytes already in memory (a query scanned in place): nil on a
    /// malformed escape or when the decoded bytes are not UTF-8. Bytes with nothing to
    /// decode are taken as UTF-8 as they are (they are a slice of a `String`'s own).
    public static func string(bytes: UnsafeBufferPointer<UInt8>, plusIsSpace: Bool) -> String? {
        guard bytes.contains(where: { $0 == UInt8(ascii: "%") || (plusIsSpace && $0 == UInt8(ascii: "+")) }) else {
            return String(decoding: bytes, as: UTF8.self)
        }
        return decode(bytes, plusIsSpace: plusIsSpace).flatMap { String(validating: $0, as: UTF8.self) }
    }

    private static func decode<Bytes: Collection<UInt8>>(_ utf8: Bytes, plusIsSpace: Bool) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count)
        var index = utf8.startIndex
        while index != utf8.endIndex {
            let byte = utf8[index]
            utf8.formIndex(after: &index)
            guard byte == UInt8(ascii: "%") else {
                bytes.append(plusIsSpace && byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte)
                continue
            }
            guard index != utf8.endIndex, let high = hexValue(utf8[index]) else { return nil }
            utf8.formIndex(after: &index)
            guard index != utf8.endIndex, let low = hexValue(utf8[index]) else { return nil }
            utf8.formIndex(after: &index)
            bytes.append(high << 4 | low)
        }
        return bytes
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
