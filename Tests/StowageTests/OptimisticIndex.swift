import Foundation
import Synchronization
@testable import Stowage

/// A test-only index backend that applies every mutation optimistically, the way an etcd
/// (compare-and-swap on revisions) or FoundationDB (conflict ranges) backend would, and
/// forces the conflicts such a backend meets — to prove that the engine's mutations obey
/// the seam's re-run rule (Index/IndexSeam.swift) and stay exactly-once.
///
/// - Each mutation runs against a snapshot; every point read and every scanned range is
///   recorded with the revisions it saw. At commit the reads are checked against the
///   committed state; if anything read changed, the mutation runs again from the start.
/// - Mutations queued together all run against the same snapshot and commit one by one,
///   so a later one really finds an earlier one's write between its reads and its commit.
/// - Every mutation runs twice on its first snapshot and both runs must write the same
///   thing (a mutation that reads a clock or draws an id fails here).
/// - Before a commit, with probability `interference`, another writer rewrites one of the
///   keys the mutation read (same bytes, new revision), forcing a re-run.
///
/// Committed state is kept per data directory for the life of the test process, so a
/// store closed and opened again finds its index, as it would on etcd.
final class OptimisticIndex: IndexBackend, @unchecked Sendable {
    struct Entry: Equatable {
        var value: [UInt8]
        var revision: UInt64
    }

    /// One table: its entries in byte order of their keys, in chunks of at most
    /// `chunkLimit`, so that a copy-on-write after a snapshot copies one chunk and the
    /// list of chunks, not the table (a two-level B-tree).
    struct TableState {
        static let chunkLimit = 256
        private var chunks: [[(key: [UInt8], entry: Entry)]] = []
        private(set) var count = 0

        /// The chunk that holds `key` or would, and the position in it.
        private func locate(_ key: [UInt8]) -> (chunk: Int, index: Int, found: Bool) {
            guard !chunks.isEmpty else { return (0, 0, false) }
            var low = 0, high = chunks.count - 1
            while low < high {
                let mid = (low + high) / 2
                if chunks[mid].last!.key.precedes(key) { low = mid + 1 } else { high = mid }
            }
            let chunk = chunks[low]
            var first = 0, last = chunk.count
            while first < last {
                let mid = (first + last) / 2
                if chunk[mid].key.precedes(key) { first = mid + 1 } else { last = mid }
            }
            return (low, first, first < chunk.count && chunk[first].key == key)
        }

        func entry(_ key: [UInt8]) -> Entry? {
            let place = locate(key)
            return place.found ? chunks[place.chunk][place.index].entry : nil
        }

        mutating func set(_ key: [UInt8], _ entry: Entry?) {
            let place = locate(key)
            switch (entry, place.found) {
            case (let entry?, true):
                chunks[place.chunk][place.index].entry = entry
            case (let entry?, false):
                if chunks.isEmpty { chunks.append([]) }
                chunks[place.chunk].insert((key, entry), at: place.index)
                count += 1
                if chunks[place.chunk].count > Self.chunkLimit {
                    let upper = Array(chunks[place.chunk][(Self.chunkLimit / 2)...])
                    chunks[place.chunk].removeLast(upper.count)
                    chunks.insert(upper, at: place.chunk + 1)
                }
            case (nil, true):
                chunks[place.chunk].remove(at: place.index)
                count -= 1
                if chunks[place.chunk].isEmpty { chunks.remove(at: place.chunk) }
            case (nil, false):
                break
            }
        }

        /// Entries from the first key ≥ `start`, in order, until `body` returns false.
        func forEach(from start: [UInt8], _ body: ([UInt8], Entry) throws -> Bool) rethrows {
            guard !chunks.isEmpty else { return }
            let place = locate(start)
            var index = place.index
            for chunk in chunks[place.chunk...] {
                while index < chunk.count {
                    guard try body(chunk[index].key, chunk[index].entry) else { return }
                    index += 1
                }
                index = 0
            }
        }
    }

    struct State {
        var tables = [TableState](repeating: TableState(), count: Index.tables.count)
        var revision: UInt64 = 0
    }

    /// Counts, for the tests to see that conflicts really happened.
    struct Statistics {
        var commits = 0
        var reruns = 0
        var forcedConflicts = 0
        var interleavedConflicts = 0
    }

    private static let kept = Mutex<[String: State]>([:])

    private let directory: String
    private let interference: Double
    private let lock = NSLock()
    private var state: State                     // guarded by `lock`
    private var pending: [Pending] = []          // guarded by `lock`
    private var stopped = false                  // guarded by `lock`
    private var statistics = Statistics()        // touched only on `queue`
    private let queue = DispatchQueue(label: "optimistic-index")
    private var makeDurable: @Sendable (Set<UInt64>) throws -> Void = { _ in }
    private var random = SystemRandomNumberGenerator()

    init(directory: String, interference: Double = 0.3) {
        self.directory = directory
        self.interference = interference
        state = Self.kept.withLock { $0[directory] } ?? State()
    }

    var stats: Statistics { queue.sync { statistics } }

    // MARK: IndexBackend

    func read<R>(_ body: (borrowing ReadTransaction) throws -> R) throws -> R {
        let snapshot = lock.withLock { state }
        return try body(ReadTransaction(snapshot: Recording(snapshot)))
    }

    func setUp<R>(_ body: (borrowing WriteTransaction) throws -> R) throws -> R {
        try lock.withLock {
            let recording = Recording(state)
            let result = try body(WriteTransaction(access: recording))
            Self.apply(recording.writes, to: &state)
            return result
        }
    }

    func start(makeDurable: @escaping @Sendable (Set<UInt64>) throws -> Void) {
        self.makeDurable = makeDurable
    }

    func mutate<R: Sendable>(durable: DurabilityBarrier, _ body: @escaping Mutation<R>) async throws -> R {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<R, Error>) in
            let job = Pending(segments: durable.containers, body: { txn in try body(txn) },
                              deliver: { continuation.resume(with: $0.map { $0 as! R }) })
            let accepted = lock.withLock { () -> Bool in
                guard !stopped else { return false }
                pending.append(job)
                return true
            }
            guard accepted else {
                continuation.resume(throwing: StoreError(.closed, "The store is closed"))
                return
            }
            queue.async { self.drain() }
        }
    }

    func stop() {
        lock.withLock { stopped = true }
        queue.sync {}
    }

    func sync() throws {}

    func close() {
        stop()
        let final = lock.withLock { state }
        Self.kept.withLock { $0[directory] = final }
    }

    static func forget(_ directory: String) {
        _ = kept.withLock { $0.removeValue(forKey: directory) }
    }

    // MARK: Running mutations

    private final class Pending {
        let segments: Set<UInt64>
        let body: Mutation<Any>
        let deliver: (Result<Any, Error>) -> Void
        init(segments: Set<UInt64>, body: @escaping Mutation<Any>, deliver: @escaping (Result<Any, Error>) -> Void) {
            self.segments = segments
            self.body = body
            self.deliver = deliver
        }
    }

    /// Takes every queued mutation, runs them all against one snapshot, then commits them
    /// in order, re-running each whose reads another commit changed.
    private func drain() {
        let (batch, snapshot) = lock.withLock { () -> ([Pending], State) in
            defer { pending.removeAll() }
            return (pending, state)
        }
        guard !batch.isEmpty else { return }
        let first = batch.map { job in Self.run(job.body, on: snapshot) }
        for (position, job) in batch.enumerated() {
            var attempt = first[position]
            if let other = Self.run(job.body, on: snapshot).recording, let mine = attempt.recording,
               other.effect != mine.effect {
                job.deliver(.failure(StoreError(.index, "impure mutation: it wrote differently when run again on the same snapshot")))
                continue
            }
            var forced = 0
            while true {
                if forced < 3, Double.random(in: 0..<1, using: &random) < interference,
                   let (table, key) = attempt.recording?.someReadKey(using: &random) {
                    forced += 1
                    if interfere(table, key) { statistics.forcedConflicts += 1 }
                }
                if let result = commit(attempt, segments: job.segments) {
                    job.deliver(result)
                    break
                }
                if forced == 0 { statistics.interleavedConflicts += 1 }
                statistics.reruns += 1
                attempt = Self.run(job.body, on: lock.withLock { state })
            }
        }
    }

    private struct Attempt {
        var recording: Recording?
        var outcome: Result<Any, Error>
    }

    private static func run(_ body: Mutation<Any>, on snapshot: State) -> Attempt {
        let recording = Recording(snapshot)
        let scope = MutationScope.enter()
        defer { MutationScope.leave(scope) }
        do {
            let value = try body(WriteTransaction(access: recording))
            return Attempt(recording: recording, outcome: .success(value))
        } catch {
            return Attempt(recording: recording, outcome: .failure(StoreError.wrapping(error, "index update")))
        }
    }

    /// Commits the attempt if nothing it read has changed; nil when it must run again. A
    /// refusal (the body threw) is answered only if it was decided on current data.
    private func commit(_ attempt: Attempt, segments: Set<UInt64>) -> Result<Any, Error>? {
        guard let recording = attempt.recording else { return attempt.outcome }
        do { try makeDurable(segments) } catch { return .failure(error) }
        return lock.withLock { () -> Result<Any, Error>? in
            guard recording.stillValid(against: state) else { return nil }
            if case .success = attempt.outcome {
                Self.apply(recording.writes, to: &state)
                statistics.commits += 1
            }
            return attempt.outcome
        }
    }

    /// Another writer commits the same bytes under `key`: a new revision, nothing else.
    /// Another writer touches `key`. True when that is a conflict for whoever read it: a
    /// present key gets a new revision. An absent key is written and deleted again, and —
    /// as with etcd, whose absence compare is on a version of 0 — its absence still holds,
    /// so a reader of it commits without a re-run (counting it as forced made the test's
    /// "every forced conflict re-runs" fail when the draw fell on an absent key).
    private func interfere(_ table: Int, _ key: [UInt8]) -> Bool {
        lock.withLock {
            state.revision += 1
            if var entry = state.tables[table].entry(key) {
                entry.revision = state.revision
                state.tables[table].set(key, entry)
                return true
            }
            state.tables[table].set(key, Entry(value: [], revision: state.revision))
            state.tables[table].set(key, nil)
            return false
        }
    }

    private static func apply(_ writes: [Write], to state: inout State) {
        guard !writes.isEmpty else { return }
        state.revision += 1
        for write in writes {
            state.tables[write.table].set(write.key, write.value.map { Entry(value: $0, revision: state.revision) })
        }
    }

    // MARK: A mutation's transaction

    struct Write: Equatable {
        var table: Int
        var key: [UInt8]
        var value: [UInt8]?
    }

    /// Reads through the mutation's own writes; records what it read from the snapshot.
    final class Recording: IndexMutationAccess {
        private var working: State
        private(set) var writes: [Write] = []
        private var written: Set<WrittenKey> = []
        private var pointReads: [WrittenKey: UInt64] = [:]
        /// A scanned range: what it saw of the snapshot, and the keys the mutation had
        /// written itself by then (which it saw as its own, not the snapshot's).
        private var rangeReads: [(table: Int, start: [UInt8], through: [UInt8]?, seen: [([UInt8], UInt64)],
                                  own: Set<WrittenKey>)] = []

        struct WrittenKey: Hashable {
            var table: Int
            var key: [UInt8]
        }

        init(_ snapshot: State) { working = snapshot }

        func withValue<R>(_ table: Table, _ key: [UInt8], _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R? {
            let name = WrittenKey(table: table.id, key: key)
            let entry = working.tables[table.id].entry(key)
            if !written.contains(name), pointReads[name] == nil { pointReads[name] = entry?.revision ?? 0 }
            guard let entry else { return nil }
            return try entry.value.withUnsafeBytes(body)
        }

        func scan(_ table: Table, from start: [UInt8],
                  _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) throws {
            let state = working.tables[table.id]
            var seen: [([UInt8], UInt64)] = []
            var through: [UInt8]?
            defer { rangeReads.append((table.id, start, through, seen, written)) }
            try state.forEach(from: start) { key, entry in
                if !written.contains(WrittenKey(table: table.id, key: key)) { seen.append((key, entry.revision)) }
                let more = try key.withUnsafeBytes { k in try entry.value.withUnsafeBytes { v in try body(k, v) } }
                if !more { through = key }
                return more
            }
        }

        func count(_ table: Table) throws -> Int {
            try scan(table, from: []) { _, _ in true }
            return working.tables[table.id].count
        }

        func put(_ table: Table, _ key: [UInt8], _ value: [UInt8], noOverwrite: Bool) throws -> Bool {
            if noOverwrite, try withValue(table, key, { _ in true }) != nil { return false }
            record(Write(table: table.id, key: key, value: value))
            return true
        }

        func delete(_ table: Table, _ key: [UInt8]) throws -> Bool {
            guard try withValue(table, key, { _ in true }) != nil else { return false }
            record(Write(table: table.id, key: key, value: nil))
            return true
        }

        func nested<R>(_ body: (any IndexMutationAccess) throws -> R) throws -> R {
            let saved = (working, writes, written)
            do {
                return try body(self)
            } catch {
                (working, writes, written) = saved
                throw error
            }
        }

        /// What the writes leave behind, key by key (their order may differ between runs:
        /// the engine walks dictionaries).
        var effect: [WrittenKey: [UInt8]?] {
            writes.reduce(into: [:]) { $0[WrittenKey(table: $1.table, key: $1.key)] = .some($1.value) }
        }

        private func record(_ write: Write) {
            writes.append(write)
            written.insert(WrittenKey(table: write.table, key: write.key))
            working.tables[write.table].set(write.key, write.value.map { Entry(value: $0, revision: .max) })
        }

        /// True when every key and range it read is as it was in its snapshot.
        func stillValid(against state: State) -> Bool {
            for (name, revision) in pointReads where (state.tables[name.table].entry(name.key)?.revision ?? 0) != revision {
                return false
            }
            for range in rangeReads {
                let table = state.tables[range.table]
                var now: [([UInt8], UInt64)] = []
                table.forEach(from: range.start) { key, entry in
                    if let through = range.through, through.precedes(key) { return false }
                    if !range.own.contains(WrittenKey(table: range.table, key: key)) { now.append((key, entry.revision)) }
                    return true
                }
                guard now.count == range.seen.count, zip(now, range.seen).allSatisfy({ $0.0 == $1.0 && $0.1 == $1.1 }) else {
                    return false
                }
            }
            return true
        }

        func someReadKey(using random: inout SystemRandomNumberGenerator) -> (Int, [UInt8])? {
            let keys = pointReads.keys.map { ($0.table, $0.key) } + rangeReads.flatMap { range in range.seen.map { (range.table, $0.0) } }
            return keys.randomElement(using: &random)
        }
    }
}
