import CXXHash

/// XXH3-64 through libxxhash's run-time dispatched entry points (AVX2 where the CPU has
/// it: about 29 GB/s here, against 12–19 GB/s for Debian's SSE2-built `XXH3_64bits`).
/// The engine stores one per chunk of object data (DESIGN.md, I4).
public enum XXH3 {
    /// The 64-bit digest of `bytes`.
    @inlinable
    public static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        XXH3_64bits_dispatch(bytes.baseAddress, bytes.count)
    }

    public static func hash(_ bytes: [UInt8]) -> UInt64 {
        bytes.withUnsafeBytes { hash($0) }
    }
}
