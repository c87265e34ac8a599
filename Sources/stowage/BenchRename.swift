import ArgumentParser
import Foundation
import Stowage

/// `stowage bench-rename`: in-process RenameObject latency for objects of several sizes,
/// measured side by side in one run (renames of the sizes interleave), in a stated
/// durability mode.
struct BenchRename: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-rename",
        abstract: "Median in-process RenameObject latency by object size (interleaved, one run).")

    @Option(help: "Data directory to create the objects in (a fresh temporary one by default).")
    var data: String?

    @Option(help: "strict or relaxed.")
    var durability = Durability.strict.rawValue

    @Option(help: "Object sizes in bytes, comma-separated.")
    var sizes = "1024,1073741824"

    @Option(help: "Renames per size.")
    var iterations = 200

    func run() async throws {
        guard let mode = Durability(rawValue: durability) else { throw ValidationError("--durability must be strict or relaxed") }
        let sizeList = sizes.split(separator: ",").compactMap { UInt64($0) }
        let directory = data ?? FileManager.default.temporaryDirectory.appendingPathComponent("stowage-bench-\(UUID())").path
        defer { if data == nil { try? FileManager.default.removeItem(atPath: directory) } }
        var options = StoreOptions()
        options.durability = mode
        let store = try ObjectStore(directory: directory, options: options)
        defer { store.close() }
        try await store.createBucket("bench")
        var names: [String] = []
        for size in sizeList {
            let key = "size-\(size)/a"
            try await Self.fill(store, key: key, size: size)
            names.append(key)
        }
        var samples = Array(repeating: [Double](), count: sizeList.count)
        for iteration in 0..<iterations {
            for (i, size) in sizeList.enumerated() {
                let source = names[i]
                let destination = "size-\(size)/" + (iteration % 2 == 0 ? "b" : "a")
                let started = ContinuousClock.now
                try await store.renameObject(RenameRequest(bucket: "bench", source: source, destination: destination,
                                                           clientToken: UUID().uuidString))
                samples[i].append((ContinuousClock.now - started).microseconds)
                names[i] = destination
            }
        }
        print("RenameObject, in process, durability \(mode.rawValue), \(iterations) renames per size, interleaved")
        print("size_bytes,median_us,p90_us,p99_us")
        for (i, size) in sizeList.enumerated() {
            let sorted = samples[i].sorted()
            print("\(size),\(Self.format(sorted.percentile(0.5))),\(Self.format(sorted.percentile(0.9))),\(Self.format(sorted.percentile(0.99)))")
        }
    }

    static func fill(_ store: ObjectStore, key: String, size: UInt64) async throws {
        let writer = try store.beginPut(PutRequest(bucket: "bench", key: key, sizeHint: size))
        let piece = [UInt8](repeating: 0x5A, count: 8 << 20)
        var left = size
        while left > 0 {
            let n = Int(min(left, UInt64(piece.count)))
            try await writer.write(n == piece.count ? piece : Array(piece[..<n]))
            left -= UInt64(n)
        }
        _ = try await writer.finish()
    }

    static func format(_ value: Double) -> String { String(format: "%.1f", value) }
}

extension Duration {
    var microseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1e6 + Double(attoseconds) / 1e12
    }
}

extension Array where Element == Double {
    /// Nearest-rank percentile of a sorted array.
    func percentile(_ p: Double) -> Double {
        guard !isEmpty else { return .nan }
        let rank = Int((Double(count) * p).rounded(.up)) - 1
        return self[Swift.max(0, Swift.min(count - 1, rank))]
    }
}
