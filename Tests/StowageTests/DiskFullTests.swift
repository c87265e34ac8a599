import Foundation
import Testing
@testable import Stowage

/// A full disk is a typed error, never a crash or SIGBUS (I5), and leaves the store
/// consistent: everything acknowledged still reads back, and index-only operations go on.
/// The data directory lives on a small tmpfs the test mounts (CI and `make test` run as root).
@Suite struct DiskFullTests {
    static func run(_ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// A fresh tmpfs of `size` (mount's syntax, such as `40m`), unmounted when the
    /// returned cleanup runs.
    static func smallDisk(_ size: String) throws -> (path: String, cleanup: () -> Void) {
        let mountPoint = FileManager.default.temporaryDirectory.appendingPathComponent("stowage-full-\(UUID())").path
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        #expect(try run(["mount", "-t", "tmpfs", "-o", "size=\(size)", "tmpfs", mountPoint]) == 0, "needs root to mount a tmpfs")
        return (mountPoint, {
            _ = try? run(["umount", mountPoint])
            try? FileManager.default.removeItem(atPath: mountPoint)
        })
    }

    @Test func fullDiskIsATypedErrorAndLosesNothing() async throws {
        let (mountPoint, cleanup) = try Self.smallDisk("40m")
        defer { cleanup() }
        var options = testOptions(.strict, 8 << 20)
        options.indexMapSizeBytes = 64 << 20
        let store = try ObjectStore(directory: mountPoint + "/data", options: options)
        defer { store.close() }
        try await store.createBucket("bkt")
        var stored: [String: [UInt8]] = [:]
        var failure: StoreError?
        for i in 0..<40 {
            let body = testBytes(3 << 20, seed: UInt64(i))
            do {
                try await store.put("bkt", "k\(i)", body)
                stored["k\(i)"] = body
            } catch let error as StoreError {
                failure = error
                break
            }
        }
        #expect(failure?.code == .diskFull, "\(String(describing: failure))")
        #expect(stored.count >= 5)
        #expect(try store.keys("bkt").sorted() == stored.keys.sorted(), "the failed PUT left no key")
        for (key, body) in stored { #expect(try await store.bytes("bkt", key) == body) }
        // Renames and deletes need no segment space.
        let first = stored.keys.sorted()[0]
        try await store.renameObject(RenameRequest(bucket: "bkt", source: first, destination: "renamed"))
        #expect(try await store.bytes("bkt", "renamed") == stored[first]!)
        try await store.deleteObject(bucket: "bkt", key: "renamed")
        #expect(try store.keys("bkt").count == stored.count - 1)
    }

    /// A body of unknown length fails in the middle of its stream, many chunks in, on the
    /// writer's store lane while the hash lane runs beside it: the caller gets the typed
    /// error (not a hang), nothing of the upload becomes visible, and an object stored
    /// before it still reads back.
    @Test func fullDiskInTheMiddleOfAStreamIsATypedError() async throws {
        let (mountPoint, cleanup) = try Self.smallDisk("24m")
        defer { cleanup() }
        var options = testOptions(.strict, 4 << 20, 256 << 10)
        options.indexMapSizeBytes = 64 << 20
        let store = try ObjectStore(directory: mountPoint + "/data", options: options)
        defer { store.close() }
        try await store.createBucket("bkt")
        let kept = testBytes(1 << 20, seed: 7)
        try await store.put("bkt", "kept", kept)
        let body = testBytes(64 << 20, seed: 8)
        let pieces = AsyncStream<[UInt8]> { continuation in
            for start in stride(from: 0, to: body.count, by: 100_000) {
                continuation.yield(Array(body[start..<min(start + 100_000, body.count)]))
            }
            continuation.finish()
        }
        await expectStoreError(.diskFull) {
            _ = try await store.putObject(PutRequest(bucket: "bkt", key: "stream"), body: pieces)
        }
        #expect(try store.keys("bkt") == ["kept"])
        #expect(try await store.bytes("bkt", "kept") == kept)
    }
}

/// "The LMDB map never overflows into a crash": a full map is `IndexFull`, and what was
/// committed before it stays readable.
@Suite struct IndexFullTests {
    @Test func fullIndexMapIsATypedError() async throws {
        var options = testOptions()
        options.indexMapSizeBytes = 1 << 20
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("stowage-map-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try ObjectStore(directory: directory, options: options)
        defer { store.close() }
        try await store.createBucket("bkt")
        var written: [String] = []
        var failure: StoreError?
        for i in 0..<20_000 {
            let key = String(repeating: "k", count: 200) + "\(i)"
            do {
                try await store.put("bkt", key, [UInt8(i & 0xFF)])
                written.append(key)
            } catch let error as StoreError {
                failure = error
                break
            }
        }
        #expect(failure?.code == .indexFull, "\(String(describing: failure))")
        #expect(written.count > 100)
        #expect(try await store.bytes("bkt", written[0]) == [0])
        #expect(try await store.bytes("bkt", written[written.count - 1]) == [UInt8((written.count - 1) & 0xFF)])
    }
}
