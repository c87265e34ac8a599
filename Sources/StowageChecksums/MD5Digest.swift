import CStowageMD5

/// Streaming MD5, the S3 ETag of a single-part object (RFC 1321; the block function is
/// CStowageMD5's). Long runs of whole blocks can be hashed in `MD5Lanes`, beside other
/// streams', in SIMD lanes: `update(_:sharingLanes:)`.
public struct MD5Digest {
    /// A, B, C, D.
    private var state: (UInt32, UInt32, UInt32, UInt32) = (0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476)
    /// The bytes of an incomplete block, held back until it fills (fewer than 64).
    private var pending = [UInt8]()
    private var length: UInt64 = 0

    public init() {}

    /// Hashes `bytes` on the calling thread.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        update(bytes, sharingLanes: nil)
    }

    /// Hashes `bytes`; whole blocks of a run of at least `lanes.minimumBlocks` go to
    /// `lanes`, and the calling thread waits for them. Never from an event loop: the wait
    /// is a blocking one.
    public mutating func update(_ bytes: UnsafeRawBufferPointer, sharingLanes lanes: MD5Lanes?) {
        guard var base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count > 0 else { return }
        var count = bytes.count
        length &+= UInt64(count)
        if !pending.isEmpty {
            let n = min(64 - pending.count, count)
            pending.append(contentsOf: UnsafeBufferPointer(start: base, count: n))
            base += n
            count -= n
            guard pending.count == 64 else { return }
            pending.withUnsafeBufferPointer { compress($0.baseAddress!, blocks: 1, lanes: nil) }
            pending.removeAll(keepingCapacity: true)
        }
        let blocks = count / 64
        if blocks > 0 { compress(base, blocks: blocks, lanes: lanes) }
        if count % 64 > 0 {
            pending.append(contentsOf: UnsafeBufferPointer(start: base + blocks * 64, count: count % 64))
        }
    }

    private mutating func compress(_ data: UnsafePointer<UInt8>, blocks: Int, lanes: MD5Lanes?) {
        withUnsafeMutableBytes(of: &state) { raw in
            let words = raw.baseAddress!.assumingMemoryBound(to: UInt32.self)
            if let lanes, blocks >= lanes.minimumBlocks {
                lanes.compress(words, data, blocks: blocks)
            } else {
                stowage_md5_stream(words, data, blocks)
            }
        }
    }

    /// The 16-byte digest. The running state is left as it was.
    public func finalize() -> [UInt8] {
        var copy = self
        // The padding: one bit, zeros to 56 bytes into a block, the length in bits (LE).
        let blocks = pending.count < 56 ? 1 : 2
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 128) { tail in
            tail.initialize(repeating: 0)
            _ = tail.initialize(from: pending)
            tail[pending.count] = 0x80
            withUnsafeBytes(of: (length &* 8).littleEndian) { bits in
                for (i, byte) in bits.enumerated() { tail[blocks * 64 - 8 + i] = byte }
            }
            copy.compress(UnsafePointer(tail.baseAddress!), blocks: blocks, lanes: nil)
        }
        var digest = [UInt8](repeating: 0, count: 16)
        digest.withUnsafeMutableBytes { out in
            let (a, b, c, d) = copy.state
            out.storeBytes(of: a.littleEndian, toByteOffset: 0, as: UInt32.self)
            out.storeBytes(of: b.littleEndian, toByteOffset: 4, as: UInt32.self)
            out.storeBytes(of: c.littleEndian, toByteOffset: 8, as: UInt32.self)
            out.storeBytes(of: d.littleEndian, toByteOffset: 12, as: UInt32.self)
        }
        return digest
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
