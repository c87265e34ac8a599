/// RFC 3986 percent-decoding, shared by the engine (rename sources) and the S3 layer
/// (paths and queries). `+` is left alone: it means a space only in form-encoded queries.
public enum PercentDecoding {
    /// The decoded bytes; nil when a `%` is not followed by two hex digits.
    public static func bytes(_ text: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        var input = Array(text.utf8)[...]
        while let byte = input.popFirst() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard input.count >= 2, let high = hexValue(input.popFirst()!), let low = hexValue(input.popFirst()!) else {
                return nil
            }
            bytes.append(high << 4 | low)
        }
        return bytes
    }

    /// The decoded text; nil on a malformed escape or when the bytes are not UTF-8.
    public static func string(_ text: String) -> String? {
        bytes(text).flatMap { String(validating: $0, as: UTF8.self) }
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
