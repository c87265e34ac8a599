import Foundation

/// The byte-level rules of SigV4's canonical forms: AWS's URI encoding, percent-decoding
/// of what clients sent, header-value trimming and lowercase hex.
///
/// Everything works on UTF-8 bytes: keys are arbitrary UTF-8 and AWS encodes byte by byte.
enum SigV4Encoding {
    /// `A-Z a-z 0-9 - _ . ~`: the only bytes AWS's URI encoding leaves as they are.
    static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
            true
        default:
            false
        }
    }

    /// AWS's `UriEncode`: every byte but the unreserved ones as `%XX`, uppercase.
    /// Runs of unreserved bytes are copied whole: most of a query is (perf: appending
    /// byte by byte was 1 % of a presigned GET load).
    static func encode<Bytes: RandomAccessCollection<UInt8>>(_ bytes: Bytes, into output: inout [UInt8])
    where Bytes.Index == Int {
        // Every caller's bytes are contiguous; the copy is for any that are not.
        if bytes.withContiguousStorageIfAvailable({ encode(contiguous: $0, into: &output) }) == nil {
            Array(bytes).withUnsafeBufferPointer { encode(contiguous: $0, into: &output) }
        }
    }

    /// Over a buffer, so that runs are appended as buffers (memcpy), not as generic slices.
    private static func encode(contiguous bytes: UnsafeBufferPointer<UInt8>, into output: inout [UInt8]) {
        output.reserveCapacity(output.count + bytes.count)
        var runStart = 0
        for index in 0..<bytes.count where !isUnreserved(bytes[index]) {
            output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
            let byte = bytes[index]
            output.append(UInt8(ascii: "%"))
            output.append(upperHexDigits[Int(byte >> 4)])
            output.append(upperHexDigits[Int(byte & 0x0f)])
            runStart = index + 1
        }
        output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart...]))
    }

    /// Percent-decodes `bytes`. `%` not followed by two hex digits stays literal: a client
    /// that sent it unencoded signed it as the byte `%`, which encodes back to `%25`.
    /// With `plusIsSpace` (query strings), `+` is a space, as form encoding and the Go and
    /// Java SDKs have it.
    static func decode(_ bytes: ArraySlice<UInt8>, plusIsSpace: Bool) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        decode(bytes, plusIsSpace: plusIsSpace, into: &output)
        return output
    }

    /// The same, appended to `output`.
    static func decode<Bytes: RandomAccessCollection<UInt8>>(_ bytes: Bytes, plusIsSpace: Bool,
                                                             into output: inout [UInt8]) where Bytes.Index == Int {
        if bytes.withContiguousStorageIfAvailable({ decode(contiguous: $0, plusIsSpace: plusIsSpace, into: &output) }) == nil {
            Array(bytes).withUnsafeBufferPointer { decode(contiguous: $0, plusIsSpace: plusIsSpace, into: &output) }
        }
    }

    private static func decode(contiguous bytes: UnsafeBufferPointer<UInt8>, plusIsSpace: Bool, into output: inout [UInt8]) {
        // Runs with nothing to decode are copied whole.
        var runStart = 0
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            guard byte == UInt8(ascii: "%") || (plusIsSpace && byte == UInt8(ascii: "+")) else {
                index += 1
                continue
            }
            output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
            if byte == UInt8(ascii: "%"), let high = hexValue(bytes, index + 1), let low = hexValue(bytes, index + 2) {
                output.append(high << 4 | low)
                index += 3
            } else {
                output.append(byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte)
                index += 1
            }
            runStart = index
        }
        output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart...]))
    }

    /// The value of the hex digit at `index`, nil when out of range or not a hex digit.
    private static func hexValue(_ bytes: UnsafeBufferPointer<UInt8>, _ index: Int) -> UInt8? {
        guard index < bytes.count else { return nil }
        return hexDigitValue(bytes[index])
    }

    static func hexDigitValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// SigV4's `Trimall`: no white space at either end, inner runs of it as one space.
    /// Over the string's own bytes; a value with no white space at all (most are: dates,
    /// hashes, hosts) is copied whole.
    static func trimAll(_ value: String, into output: inout [UInt8]) {
        var value = value
        value.withUTF8 { bytes in
            guard bytes.contains(where: isWhitespace) else {
                output.append(contentsOf: bytes)
                return
            }
            let start = output.count
            var pendingSpace = false
            for byte in bytes {
                if isWhitespace(byte) {
                    pendingSpace = output.count > start
                    continue
                }
                if pendingSpace { output.append(UInt8(ascii: " ")) }
                pendingSpace = false
                output.append(byte)
            }
        }
    }

    static func trimAll(_ value: String) -> String {
        var output: [UInt8] = []
        trimAll(value, into: &output)
        return String(decoding: output, as: UTF8.self)
    }

    /// `value` in lowercase: itself when it has no ASCII capital (header names from
    /// HTTPTypes are already lowercase), `lowercased()` otherwise.
    static func lowercased(_ value: some StringProtocol) -> String {
        guard value.utf8.contains(where: { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") || $0 >= 0x80 }) else {
            return String(value)
        }
        return value.lowercased()
    }

    /// ASCII case-insensitive equality with a lowercase ASCII `lowercase`.
    static func equalsIgnoringASCIICase(_ value: some StringProtocol, _ lowercase: StaticString) -> Bool {
        equalsIgnoringASCIICase(value.utf8, UnsafeBufferPointer(start: lowercase.utf8Start, count: lowercase.utf8CodeUnitCount))
    }

    /// The same with an already lowercase string, without making a lowercase copy of `value`.
    static func equalsIgnoringASCIICase(_ value: some StringProtocol, lowercase: some StringProtocol) -> Bool {
        equalsIgnoringASCIICase(value.utf8, lowercase.utf8)
    }

    private static func equalsIgnoringASCIICase(_ value: some Collection<UInt8>, _ lowercase: some Collection<UInt8>) -> Bool {
        guard value.count == lowercase.count else { return false }
        return zip(value, lowercase).allSatisfy { byte, lower in
            byte == lower || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") && byte | 0x20 == lower)
        }
    }

    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || (byte >= 0x09 && byte <= 0x0d)
    }

    /// `value` without white space at either end.
    static func trim(_ value: Substring) -> Substring {
        let start = value.utf8.firstIndex { !isWhitespace($0) } ?? value.endIndex
        let end = value.utf8.lastIndex { !isWhitespace($0) }.map { value.utf8.index(after: $0) } ?? start
        return value[start..<max(start, end)]
    }

    static func lowercaseHex(_ bytes: some ContiguousBytes) -> String {
        // Digests and MACs lend their bytes: written straight into the string's storage
        // (iterating a digest as a Sequence went through generic witnesses per byte).
        bytes.withUnsafeBytes { raw in
            String(unsafeUninitializedCapacity: raw.count * 2) { output in
                for (i, byte) in raw.enumerated() {
                    output[2 * i] = lowerHexDigits[Int(byte >> 4)]
                    output[2 * i + 1] = lowerHexDigits[Int(byte & 0x0f)]
                }
                return raw.count * 2
            }
        }
    }

    static func appendLowercaseHex(_ bytes: some ContiguousBytes, to output: inout [UInt8]) {
        bytes.withUnsafeBytes { raw in
            output.reserveCapacity(output.count + raw.count * 2)
            for byte in raw {
                output.append(lowerHexDigits[Int(byte >> 4)])
                output.append(lowerHexDigits[Int(byte & 0x0f)])
            }
        }
    }

    /// True when `value` is `count` hex digits of either case.
    static func isHex(_ value: Substring, count: Int) -> Bool {
        value.utf8.count == count && value.utf8.allSatisfy { hexDigitValue($0) != nil }
    }

    /// Compares in time independent of where the strings differ, so a forger learns nothing
    /// from how long a wrong signature took to reject.
    static func constantTimeEqual(_ lhs: String, _ rhs: String) -> Bool {
        // Over the strings' own UTF-8 storage: no copies into arrays.
        var (lhs, rhs) = (lhs, rhs)
        return lhs.withUTF8 { left in
            rhs.withUTF8 { right in
                guard left.count == right.count else { return false }
                var difference: UInt8 = 0
                for index in left.indices {
                    difference |= left[index] ^ right[index]
                }
                return difference == 0
            }
        }
    }

    private static let upperHexDigits: [UInt8] = Array("0123456789ABCDEF".utf8)
    private static let lowerHexDigits: [UInt8] = Array("0123456789abcdef".utf8)
}
