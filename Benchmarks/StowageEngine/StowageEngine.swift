// Engine micro-benchmarks (issue 9), in process, on a real data directory under the
// system temporary directory. Every benchmark's name ends with the durability mode it
// ran in. `make bench` runs them (not part of `make test`).
import Benchmark
import Foundation
import Glibc
import Stowage
import StowageChecksums
import Synchronization

let KiB = 1 << 10, MiB = 1 << 20, GiB = 1 << 30

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .throughput, .peakMemoryResident],
                                           timeUnits: .microseconds, warmupIterations: 3,
                                           maxDuration: .seconds(4), maxIterations: 400)

    // RenameObject: the curve over object size must be flat (one LMDB write transaction).
    for mode in [Durability.strict, .relaxed] {
        for size in [KiB, MiB, 256 * MiB, GiB] {
            let name = "RenameObject \(label(size)) (\(mode))"
            Benchmark(name) { benchmark in
                let store = Fixtures.store(name)
                for _ in benchmark.scaledIterations {
                    let (from, to) = Fixtures.tick(name) % 2 == 0 ? ("a", "b") : ("b", "a")
                    _ = try await store.renameObject(RenameRequest(bucket: "bench", source: from, destination: to))
                }
            } setup: {
                let store = try await Fixtures.open(name, mode)
                try await store.put("a", filling(size))
            } teardown: {
                Fixtures.close(name)
            }
        }
    }

    // N renamers at once: one iteration is N concurrent renames, so renames/s is N times
    // the throughput column (group commit: one sync for the batch).
    for renamers in [1, 8, 64] {
        let name = "RenameObject concurrent x\(renamers) (strict)"
        Benchmark(name) { benchmark in
            let store = Fixtures.store(name)
            for _ in benchmark.scaledIterations {
                let i = Fixtures.tick(name)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for r in 0..<renamers {
                        let (from, to) = i % 2 == 0 ? ("k\(r)", "m\(r)") : ("m\(r)", "k\(r)")
                        group.addTask { _ = try await store.renameObject(RenameRequest(bucket: "bench", source: from, destination: to)) }
                    }
                    try await group.waitForAll()
                }
            }
        } setup: {
            let store = try await Fixtures.open(name, .strict)
            for r in 0..<renamers { try await store.put("k\(r)", filling(KiB)) }
        } teardown: {
            Fixtures.close(name)
        }
    }

    // PutObject and GetObject, strict (data and index synced before the answer).
    for size in [4 * KiB, MiB, 256 * MiB] {
        let put = "PutObject \(label(size)) (strict)"
        Benchmark(put, configuration: .init(maxIterations: size > 64 * MiB ? 12 : 400)) { benchmark in
            let store = Fixtures.store(put)
            let body = Fixtures.body(put)
            for _ in benchmark.scaledIterations {
                try await store.put("o\(Fixtures.tick(put) % 4)", body)
            }
        } setup: {
            _ = try await Fixtures.open(put, .strict, body: size)
        } teardown: {
            Fixtures.close(put)
        }
        let get = "GetObject \(label(size)) (strict)"
        Benchmark(get, configuration: .init(maxIterations: size > 64 * MiB ? 30 : 400)) { benchmark in
            let store = Fixtures.store(get)
            for _ in benchmark.scaledIterations {
                var count = 0
                for try await chunk in try store.getObject(bucket: "bench", key: "o").body { count += chunk.count }
                precondition(count == size)
            }
        } setup: {
            let store = try await Fixtures.open(get, .strict)
            try await store.put("o", filling(size))
        } teardown: {
            Fixtures.close(get)
        }
    }

    // Small durable PUTs from 64 writers at once: one iteration is 64 PUTs of 4 KiB (group
    // commit shares the data fdatasync and the LMDB sync across the batch), so PUTs/s is
    // 64 times the throughput column.
    let smallPuts = "PutObject 4 KiB concurrent x64 (strict)"
    Benchmark(smallPuts, configuration: .init(maxIterations: 200)) { benchmark in
        let store = Fixtures.store(smallPuts)
        let body = Fixtures.body(smallPuts)
        for _ in benchmark.scaledIterations {
            let round = Fixtures.tick(smallPuts)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<64 { group.addTask { try await store.put("p\(writer)-\(round % 8)", body) } }
                try await group.waitForAll()
            }
        }
    } setup: {
        _ = try await Fixtures.open(smallPuts, .strict, body: 4 * KiB)
    } teardown: {
        Fixtures.close(smallPuts)
    }

    // One full walk of a 100,000-key bucket, a page of 1,000 keys at a time.
    let list = "ListObjects 100000 keys, pages of 1000 (relaxed)"
    Benchmark(list, configuration: .init(maxIterations: 40)) { benchmark in
        let store = Fixtures.store(list)
        for _ in benchmark.scaledIterations {
            var marker: String?, keys = 0
            repeat {
                let page = try store.listObjects(bucket: "bench", startAfter: marker, maxKeys: 1000)
                keys += page.objects.count
                marker = page.isTruncated ? page.objects.last?.key : nil
            } while marker != nil
            precondition(keys == 100_000)
        }
    } setup: {
        let store = try await Fixtures.open(list, .relaxed)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for lane in 0..<16 {
                group.addTask {
                    for i in stride(from: lane, to: 100_000, by: 16) {
                        try await store.put("dir\(i % 100)/key-\(String(i).leftPadded(6))", [])
                    }
                }
            }
            try await group.waitForAll()
        }
    } teardown: {
        Fixtures.close(list)
    }

    // CopyObject of a 1 GiB object: metadata only (one more reference on the blob).
    let copy = "CopyObject 1 GiB, metadata-only (strict)"
    Benchmark(copy) { benchmark in
        let store = Fixtures.store(copy)
        for _ in benchmark.scaledIterations {
            _ = try await store.copyObject(CopyRequest(sourceBucket: "bench", sourceKey: "src", bucket: "bench", key: "dst\(Fixtures.tick(copy) % 4)"))
        }
    } setup: {
        let store = try await Fixtures.open(copy, .strict)
        try await store.put("src", filling(GiB))
    } teardown: {
        Fixtures.close(copy)
    }

    // CompleteMultipartUpload: only the Complete is measured; the parts are uploaded
    // before it in each iteration (small parts: Complete's cost is per part, not per byte).
    for parts in [10, 1000] {
        let name = "CompleteMultipartUpload \(parts) parts (strict)"
        Benchmark(name, configuration: .init(maxIterations: parts > 100 ? 15 : 100)) { benchmark in
            let store = Fixtures.store(name)
            for _ in benchmark.scaledIterations {
                let key = "mp\(Fixtures.tick(name) % 4)"
                let upload = try await store.createMultipartUpload(bucket: "bench", key: key)
                let listed = try await withThrowingTaskGroup(of: (Int, String).self) { group in
                    for number in 1...parts {
                        group.addTask {
                            var request = PutRequest(bucket: "bench", key: key)
                            request.part = PartTarget(uploadID: upload, partNumber: number)
                            return (number, try await store.putObject(request, bytes: filling(4 * KiB)).etag)
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }.sorted { $0.0 < $1.0 }
                }
                benchmark.startMeasurement()
                _ = try await store.completeMultipartUpload(bucket: "bench", key: key, uploadID: upload,
                                                            parts: listed.map { (partNumber: $0.0, etag: $0.1) })
                benchmark.stopMeasurement()
            }
        } setup: {
            _ = try await Fixtures.open(name, .strict, minPartBytes: UInt64(4 * KiB))
        } teardown: {
            Fixtures.close(name)
        }
    }

    // The disk's reference for strict mode: one 4 KiB pwrite + fdatasync in the same
    // temporary directory (a strict rename is one synced LMDB commit: a few of these).
    let sync = "fdatasync after a 4 KiB write (disk reference)"
    Benchmark(sync) { benchmark in
        let fd = Fixtures.tick(sync) >= 0 ? Fixtures.syncFile() : -1
        let page = [UInt8](repeating: 7, count: 4096)
        for _ in benchmark.scaledIterations {
            precondition(page.withUnsafeBytes { pwrite(fd, $0.baseAddress, 4096, 0) } == 4096)
            precondition(fdatasync(fd) == 0)
        }
    } teardown: {
        Fixtures.closeSyncFile()
    }

    // The checksum path over 64 MiB in memory: XXH3 (every chunk, written and read) and
    // MD5 (the ETag). Throughput × 64 MiB is the rate.
    let xxh3 = "XXH3 64 MiB (in memory)", md5 = "MD5 64 MiB (in memory)"
    Benchmark(xxh3, configuration: .init(maxIterations: 200)) { benchmark in
        let buffer = Fixtures.body(xxh3)
        for _ in benchmark.scaledIterations { blackHole(XXH3.hash(buffer)) }
    } setup: {
        Fixtures.keep(xxh3, filling(64 * MiB))
    } teardown: {
        Fixtures.close(xxh3)
    }
    Benchmark(md5, configuration: .init(maxIterations: 50)) { benchmark in
        let buffer = Fixtures.body(md5)
        for _ in benchmark.scaledIterations {
            var digest = MD5Digest()
            buffer.withUnsafeBytes { digest.update($0) }
            blackHole(digest.finalize())
        }
    } setup: {
        Fixtures.keep(md5, filling(64 * MiB))
    } teardown: {
        Fixtures.close(md5)
    }
}

/// A store (and a body, and an iteration counter) per benchmark, made in its setup and
/// removed in its teardown.
enum Fixtures {
    static let stores = Mutex<[String: (ObjectStore, String)]>([:])
    static let bodies = Mutex<[String: [UInt8]]>([:])
    static let ticks = Mutex<[String: Int]>([:])

    /// 0, 1, 2, … across the benchmark's iterations (each closure call is one iteration).
    static func tick(_ name: String) -> Int {
        ticks.withLock { t in defer { t[name, default: 0] += 1 }; return t[name, default: 0] }
    }

    static let syncDescriptor = Mutex<Int32>(-1)

    /// A file in the temporary directory for the fdatasync reference, opened once.
    static func syncFile() -> Int32 {
        syncDescriptor.withLock { fd in
            if fd < 0 {
                let path = FileManager.default.temporaryDirectory.appendingPathComponent("stowage-bench-sync-\(UUID())").path
                fd = Glibc.open(path, O_RDWR | O_CREAT, 0o644)
                unlink(path)
            }
            return fd
        }
    }

    static func closeSyncFile() {
        syncDescriptor.withLock { fd in
            if fd >= 0 { Glibc.close(fd) }
            fd = -1
        }
    }

    static func keep(_ name: String, _ body: [UInt8]) { bodies.withLock { $0[name] = body } }
    static func body(_ name: String) -> [UInt8] { bodies.withLock { $0[name]! } }

    static func open(_ name: String, _ mode: Durability, minPartBytes: UInt64? = nil, body: Int? = nil) async throws -> ObjectStore {
        if let body { keep(name, filling(body)) }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("stowage-bench-\(UUID())").path
        var options = StoreOptions()
        options.durability = mode
        if let minPartBytes { options.minPartSizeBytes = minPartBytes }
        let store = try ObjectStore(directory: directory, options: options)
        stores.withLock { $0[name] = (store, directory) }
        try await store.createBucket("bench")
        return store
    }

    static func store(_ name: String) -> ObjectStore {
        stores.withLock { $0[name]!.0 }
    }

    static func close(_ name: String) {
        bodies.withLock { _ = $0.removeValue(forKey: name) }
        guard let (store, directory) = stores.withLock({ $0.removeValue(forKey: name) }) else { return }
        store.close()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

extension ObjectStore {
    func put(_ key: String, _ bytes: [UInt8]) async throws {
        _ = try await putObject(PutRequest(bucket: "bench", key: key), bytes: bytes)
    }
}

/// Bytes that are not all zero (so nothing can shortcut them).
func filling(_ count: Int) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: count)
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    bytes.withUnsafeMutableBytes { raw in
        var i = 0
        while i + 8 <= count {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            raw.storeBytes(of: state, toByteOffset: i, as: UInt64.self)
            i += 8
        }
    }
    return bytes
}

func label(_ size: Int) -> String {
    size >= GiB ? "\(size / GiB) GiB" : size >= MiB ? "\(size / MiB) MiB" : "\(size / KiB) KiB"
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
