import Foundation
import Synchronization

/// The index seam's cluster backend (Seams/IndexSeam.swift) on etcd, through its JSON
/// gateway. docs/ARCHITECTURE.md ("Cluster mode") has the key layout and what each
/// operation's transaction compares and writes.
///
/// - Keys: `PREFIX` + one byte, the table's id + the table's own key bytes. Byte order in
///   etcd is the engine's order, so a scan is a range read.
/// - A read snapshot is a revision: the first read of a `read {}` is linearizable (it
///   goes through the leader's read index, so it sees every write acknowledged anywhere
///   before it began) and fixes the revision `R`; every later read of that snapshot reads
///   at `R`.
/// - A mutation runs against such a snapshot, recording what it read: each key with the
///   revision it last changed at (0: absent), each scanned range with the keys it saw.
///   It commits as one etcd `Txn` whose compares say that none of that changed — every
///   key read still has its `mod_revision`, no key in a scanned range changed after `R` —
///   and whose success branch is the mutation's writes. If a compare fails, another
///   writer (on any gateway) got there first: the mutation runs again on a new snapshot.
///   A refusal (the body threw) is answered only after a `Txn` of the same compares and no
///   writes succeeds, so it too was decided on current data.
/// - Mutations of one gateway run one at a time (they would conflict on the hot keys of
///   docs/ARCHITECTURE.md anyway); gateways race through etcd.
/// - A commit whose answer is lost (`ambiguous`) is not re-run: re-running a mutation
///   that did apply could release the bytes it had just committed. It is answered 503 and
///   the client retries (RenameObject with its client token, exactly once).
final class EtcdIndex: IndexBackend {
    let client: EtcdClient
    let prefix: [UInt8]
    /// etcd's `--max-txn-ops`: compares and writes of one mutation, each.
    let maxTxnOperations: Int
    /// How many times a conflicting mutation runs before it is answered 503.
    let maxAttempts = 64
    private let pageSize = 512
    private let makeDurable = Mutex<(@Sendable (Set<UInt64>) throws -> Void)?>(nil)
    /// Whether `stop` was called, the mutation running on its waiting thread (at most
    /// one: `writer`), and `stop`'s wait for it.
    private let running = Mutex<Running>(Running())
    private struct Running {
        var stopped = false
        var active = 0
        var waiters: [DispatchSemaphore] = []
    }
    /// This gateway's mutations, one at a time.
    private let writer = Turnstile()

    var maxChangesPerMutation: Int? { maxTxnOperations }

    init(client: EtcdClient, prefix: String = "stowage/", maxTxnOperations: Int = 128) {
        self.client = client
        self.prefix = Array(prefix.utf8)
        self.maxTxnOperations = maxTxnOperations
    }

    var readsBlock: Bool { true }

    // MARK: Keys

    func key(_ table: Table, _ key: [UInt8]) -> [UInt8] {
        prefix + [UInt8(table.id)] + key
    }

    /// The first key after every key of `table`.
    func tableEnd(_ table: Table) -> [UInt8] {
        prefix + [UInt8(table.id + 1)]
    }

    // MARK: IndexBackend

    func read<R>(_ body: (borrowing ReadTransaction) throws -> R) throws -> R {
        var attempt = 0
        while true {
            attempt += 1
            let snapshot = Snapshot(index: self)
            do {
                return try body(ReadTransaction(snapshot: snapshot))
            } catch let error as EtcdError where error.kind == .compacted && attempt < 5 {
                continue
            }
        }
    }

    func start(makeDurable: @escaping @Sendable (Set<UInt64>) throws -> Void) {
        self.makeDurable.withLock { $0 = makeDurable }
    }

    /// Gateways opening at once race like any other writers: a lost race runs again.
    func setUp<R>(_ body: (borrowing WriteTransaction) throws -> R) throws -> R {
        for _ in 0..<maxAttempts {
            let recording = Recording(index: self)
            let result = try body(WriteTransaction(access: recording))
            if try commit(recording) { return result }
        }
        throw EtcdError(kind: .unavailable, message: "opening: the index kept changing under this gateway")
    }

    /// Runs on a thread of `BlockingIO.waitingThreads` (its etcd round trips block),
    /// entered and left there, so that `stop` — which may be called on a cooperative
    /// thread — waits for nothing that needs one.
    func mutate<R: Sendable>(durable: DurabilityBarrier, _ body: @escaping Mutation<R>) async throws -> R {
        guard !running.withLock({ $0.stopped }) else { throw IndexBackendError.closed }
        await writer.acquire()
        defer { writer.release() }
        let entered = running.withLock { r -> Bool in
            guard !r.stopped else { return false }
            r.active += 1
            return true
        }
        guard entered else { throw IndexBackendError.closed }
        let durableCall = makeDurable.withLock { $0 }
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<R, Error>) in
            // Not cancellable once queued: a mutation, once started, runs to its answer.
            BlockingIO.waitingThreads.submit { [self] _ in
                let result = Result { try run(body, containers: durable.containers, makeDurable: durableCall) }
                let waiters = running.withLock { r -> [DispatchSemaphore] in
                    r.active -= 1
                    guard r.active == 0 else { return [] }
                    defer { r.waiters = [] }
                    return r.waiters
                }
                for waiter in waiters { waiter.signal() }
                continuation.resume(with: result)
            }
        }
    }

    /// Refuses new mutations and waits for the one running now, if any.
    func stop() {
        let wait = running.withLock { r -> DispatchSemaphore? in
            r.stopped = true
            guard r.active > 0 else { return nil }
            let semaphore = DispatchSemaphore(value: 0)
            r.waiters.append(semaphore)
            return semaphore
        }
        wait?.wait()
    }

    func sync() throws {}

    func close() {
        client.shutdown()
    }

    // MARK: Running a mutation

    private func run<R>(_ body: Mutation<R>, containers: Set<UInt64>,
                        makeDurable: (@Sendable (Set<UInt64>) throws -> Void)?) throws -> R {
        var durableDone = false
        for _ in 0..<maxAttempts {
            let recording = Recording(index: self)
            let outcome: Result<R, Error>
            do {
                let scope = MutationScope.enter()
                defer { MutationScope.leave(scope) }
                outcome = .success(try body(WriteTransaction(access: recording)))
            } catch let error as EtcdError where error.kind == .compacted {
                continue
            } catch let error as EtcdError {
                throw error
            } catch {
                outcome = .failure(error)
            }
            if case .failure = outcome {
                // A refusal stands only if what it was decided on is still current.
                recording.discardWrites()
                if try commit(recording) { return try outcome.get() }
                continue
            }
            if !durableDone, !containers.isEmpty, let makeDurable {
                try makeDurable(containers)
                durableDone = true
            }
            if try commit(recording) { return try outcome.get() }
        }
        throw EtcdError(kind: .unavailable, message: "a mutation conflicted \(maxAttempts) times in a row")
    }

    /// Sends the recording as one `Txn`; false when a compare failed.
    private func commit(_ recording: Recording) throws -> Bool {
        let (compares, operations) = recording.transaction()
        if operations.isEmpty && compares.isEmpty { return true }
        if compares.count > maxTxnOperations || operations.count > maxTxnOperations {
            throw StoreError(.transactionTooLarge,
                             "The operation would change \(operations.count) index keys and check \(compares.count) in one transaction; the cluster's index takes at most \(maxTxnOperations) of each (etcd --max-txn-ops). Nothing was changed.")
        }
        let answer: [String: Any]
        EngineMetrics.commitBatchSize.record(1)
        do {
            answer = try EngineMetrics.timed(EngineMetrics.commitDuration) { () throws(EtcdError) in
                try client.call("kv/txn", ["compare": compares, "success": operations], idempotent: false)
            }
        } catch {
            guard error.kind == .tooLarge else { throw error }
            throw StoreError(.transactionTooLarge, "The operation is larger than the cluster's index takes in one transaction (\(error.message)). Nothing was changed.")
        }
        return (answer["succeeded"] as? Bool) ?? false
    }

    // MARK: Reads

    /// One range read; `revision` 0 reads the current revision, linearizably.
    fileprivate func range(_ start: [UInt8], end: [UInt8]?, limit: Int, revision: Int64, countOnly: Bool = false) throws
        -> (kvs: [(key: [UInt8], value: [UInt8], modRevision: Int64)], more: Bool, count: Int, revision: Int64) {
        var request: [String: Any] = ["key": EtcdJSON.encode(start)]
        if let end { request["range_end"] = EtcdJSON.encode(end) }
        if limit > 0 { request["limit"] = "\(limit)" }
        if revision > 0 { request["revision"] = "\(revision)" }
        if countOnly { request["count_only"] = true }
        let answer = try client.call("kv/range", request, idempotent: true)
        let header = answer["header"] as? [String: Any] ?? [:]
        let kvs = (answer["kvs"] as? [[String: Any]] ?? []).map { kv in
            (key: EtcdJSON.decode(kv["key"]), value: EtcdJSON.decode(kv["value"]), modRevision: EtcdJSON.int(kv["mod_revision"]))
        }
        return (kvs, (answer["more"] as? Bool) ?? false, Int(EtcdJSON.int(answer["count"])), EtcdJSON.int(header["revision"]))
    }

    /// A read snapshot: the revision its first read saw.
    final class Snapshot: IndexSnapshotAccess {
        let index: EtcdIndex
        private(set) var revision: Int64 = 0

        init(index: EtcdIndex) { self.index = index }

        func get(_ table: Table, _ key: [UInt8]) throws -> (value: [UInt8], modRevision: Int64)? {
            let full = index.key(table, key)
            let answer = try index.range(full, end: nil, limit: 1, revision: revision)
            if revision == 0 { revision = answer.revision }
            return answer.kvs.first.map { ($0.value, $0.modRevision) }
        }

        func withValue<R>(_ table: Table, _ key: [UInt8], _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R? {
            guard let found = try get(table, key) else { return nil }
            return try found.value.withUnsafeBytes(body)
        }

        /// Visits `(key, value, modRevision)` from `start`, a page at a time, until `body`
        /// returns false. Keys are given without the table's prefix.
        func walk(_ table: Table, from start: [UInt8], _ body: ([UInt8], [UInt8], Int64) throws -> Bool) throws {
            let strip = index.prefix.count + 1
            var next = index.key(table, start)
            let end = index.tableEnd(table)
            while true {
                let page = try index.range(next, end: end, limit: index.pageSize, revision: revision)
                if revision == 0 { revision = page.revision }
                for kv in page.kvs {
                    guard try body(Array(kv.key[strip...]), kv.value, kv.modRevision) else { return }
                }
                guard page.more, let last = page.kvs.last else { return }
                next = last.key + [0]
            }
        }

        func scan(_ table: Table, from start: [UInt8],
                  _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) throws {
            try walk(table, from: start) { key, value, _ in
                try key.withUnsafeBytes { k in try value.withUnsafeBytes { v in try body(k, v) } }
            }
        }

        func count(_ table: Table) throws -> Int {
            let answer = try index.range(index.key(table, []), end: index.tableEnd(table), limit: 0,
                                         revision: revision, countOnly: true)
            if revision == 0 { revision = answer.revision }
            return answer.count
        }
    }

    // MARK: A mutation's transaction

    /// Reads through the mutation's own writes, recording what it read from the snapshot.
    final class Recording: IndexMutationAccess {
        private let snapshot: Snapshot
        private let index: EtcdIndex
        /// Final value per written key (nil: deleted), in the order first written.
        private var writes: [[UInt8]: [UInt8]?] = [:]
        private var writeOrder: [[UInt8]] = []
        /// Full key → mod revision seen (0: absent).
        private var pointReads: [[UInt8]: Int64] = [:]
        /// Scanned ranges: [start, end) of full keys, and the keys seen with their revisions.
        private var rangeReads: [(start: [UInt8], end: [UInt8])] = []

        init(index: EtcdIndex) {
            self.index = index
            snapshot = Snapshot(index: index)
        }

        func discardWrites() {
            writes = [:]
            writeOrder = []
        }

        private func lookup(_ table: Table, _ key: [UInt8]) throws -> [UInt8]? {
            let full = index.key(table, key)
            if let written = writes[full] { return written }
            let found = try snapshot.get(table, key)
            if pointReads[full] == nil { pointReads[full] = found?.modRevision ?? 0 }
            return found?.value
        }

        func withValue<R>(_ table: Table, _ key: [UInt8], _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R? {
            guard let value = try lookup(table, key) else { return nil }
            return try value.withUnsafeBytes(body)
        }

        /// Merges the snapshot's keys with this mutation's own writes, in key order.
        func scan(_ table: Table, from start: [UInt8],
                  _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) throws {
            let tableKey = index.key(table, [])
            let startFull = index.key(table, start)
            let end = index.tableEnd(table)
            let own = writes.keys.filter { !$0.precedes(startFull) && $0.precedes(end) }.sorted { $0.precedes($1) }
            var ownIndex = 0
            var stoppedAt: [UInt8]?
            func emit(_ full: [UInt8], _ value: [UInt8]) throws -> Bool {
                let key = Array(full[tableKey.count...])
                let more = try key.withUnsafeBytes { k in try value.withUnsafeBytes { v in try body(k, v) } }
                if !more { stoppedAt = full }
                return more
            }
            var finished = false
            try snapshot.walk(table, from: start) { key, value, revision in
                let full = tableKey + key
                // Own writes before this key come first.
                while ownIndex < own.count, own[ownIndex].precedes(full) {
                    defer { ownIndex += 1 }
                    if let value = writes[own[ownIndex]]!, !(try emit(own[ownIndex], value)) { finished = true; return false }
                }
                if pointReads[full] == nil { pointReads[full] = revision }
                if ownIndex < own.count, own[ownIndex] == full {
                    defer { ownIndex += 1 }
                    if let value = writes[full]! { if !(try emit(full, value)) { finished = true; return false } }
                    return true
                }
                if !(try emit(full, value)) { finished = true; return false }
                return true
            }
            if !finished {
                while ownIndex < own.count {
                    defer { ownIndex += 1 }
                    if let value = writes[own[ownIndex]]!, !(try emit(own[ownIndex], value)) { break }
                }
            }
            // No key may appear in [start, end of what was looked at] after the snapshot.
            rangeReads.append((startFull, stoppedAt.map { $0 + [0] } ?? end))
        }

        func count(_ table: Table) throws -> Int {
            var n = 0
            try scan(table, from: []) { _, _ in n += 1; return true }
            return n
        }

        func put(_ table: Table, _ key: [UInt8], _ value: [UInt8], noOverwrite: Bool) throws -> Bool {
            if noOverwrite, try lookup(table, key) != nil { return false }
            record(index.key(table, key), value)
            return true
        }

        func delete(_ table: Table, _ key: [UInt8]) throws -> Bool {
            guard try lookup(table, key) != nil else { return false }
            record(index.key(table, key), nil)
            return true
        }

        func nested<R>(_ body: (any IndexMutationAccess) throws -> R) throws -> R {
            let saved = (writes, writeOrder)
            do {
                return try body(self)
            } catch {
                (writes, writeOrder) = saved
                throw error
            }
        }

        private func record(_ full: [UInt8], _ value: [UInt8]?) {
            if writes[full] == nil { writeOrder.append(full) }
            writes[full] = .some(value)
        }

        /// The `Txn`'s compares and success operations, as the JSON gateway takes them.
        func transaction() -> (compares: [[String: Any]], operations: [[String: Any]]) {
            var compares: [[String: Any]] = []
            for (key, revision) in pointReads.sorted(by: { $0.key.precedes($1.key) }) {
                compares.append(["key": EtcdJSON.encode(key), "target": "MOD", "result": "EQUAL",
                                 "mod_revision": "\(revision)"])
            }
            if snapshot.revision > 0 {
                for range in rangeReads {
                    compares.append(["key": EtcdJSON.encode(range.start), "range_end": EtcdJSON.encode(range.end),
                                     "target": "MOD", "result": "LESS", "mod_revision": "\(snapshot.revision + 1)"])
                }
            }
            let operations: [[String: Any]] = writeOrder.map { key in
                if let value = writes[key]! {
                    return ["request_put": ["key": EtcdJSON.encode(key), "value": EtcdJSON.encode(value)]]
                }
                return ["request_delete_range": ["key": EtcdJSON.encode(key)]]
            }
            return (compares, operations)
        }
    }
}

extension Array where Element == UInt8 {
    /// Byte order, with memcmp (the generic comparison is slow in debug builds).
    func precedes(_ other: [UInt8]) -> Bool {
        let shared = Swift.min(count, other.count)
        let order = withUnsafeBufferPointer { a in
            other.withUnsafeBufferPointer { b in shared == 0 ? 0 : memcmp(a.baseAddress!, b.baseAddress!, shared) }
        }
        return order < 0 || (order == 0 && count < other.count)
    }
}
