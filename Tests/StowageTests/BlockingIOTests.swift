import Foundation
import Testing
@testable import Stowage

/// Blocking work runs on a bounded number of Dispatch threads: a burst larger than the
/// bound waits for permits instead of growing a thread per blocked job, and every job
/// still runs. (How many run side by side below the bound is Dispatch's choice: on Linux
/// its global queue starts about one thread per core and adds more only slowly.)
@Suite struct BlockingIOTests {
    @Test func aBurstNeverRunsMoreThanTheLimitAtOnce() async throws {
        let running = Counter()
        let jobs = BlockingIO.limit * 3
        let results = try await withThrowingTaskGroup(of: Int.self) { group in
            for job in 0..<jobs {
                group.addTask {
                    try await BlockingIO.run {
                        running.add(1)
                        usleep(2_000)
                        running.add(-1)
                        return job
                    }
                }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(results.sorted() == Array(0..<jobs))
        #expect(running.peak <= BlockingIO.limit, "at most \(BlockingIO.limit) jobs at once, saw \(running.peak)")
        #expect(BlockingIO.highWater <= BlockingIO.limit)
    }

    @Test func aThrowingJobGivesItsPermitBack() async throws {
        struct Boom: Error {}
        for _ in 0..<(BlockingIO.limit * 2) {
            await #expect(throws: Boom.self) { try await BlockingIO.run { throw Boom() } }
        }
        // Had a failure kept its permit, the bound would be used up by now.
        #expect(try await BlockingIO.run { 7 } == 7)
    }
}

private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    private(set) var peak = 0

    func add(_ delta: Int) {
        lock.lock()
        defer { lock.unlock() }
        value += delta
        peak = max(peak, value)
    }
}
