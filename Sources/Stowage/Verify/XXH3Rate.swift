import Dispatch
import StowageChecksums
import Synchronization

/// XXH3 timed over a buffer in memory: the ceiling the byte scan could reach if reading
/// the bytes cost nothing. fsck prints it next to its scan rate (`--measure-xxh3`).
public enum XXH3Rate {
    /// Bytes per second hashing `bufferBytes` of memory in `chunkBytes` chunks (as the
    /// scan hashes chunks) on `threads` threads at once, for about `seconds`.
    public static func measure(bufferBytes: Int, chunkBytes: Int = 1 << 20, threads: Int = 1,
                               seconds: Double = 1) -> Double {
        precondition(bufferBytes > 0 && chunkBytes > 0 && threads > 0)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferBytes, alignment: 4096)
        defer { buffer.deallocate() }
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for i in stride(from: 0, to: bufferBytes - 7, by: 8) {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            buffer.storeBytes(of: state, toByteOffset: i, as: UInt64.self)
        }
        let bytes = ReadOnlyBytes(bytes: UnsafeRawBufferPointer(buffer))
        // Warm up once, so page faults and frequency ramps stay out of the timing.
        _ = hashAll(bytes.bytes, chunkBytes: chunkBytes)
        let clock = ContinuousClock()
        let started = clock.now
        let deadline = started + .nanoseconds(Int64(seconds * 1e9))
        let hashed = Totals()
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            var total = 0
            while clock.now < deadline { total += hashAll(bytes.bytes, chunkBytes: chunkBytes) }
            hashed.add(total)
        }
        let elapsed = clock.now - started
        let (whole, attoseconds) = elapsed.components
        return Double(hashed.sum) / (Double(whole) + Double(attoseconds) / 1e18)
    }

    private static func hashAll(_ bytes: UnsafeRawBufferPointer, chunkBytes: Int) -> Int {
        var sink: UInt64 = 0
        for start in stride(from: 0, to: bytes.count, by: chunkBytes) {
            sink &+= XXH3.hash(UnsafeRawBufferPointer(rebasing: bytes[start..<min(bytes.count, start + chunkBytes)]))
        }
        // Keep the hashes observable so the loop is not optimised away.
        return sink == 0x5EED ? bytes.count + 1 : bytes.count
    }
}

/// The buffer, shared by the timing threads. `@unchecked Sendable`: filled before they
/// start, only read while they run, freed after they finish.
private struct ReadOnlyBytes: @unchecked Sendable {
    let bytes: UnsafeRawBufferPointer
}

/// Bytes hashed, summed over the threads.
private final class Totals: Sendable {
    private let total = Mutex(0)

    func add(_ value: Int) { total.withLock { $0 += value } }

    var sum: Int { total.withLock { $0 } }
}
