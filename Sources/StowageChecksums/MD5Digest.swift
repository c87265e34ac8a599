import Crypto

/// Streaming MD5, the S3 ETag of a single-part object.
public struct MD5Digest {
    private var hasher = Insecure.MD5()

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        hasher.update(bufferPointer: bytes)
    }

    /// The 16-byte digest. Consumes the running state.
    public func finalize() -> [UInt8] {
        Array(hasher.finalize())
    }
}

extension Array where Element == UInt8 {
    /// Lowercase hexadecimal, as S3 writes ETags.
    public var hexString: String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(count * 2)
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
