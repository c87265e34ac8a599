import ArgumentParser
import Foundation
import Stowage
import Synchronization

/// Compaction settings shared by `stowage compact` and `stowage serve`.
struct CompactionFlags: ParsableArguments {
    @Option(help: "Compact a segment once at least this fraction of it is garbage, 0 < t < 1 (default 0.5).")
    var compactionThreshold: Double?

    @Option(help: "Most MiB per second compaction copies; 0: no limit (the default).")
    var compactionRate: UInt64?

    /// The options from these flags alone (`stowage compact`).
    func options() throws -> CompactionOptions {
        var layers = Settings(configPath: nil, environment: [:])
        let options = options(&layers)
        try layers.check()
        return options
    }

    /// The options through `serve`'s layers (flag, environment, configuration file).
    func options(_ layers: inout Settings) -> CompactionOptions {
        let threshold = layers.value("compaction-threshold", flag: compactionThreshold, default: 0.5)
        layers.require(threshold > 0 && threshold < 1, "compaction-threshold", "must be between 0 and 1 (exclusive)")
        let rate = layers.value("compaction-rate", flag: compactionRate, default: 0)
        layers.require(rate <= 1 << 30, "compaction-rate", "must be at most 1073741824 MiB/s")
        return CompactionOptions(garbageThreshold: threshold, bytesPerSecond: rate == 0 ? nil : rate << 20)
    }
}

/// The segment size new segments get: `--segment-size` when given, else the size of the
/// directory's newest segment file (so a later command does not change it), else 1 GiB.
func segmentCapacity(_ mebibytes: UInt64?, data: String) throws -> UInt64 {
    if let mebibytes {
        guard mebibytes >= 1, mebibytes <= 1 << 20 else { throw ValidationError("--segment-size must be 1 to 1048576 MiB") }
        return mebibytes << 20
    }
    let directory = data + "/segments"
    let newest = (try? FileManager.default.contentsOfDirectory(atPath: directory))?
        .filter { $0.hasSuffix(".seg") }.max()
    if let newest, let size = (try? FileManager.default.attributesOfItem(atPath: directory + "/" + newest))?[.size] as? UInt64,
       size >= 1 << 20 {
        return size
    }
    return 1 << 30
}

/// `stowage compact`: one compaction pass over a stopped server's data directory.
struct Compact: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Reclaim dead space now: move live data out of garbage-heavy segments and delete them.",
        discussion: """
            Needs the directory to itself: a running server compacts in the background \
            (stowage serve --compaction-interval). Safe to interrupt at any point: the next \
            pass finishes what this one left.
            """)

    @Option(help: "Data directory.")
    var data = "./data"

    @OptionGroup var compaction: CompactionFlags

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Option(help: "Size of new segment files in MiB (default: the size of the newest segment).")
    var segmentSize: UInt64?

    @Option(help: .hidden)
    var killAt: String?

    func run() async throws {
        var options = try compaction.options()
        if let killAt { options.onStep = try Self.killHook(killAt) }
        guard FileManager.default.fileExists(atPath: data + "/index/data.mdb") else {
            throw ValidationError("\(data) is not a Stowage data directory (no index/data.mdb)")
        }
        var storeOptions = StoreOptions()
        storeOptions.segmentCapacityBytes = try segmentCapacity(segmentSize, data: data)
        let store = try ObjectStore(directory: data, options: storeOptions)
        defer { store.close() }
        let before = try store.stats()
        let report = try await store.compact(options)
        let after = try store.stats()
        let rate = report.seconds > 0 ? Double(report.bytesMoved) / report.seconds / 1e6 : 0
        if json {
            let fields: [String: Any] = [
                "segmentsRetired": report.segmentsRetired, "bytesMoved": report.bytesMoved,
                "blobsMoved": report.blobsMoved, "bytesReclaimed": report.bytesReclaimed,
                "damagedBlobs": report.damagedBlobs, "seconds": report.seconds, "moveRateMBps": rate,
                "liveBytes": after.liveBytes, "capacityBefore": before.capacityBytes, "capacityAfter": after.capacityBytes,
            ]
            let out = try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
            print(String(decoding: out, as: UTF8.self))
        } else {
            print("retired \(report.segmentsRetired) segments, reclaimed \(report.bytesReclaimed) bytes")
            print("moved \(report.bytesMoved) live bytes of \(report.blobsMoved) blobs in \(String(format: "%.3f", report.seconds)) s (\(String(format: "%.1f", rate)) MB/s)")
            print("segment capacity \(before.capacityBytes) -> \(after.capacityBytes) bytes for \(after.liveBytes) live bytes")
            if !report.damagedBlobs.isEmpty {
                print("left in place, damaged (run stowage fsck): blobs \(report.damagedBlobs)")
            }
        }
        if !report.damagedBlobs.isEmpty { throw ExitCode(1) }
    }

    /// `STEP` or `STEP:N`: SIGKILL this process when compaction completes STEP for the
    /// Nth time (tests of crash safety).
    static func killHook(_ spec: String) throws -> @Sendable (CompactionStep, UInt64) -> Void {
        let parts = spec.split(separator: ":")
        guard let name = parts.first, let step = CompactionStep(rawValue: String(name)),
              parts.count <= 2, let count = parts.count == 2 ? Int(parts[1]) : 1, count > 0 else {
            throw ValidationError("--kill-at takes STEP or STEP:N, STEP one of \(CompactionStep.allCases.map(\.rawValue))")
        }
        let seen = Atomic<Int>(0)
        return { reached, _ in
            guard reached == step else { return }
            if seen.add(1, ordering: .relaxed).newValue == count { kill(getpid(), SIGKILL) }
        }
    }
}
