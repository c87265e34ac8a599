import Dispatch
import NIOCore
import NIOPosix
import Synchronization
import Testing
@testable import StowageS3

/// A long response body waits for its connection's event loop once per `pacedBytes`
/// written, and only then (issue 18, point 4: 64 concurrent 1 GiB GETs held 2.4 GiB of
/// queued writes without it, 0.3 GiB with it).
@Suite struct ResponsePacingTests {
    @Test func waitsForTheLoopAfterPacedBytesOnly() async throws {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let pacing = ResponsePacing(loop)
        // The loop is busy (as one draining many connections' writes is) until the gate opens.
        let gate = DispatchSemaphore(value: 0)
        loop.execute { gate.wait() }
        // Under the threshold: no wait, although the loop runs nothing.
        try await pacing.wrote(ResponsePacing.pacedBytes / 2)
        try await pacing.wrote(ResponsePacing.pacedBytes / 2 - 1)
        let passed = Mutex(false)
        let crossing = Task {
            try await pacing.wrote(1)
            passed.withLock { $0 = true }
        }
        try await Task.sleep(for: .milliseconds(200))
        #expect(!passed.withLock { $0 })
        gate.signal()
        try await crossing.value
        #expect(passed.withLock { $0 })
        // The count starts again after each wait: the next bytes pass without the loop.
        loop.execute { gate.wait() }
        try await pacing.wrote(ResponsePacing.pacedBytes - 1)
        gate.signal()
        try await loop.submit {}.get()
    }

    @Test func withoutALoopNeverWaits() async throws {
        let pacing = ResponsePacing(nil)
        for _ in 0..<4 { try await pacing.wrote(ResponsePacing.pacedBytes) }
    }
}
