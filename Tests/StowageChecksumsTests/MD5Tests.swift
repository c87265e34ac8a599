import CStowageMD5
import Crypto
import Dispatch
import Foundation
import Synchronization
import Testing
@testable import StowageChecksums

/// MD5Digest and its kernels against RFC 1321's test suite (§A.5) and against
/// swift-crypto's MD5 (BoringSSL) as the oracle.
@Suite struct MD5Tests {
    static let rfcSuite: [(String, String)] = [
        ("", "d41d8cd98f00b204e9800998ecf8427e"),
        ("a", "0cc175b9c0f1b6a831c399e269772661"),
        ("abc", "900150983cd24fb0d6963f7d28e17f72"),
        ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
        ("abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"),
        ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "d174ab98d277d9f5a5611c2c9f419d9f"),
        (String(repeating: "1234567890", count: 8), "57edf4a22be3c955ac49da2e2107b67a"),
    ]

    static func oracle(_ bytes: [UInt8]) -> [UInt8] { Array(Insecure.MD5.hash(data: bytes)) }

    /// Varied, reproducible bytes: a multiplicative hash of each byte's position and the seed.
    static func random(_ count: Int, seed: UInt64) -> [UInt8] {
        (0..<count).map { i in UInt8(truncatingIfNeeded: ((UInt64(i) &+ seed &* 0x1_0000_0001) &* 0x9e37_79b9_7f4a_7c15) >> 41) }
    }

    static func digest(_ bytes: [UInt8], pieces: [Int], lanes: MD5Lanes? = nil) -> [UInt8] {
        var md5 = MD5Digest()
        var at = 0
        bytes.withUnsafeBytes { all in
            for piece in pieces + [bytes.count] where at < bytes.count {
                let end = min(bytes.count, at + piece)
                md5.update(UnsafeRawBufferPointer(rebasing: all[at..<end]), sharingLanes: lanes)
                at = end
            }
        }
        return md5.finalize()
    }

    @Test func rfc1321TestSuite() {
        for (input, hex) in Self.rfcSuite {
            #expect(Self.digest(Array(input.utf8), pieces: []).hexString == hex, "MD5(\"\(input)\")")
        }
    }

    /// Every length around the padding's edges (55, 56, 63, 64 …), whole and fed in
    /// uneven pieces that straddle block boundaries.
    @Test func matchesTheOracleAtEveryLengthAndSplit() {
        for count in 0...300 {
            let bytes = Self.random(count, seed: UInt64(count))
            let expected = Self.oracle(bytes)
            #expect(Self.digest(bytes, pieces: []) == expected, "\(count) bytes whole")
            #expect(Self.digest(bytes, pieces: [1, 62, 3, 64, 65, 7]) == expected, "\(count) bytes in pieces")
        }
    }

    /// finalize() reads the state and leaves the digest running.
    @Test func finalizeDoesNotConsumeTheDigest() {
        var md5 = MD5Digest()
        Array("ab".utf8).withUnsafeBytes { md5.update($0) }
        _ = md5.finalize()
        Array("c".utf8).withUnsafeBytes { md5.update($0) }
        #expect(md5.finalize().hexString == "900150983cd24fb0d6963f7d28e17f72")
    }

    /// Each SIMD kernel the CPU runs, with one to eight lanes of different bytes, gives
    /// each lane the state the scalar kernel gives that stream alone (itself checked
    /// against the oracle above).
    static let kernels = [stowage_md5_kernel_scalar, stowage_md5_kernel_avx2, stowage_md5_kernel_avx512]
        .filter { stowage_md5_supports($0) != 0 }

    /// This machine kind (and CI's) runs all three.
    @Test func theCPUHereRunsEveryKernel() {
        #expect(Self.kernels.count == 3)
        #expect(stowage_md5_best_kernel() == stowage_md5_kernel_avx512)
    }

    @Test(arguments: kernels)
    func laneKernelsAgreeWithOneStreamAtATime(kernel: stowage_md5_kernel) {
        let blocks = 37
        let inputs = (0..<8).map { Self.random(blocks * 64, seed: 1000 + UInt64($0)) }
        let seeds: [UInt32] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476]
        for lanes in 1...8 {
            var expected = [[UInt32]]()
            for lane in 0..<lanes {
                var state = seeds.map { $0 ^ UInt32(lane) }
                inputs[lane].withUnsafeBufferPointer { stowage_md5_stream(&state, $0.baseAddress, blocks) }
                expected.append(state)
            }
            let states = (0..<lanes).map { lane in
                let state = UnsafeMutablePointer<UInt32>.allocate(capacity: 4)
                for i in 0..<4 { state[i] = seeds[i] ^ UInt32(lane) }
                return state
            }
            defer { states.forEach { $0.deallocate() } }
            let copies = inputs.map { input in
                let copy = UnsafeMutablePointer<UInt8>.allocate(capacity: input.count)
                copy.initialize(from: input, count: input.count)
                return copy
            }
            defer { copies.forEach { $0.deallocate() } }
            let statePointers: [UnsafeMutablePointer<UInt32>?] = states
            let dataPointers: [UnsafePointer<UInt8>?] = copies.prefix(lanes).map { UnsafePointer($0) }
            stowage_md5_blocks(kernel, statePointers, dataPointers, Int32(lanes), blocks)
            for lane in 0..<lanes {
                #expect(Array(UnsafeBufferPointer(start: states[lane], count: 4)) == expected[lane],
                        "kernel \(kernel.rawValue), lane \(lane) of \(lanes)")
            }
        }
    }

    /// Eight streams at once through one lanes thread, in runs of uneven lengths: every
    /// digest is the oracle's, and the thread hashed several streams in the same rounds.
    /// The first stream is one long run (32 MiB, tens of ms), hashed on its own thread
    /// while it is alone; the seven others start on threads of their own once it has
    /// begun, so that they meet it (on a loaded machine `concurrentPerform` may run its
    /// iterations one after another, and runs that never meet are never shared).
    @Test func streamsSharingTheLanesGetTheirOwnDigests() throws {
        try #require(stowage_md5_best_kernel() != stowage_md5_kernel_scalar)
        let lanes = MD5Lanes(threads: 1)
        let long = [UInt8](repeating: 0x5a, count: 32 << 20)
        let inputs = [long] + (1..<8).map { Self.random((2 << 20) + 1000 * $0 + 13, seed: 77 + UInt64($0)) }
        let digests = Mutex([[UInt8]](repeating: [], count: inputs.count))
        let group = DispatchGroup()
        func start(_ i: Int, pieces: [Int]) {
            group.enter()
            Thread {
                let digest = Self.digest(inputs[i], pieces: pieces, lanes: lanes)
                digests.withLock { $0[i] = digest }
                group.leave()
            }.start()
        }
        start(0, pieces: [])
        while lanes.counts.runs == 0 { usleep(100) }
        for i in 1..<inputs.count { start(i, pieces: [300_000, 1 << 20, 5, 700_001]) }
        group.wait()
        for (i, input) in inputs.enumerated() {
            #expect(digests.withLock { $0[i] } == Self.oracle(input), "stream \(i)")
        }
        let counts = lanes.counts
        #expect(counts.runs >= 1 + (inputs.count - 1) * 4)
        #expect(counts.sharedRounds > 0, "no round hashed two streams at once: \(counts)")
    }

    /// A stream with nothing else to hash beside it is hashed on its own thread, round by
    /// round: no run reaches a lanes thread, and the digest is right.
    @Test func aLoneStreamHashesOnItsOwnThread() {
        let lanes = MD5Lanes(threads: 1)
        let bytes = Self.random(3 << 20, seed: 9)
        #expect(Self.digest(bytes, pieces: [1 << 20, 1 << 20], lanes: lanes) == Self.oracle(bytes))
        let counts = lanes.counts
        #expect(counts.runs == 3 && counts.soloRuns == 3, "\(counts)")
        #expect(counts.rounds == 0)
    }

    /// Runs below `minimumBlocks`, and a lanes object without a SIMD kernel, hash on the
    /// caller's thread: nothing is handed over, and the digest is still right.
    @Test func shortRunsAndTheScalarKernelStayOnTheCallersThread() {
        let lanes = MD5Lanes(threads: 1)
        let short = Self.random(lanes.minimumBlocks * 64 - 1, seed: 5)
        #expect(Self.digest(short, pieces: [], lanes: lanes) == Self.oracle(short))
        #expect(lanes.counts.runs == 0)
        let scalar = MD5Lanes(threads: 1, kernel: stowage_md5_kernel_scalar)
        let long = Self.random(1 << 20, seed: 6)
        #expect(Self.digest(long, pieces: [], lanes: scalar) == Self.oracle(long))
        #expect(scalar.counts.runs == 0)
    }
}
