import Foundation
import Synchronization
import Testing
@testable import Stowage

/// The index seam's re-run rule, proven with forced conflicts (issue 13): the engine over
/// `OptimisticIndex`, whatever `STOWAGE_TEST_INDEX` says. Mutations run more than once,
/// other writers land between their reads and their commits, and every outcome stays
/// exactly-once. (`make test` also runs the engine's mutation suites over this backend.)
@Suite struct OptimisticIndexTests {
    /// A store over its own `OptimisticIndex` that interferes with `interference` of the commits.
    func withOptimisticStore<R>(interference: Double = 0.5,
                                _ body: (ObjectStore, OptimisticIndex) async throws -> R) async throws -> R {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("stowage-optimistic-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory); OptimisticIndex.forget(directory) }
        let backend = OptimisticIndex(directory: directory, interference: interference)
        let store = try ObjectStore(directory: directory, options: testOptions()) { backend }
        defer { store.close() }
        return try await body(store, backend)
    }

    @Test func racingConditionalPutsHaveOneWinner() async throws {
        try await withOptimisticStore { store, backend in
            try await store.createBucket("bkt")
            // Eight rounds at least; more while no two racers have yet met in one batch (how
            // the puts fall into batches is up to the scheduler: on a loaded machine eight
            // rounds were once not enough).
            var round = 0
            while round < 8 || (backend.stats.interleavedConflicts == 0 && round < 64) {
                defer { round += 1 }
                let key = "k\(round)"
                let winners = await withTaskGroup(of: Int?.self) { group in
                    for i in 0..<16 {
                        group.addTask {
                            let done = try? await store.put("bkt", key, [UInt8(i)],
                                                            conditions: WriteConditions(ifNoneMatch: .any))
                            return done == nil ? nil : i
                        }
                    }
                    return await group.compactMap { $0 }.reduce(into: [Int]()) { $0.append($1) }
                }
                #expect(winners.count == 1)
                #expect(try await store.bytes("bkt", key) == winners.map(UInt8.init))
            }
            let stats = backend.stats
            #expect(stats.forcedConflicts > 0 && stats.interleavedConflicts > 0, "\(stats)")
            #expect(stats.reruns >= stats.forcedConflicts)
        }
    }

    @Test func renamesWithTokensStayExactlyOnce() async throws {
        try await withOptimisticStore { store, backend in
            try await store.createBucket("bkt")
            for i in 0..<24 { try await store.put("bkt", "src\(i)", [UInt8(i)]) }
            // Each rename is sent three times at once with its token, as a retrying client would.
            let outcomes = await withTaskGroup(of: (Int, Bool, Bool).self) { group in
                for i in 0..<24 {
                    for _ in 0..<3 {
                        group.addTask {
                            let request = RenameRequest(bucket: "bkt", source: "src\(i)", destination: "dst\(i)", clientToken: "tok-\(i)")
                            do {
                                let outcome = try await store.renameObject(request)
                                return (i, true, outcome.replayed)
                            } catch {
                                return (i, false, false)
                            }
                        }
                    }
                }
                return await group.reduce(into: [(Int, Bool, Bool)]()) { $0.append($1) }
            }
            for i in 0..<24 {
                let mine = outcomes.filter { $0.0 == i }
                #expect(mine.allSatisfy { $0.1 }, "every retry of rename \(i) succeeds")
                #expect(mine.filter { !$0.2 }.count == 1, "rename \(i) was done once, the retries answered from its token")
            }
            #expect(try store.keys("bkt") == (0..<24).map { "dst\($0)" }.sorted())
            for i in 0..<24 { #expect(try await store.bytes("bkt", "dst\(i)") == [UInt8(i)]) }
            #expect(try store.read { txn in try txn.count(store.index.tokens) } == 24)
            #expect(backend.stats.reruns > 0)
        }
    }

    /// Prefix renames racing writers into both prefixes: every key ends under exactly one
    /// name, and each rename moved all or nothing.
    @Test func prefixRenamesRacingWritersMoveAllOrNothing() async throws {
        try await withOptimisticStore { store, backend in
            try await store.createBucket("bkt")
            for i in 0..<40 { try await store.put("bkt", "tmp/\(i)", [UInt8(i)]) }
            let moved = await withTaskGroup(of: Int.self) { group in
                for attempt in 0..<4 {
                    group.addTask {
                        let request = PrefixRenameRequest(bucket: "bkt", sourcePrefix: "tmp/", destinationPrefix: "final\(attempt)/")
                        return (try? await store.renamePrefix(request))?.moved ?? 0
                    }
                }
                for i in 40..<48 {
                    group.addTask { (try? await store.put("bkt", "tmp/\(i)", [UInt8(i)])) == nil ? -1 : 0 }
                }
                return await group.reduce(into: [Int]()) { $0.append($1) }
            }
            let keys = try store.keys("bkt")
            let names = keys.map { String($0.split(separator: "/").last!) }
            #expect(Set(names).count == keys.count, "no key under two names")
            #expect(Set(names) == Set((0..<48).map(String.init)), "no key lost")
            let groups = Dictionary(grouping: keys) { String($0.split(separator: "/").first!) }
            for (prefix, members) in groups where prefix != "tmp" {
                #expect(moved.contains(members.count), "\(prefix) holds exactly what one rename moved")
            }
            #expect(backend.stats.reruns > 0)
        }
    }

    @Test func copiesAndDeletesKeepReferenceCounts() async throws {
        try await withOptimisticStore { store, _ in
            try await store.createBucket("bkt")
            try await store.put("bkt", "src", testBytes(200_000))
            await withTaskGroup(of: Void.self) { group in
                for i in 0..<16 {
                    group.addTask {
                        _ = try? await store.copyObject(CopyRequest(sourceBucket: "bkt", sourceKey: "src", bucket: "bkt", key: "c\(i)"))
                        if i % 2 == 0 { _ = try? await store.deleteObject(bucket: "bkt", key: "c\(i)") }
                    }
                }
            }
            let report = try await store.verify()
            #expect(report.findings.isEmpty, "\(report.findings)")
            #expect(try store.keys("bkt").count == 9)
            for i in stride(from: 1, to: 16, by: 2) { #expect(try await store.bytes("bkt", "c\(i)") == testBytes(200_000)) }
        }
    }

    /// The backend's own check: a mutation that is not a pure function of its reads is
    /// refused, not committed.
    @Test func anImpureMutationIsCaught() async throws {
        try await withOptimisticStore(interference: 0) { store, _ in
            let calls = Mutex(0)
            await expectStoreError(.index) {
                _ = try await store.mutate { [index = store.index] txn in
                    let n = calls.withLock { $0 += 1; return $0 }
                    try txn.put(index.meta, Array("impure".utf8), [UInt8(n)])
                }
            }
            let stored = try store.read { txn in try txn.get(store.index.meta, Array("impure".utf8)) }
            #expect(stored == nil)
        }
    }
}
