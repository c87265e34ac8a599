import NIOCore

/// Keeps a long response body's unsent bytes bounded (issue 18, point 4).
///
/// A body written from a task reaches the connection through NIO's async writer, which
/// suspends the writer while the channel is unwritable — but the writes themselves are
/// handed to the event loop with `execute`, and the channel turns unwritable only when
/// the loop has run them. A task that reads its next chunk faster than a busy loop drains
/// its queue therefore keeps yielding to a channel that still looks writable: measured,
/// 64 concurrent 1 GiB GETs held 2.4 GiB of queued chunks. After every `pacedBytes`
/// written, the body waits for one empty task on the connection's loop. That task runs
/// after the queued writes (a loop runs its tasks in order), so the channel's writability
/// is current again, and the next write waits if the socket is full: per connection, at
/// most about `pacedBytes` plus the socket's high watermark are in memory.
struct ResponsePacing: Sendable {
    static let pacedBytes = 1 << 20

    let loop: (any EventLoop)?
    private let unconfirmed = UnconfirmedBytes()

    init(_ loop: (any EventLoop)?) { self.loop = loop }

    /// After each body write of `count` bytes.
    func wrote(_ count: Int) async throws {
        guard let loop, unconfirmed.add(count) >= Self.pacedBytes else { return }
        unconfirmed.reset()
        try await loop.submit {}.get()
    }
}

/// The bytes written since the last wait; used by the one task writing its body.
private final class UnconfirmedBytes: @unchecked Sendable {
    private var bytes = 0
    func add(_ count: Int) -> Int {
        bytes += count
        return bytes
    }
    func reset() { bytes = 0 }
}
