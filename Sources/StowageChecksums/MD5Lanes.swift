import CStowageMD5
import Dispatch
import Foundation
import Synchronization

/// MD5 of several streams at once: each stream's whole blocks take one 32-bit lane of a
/// SIMD register, beside up to seven others (CStowageMD5). MD5 is a chain of dependent
/// steps, bound by their latency, so eight streams in one register cost one core about
/// what one stream costs — where each stream hashing on a thread of its own takes a core
/// per stream.
///
/// A stream hands a run of blocks over (`compress`) and its thread waits; the lanes'
/// threads take waiting runs into free lanes, hash every lane's next `roundBlocks` blocks
/// (or what is left of the shortest run), hand back the runs that are done and look for
/// new ones. A stream alone in its thread's lanes is hashed by the scalar kernel, a lone
/// stream's fastest.
///
/// A run that finds nothing else being hashed, or waiting, is hashed on its caller's own
/// thread (`solo`), round by round; at each round's end it looks again, and hands what is
/// left to the lanes once another run is there. One upload at a time so costs no thread
/// hop (two per 1 MiB chunk took 2–3 % off a one-stream PUT), and a second upload still
/// shares a register with it from the next round on.
public final class MD5Lanes: @unchecked Sendable {
    /// The server's: one thread per four cores, at least one (eight lanes each, so far
    /// more hashing than the cores feed with bytes).
    public static let shared = MD5Lanes(threads: max(1, ProcessInfo.processInfo.activeProcessorCount / 4))

    /// Runs shorter than this are hashed on the caller's thread (16 KiB: the two thread
    /// hops cost about what 2 KiB of MD5 does).
    public let minimumBlocks = 256
    /// Blocks per lane between two looks at the waiting runs (16 KiB, about 20 µs).
    let roundBlocks = 256
    /// The kernel for two lanes or more.
    let kernel: stowage_md5_kernel
    private let threadCount: Int
    /// Runs waiting for a lane, runs in a lanes thread's lanes, whether a caller hashes its
    /// run on its own thread, and whether the threads are started (under `condition`).
    private var waiting: [Run] = []
    private var inLanes = 0
    private var solo = false
    private var started = false
    private let condition = NSCondition()
    private let counters = Mutex(Counters())

    /// What the lanes did (tests, and the server's metrics).
    public struct Counters: Sendable, Equatable {
        /// Rounds run, and of them those with more than one stream in the lanes.
        public var rounds = 0
        public var sharedRounds = 0
        /// Runs given to `compress` (hashed in the lanes or, alone, on their caller's thread).
        public var runs = 0
        /// Of them, runs hashed from start to end on their caller's thread.
        public var soloRuns = 0
    }

    public var counts: Counters { counters.withLock { $0 } }

    /// - Parameter kernel: the SIMD kernel; without one (a CPU with no AVX2) nothing is
    ///   shared and every run is hashed on its caller's thread.
    public init(threads: Int, kernel: stowage_md5_kernel = stowage_md5_best_kernel()) {
        precondition(threads > 0 && stowage_md5_supports(kernel) != 0)
        threadCount = threads
        self.kernel = kernel
    }

    /// Compresses `blocks` 64-byte blocks at `data` into the stream's `state` (A, B, C, D),
    /// in a lane beside other streams'. Blocks the calling thread until done.
    public func compress(_ state: UnsafeMutablePointer<UInt32>, _ data: UnsafePointer<UInt8>, blocks: Int) {
        guard kernel != stowage_md5_kernel_scalar else {
            stowage_md5_stream(state, data, blocks)
            return
        }
        counters.withLock { $0.runs += 1 }
        let run = Run(state: state, data: data, blocks: blocks)
        condition.lock()
        if waiting.isEmpty && inLanes == 0 && !solo {
            solo = true
            condition.unlock()
            if hashAlone(run) {
                counters.withLock { $0.soloRuns += 1 }
                return
            }
            // Another run came: the rest of this one goes to the lanes (the lock is held).
        }
        if !started {
            started = true
            for _ in 0..<threadCount {
                // Named from inside: that is the name /proc, top -H and perf show.
                Thread { [self] in
                    Thread.current.name = "stowage-md5"
                    hashLanes()
                }.start()
            }
        }
        waiting.append(run)
        condition.signal()
        condition.unlock()
        run.done.wait()
    }

    /// Hashes `run` on the calling thread, a round at a time, while no other run is being
    /// hashed or waits. True when it is done; false when another run came and what is left
    /// of this one is to go to the lanes (the caller then holds `condition`'s lock).
    private func hashAlone(_ run: Run) -> Bool {
        while true {
            let round = min(roundBlocks, run.blocks)
            stowage_md5_stream(run.state, run.data, round)
            run.data += round * 64
            run.blocks -= round
            condition.lock()
            if run.blocks == 0 {
                solo = false
                condition.unlock()
                return true
            }
            if !waiting.isEmpty || inLanes > 0 {
                solo = false
                return false
            }
            condition.unlock()
        }
    }

    /// A lanes thread: forever takes waiting runs into free lanes and hashes a round.
    private func hashLanes() {
        var lanes: [Run] = []
        var states = [UnsafeMutablePointer<UInt32>?](repeating: nil, count: Int(STOWAGE_MD5_LANES))
        var data = [UnsafePointer<UInt8>?](repeating: nil, count: Int(STOWAGE_MD5_LANES))
        while true {
            condition.lock()
            while waiting.isEmpty && lanes.isEmpty { condition.wait() }
            let free = Int(STOWAGE_MD5_LANES) - lanes.count
            if free > 0 && !waiting.isEmpty {
                let taken = min(free, waiting.count)
                lanes += waiting.prefix(taken)
                waiting.removeFirst(taken)
                inLanes += taken
            }
            condition.unlock()
            let round = lanes.reduce(roundBlocks) { min($0, $1.blocks) }
            if lanes.count == 1 {
                stowage_md5_stream(lanes[0].state, lanes[0].data, round)
            } else {
                for (i, run) in lanes.enumerated() {
                    states[i] = run.state
                    data[i] = run.data
                }
                stowage_md5_blocks(kernel, states, data, Int32(lanes.count), round)
            }
            counters.withLock { c in
                c.rounds += 1
                if lanes.count > 1 { c.sharedRounds += 1 }
            }
            var finished: [Run] = []
            lanes.removeAll { run in
                run.data += round * 64
                run.blocks -= round
                guard run.blocks == 0 else { return false }
                finished.append(run)
                return true
            }
            if !finished.isEmpty {
                // Counted out before their callers wake, so that a caller's next run sees
                // the lanes as they are.
                condition.lock()
                inLanes -= finished.count
                condition.unlock()
                for run in finished { run.done.signal() }
            }
        }
    }
}

/// A run of blocks in the lanes: its stream's state and what is left to hash. The caller
/// waits on `done` and touches neither meanwhile.
private final class Run: @unchecked Sendable {
    let state: UnsafeMutablePointer<UInt32>
    var data: UnsafePointer<UInt8>
    var blocks: Int
    let done = DispatchSemaphore(value: 0)

    init(state: UnsafeMutablePointer<UInt32>, data: UnsafePointer<UInt8>, blocks: Int) {
        self.state = state
        self.data = data
        self.blocks = blocks
    }
}
