import Synchronization

/// Tells compaction when every index reader that might still see a segment's old extents
/// is gone.
///
/// A reader enters before it begins its read transaction and leaves after it has pinned
/// the mappings it will serve from (I6). After compaction commits the transaction that
/// moves extents out of a segment, it advances the epoch and waits for the readers of
/// earlier epochs: any reader that entered later began its transaction after that commit
/// and cannot see the old extents, and every earlier one holds its mapping (which stays
/// valid after the unlink) or never will.
final class ReaderGate: Sendable {
    private struct State {
        var epoch: UInt64 = 0
        var active: [UInt64: Int] = [:]
    }
    private let state = Mutex(State())

    /// Registers a reader; pass the result to `leave`.
    func enter() -> UInt64 {
        state.withLock { s in
            s.active[s.epoch, default: 0] += 1
            return s.epoch
        }
    }

    func leave(_ epoch: UInt64) {
        state.withLock { s in
            let count = s.active[epoch, default: 1] - 1
            s.active[epoch] = count > 0 ? count : nil
        }
    }

    /// Starts a new epoch and waits until no reader of an earlier one remains.
    func drain() async {
        let boundary = state.withLock { s -> UInt64 in
            s.epoch += 1
            return s.epoch
        }
        while state.withLock({ s in s.active.keys.contains { $0 < boundary } }) {
            try? await Task.sleep(for: .milliseconds(1))
        }
    }
}
