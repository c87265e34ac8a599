import ArgumentParser
import Foundation
import Stowage

/// `stowage bench-metadata`: the metadata-only operations, in process, side by side in one
/// run: RenameObject and CopyObject of a small and a large object (interleaved), and
/// CompleteMultipartUpload of uploads with few and many parts.
struct BenchMetadata: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-metadata",
        abstract: "In-process latency of RenameObject, CopyObject and CompleteMultipartUpload (one run).")

    @Option(help: "strict or relaxed.")
    var durability = Durability.strict.rawValue

    @Option(help: "Small and large object sizes in bytes.")
    var sizes = "1024,1073741824"

    @Option(help: "Renames and copies per size.")
    var iterations = 200

    @Option(help: "Part counts for CompleteMultipartUpload, comma-separated.")
    var partCounts = "10,1000"

    @Option(help: "Completes per part count.")
    var completes = 20

    @Option(help: "Bytes per part in the Complete benchmark (Complete's cost depends on the part count, not on part size; the minimum part size is lowered to this).")
    var partBytes = 65_536

    func run() async throws {
        guard let mode = Durability(rawValue: durability) else { throw ValidationError("--durability must be strict or relaxed") }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("stowage-bench-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var options = StoreOptions()
        options.durability = mode
        options.minPartSizeBytes = UInt64(partBytes)
        let store = try ObjectStore(directory: directory, options: options)
        defer { store.close() }
        try await store.createBucket("bench")
        let sizeList = sizes.split(separator: ",").compactMap { UInt64($0) }
        print("in process, durability \(mode.rawValue); median / p90 / p99 in microseconds")
        print("operation,parameter,median_us,p90_us,p99_us,samples")
        try await renamesAndCopies(store, sizeList)
        for count in partCounts.split(separator: ",").compactMap({ Int($0) }) {
            let samples = try await completeSamples(store, parts: count)
            Self.report("CompleteMultipartUpload", "\(count) parts of \(partBytes) B", samples)
        }
    }

    private func renamesAndCopies(_ store: ObjectStore, _ sizeList: [UInt64]) async throws {
        var names: [String] = []
        for size in sizeList {
            try await Self.fill(store, key: "size-\(size)/a", size: size)
            names.append("size-\(size)/a")
        }
        var renames = Array(repeating: [Double](), count: sizeList.count)
        var copies = Array(repeating: [Double](), count: sizeList.count)
        for iteration in 0..<iterations {
            for (i, size) in sizeList.enumerated() {
                let leaf: String = iteration % 2 == 0 ? "b" : "a"
                let destination = "size-\(size)/\(leaf)"
                renames[i].append(try await Self.time {
                    try await store.renameObject(RenameRequest(bucket: "bench", source: names[i], destination: destination,
                                                               clientToken: UUID().uuidString))
                })
                names[i] = destination
                copies[i].append(try await Self.time {
                    _ = try await store.copyObject(CopyRequest(sourceBucket: "bench", sourceKey: destination,
                                                               bucket: "bench", key: "copy-\(size)"))
                })
            }
        }
        for (i, size) in sizeList.enumerated() {
            Self.report("RenameObject", "\(size) B", renames[i])
            Self.report("CopyObject", "\(size) B", copies[i])
        }
    }

    private func completeSamples(_ store: ObjectStore, parts: Int) async throws -> [Double] {
        let body = [UInt8](repeating: 0xA5, count: partBytes)
        var samples: [Double] = []
        for round in 0..<completes {
            let key = "mpu-\(parts)-\(round)"
            let uploadID = try await store.createMultipartUpload(bucket: "bench", key: key)
            var etags: [(partNumber: Int, etag: String)] = []
            for number in 1...parts {
                let writer = try store.beginUploadPart(bucket: "bench", key: key, uploadID: uploadID, partNumber: number,
                                                       sizeHint: UInt64(body.count))
                try await writer.write(body)
                etags.append((number, try await writer.finish().etag))
            }
            samples.append(try await Self.time {
                _ = try await store.completeMultipartUpload(bucket: "bench", key: key, uploadID: uploadID, parts: etags)
            })
            try await store.deleteObject(bucket: "bench", key: key)
        }
        return samples
    }

    static func time(_ body: () async throws -> Void) async throws -> Double {
        let started = ContinuousClock.now
        try await body()
        return (ContinuousClock.now - started).seconds * 1e6
    }

    static func report(_ operation: String, _ parameter: String, _ samples: [Double]) {
        let sorted = samples.sorted()
        let quantiles: [Double] = [0.5, 0.9, 0.99]
        var cells: [String] = []
        for quantile in quantiles {
            let value: Double = sorted.percentile(quantile)
            cells.append(String(format: "%.1f", value))
        }
        print("\(operation),\(parameter),\(cells.joined(separator: ",")),\(samples.count)")
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
}

extension Array where Element == Double {
    /// Nearest-rank percentile of a sorted array.
    func percentile(_ p: Double) -> Double {
        guard !isEmpty else { return .nan }
        let rank = Int((Double(count) * p).rounded(.up)) - 1
        return self[Swift.max(0, Swift.min(count - 1, rank))]
    }
}
