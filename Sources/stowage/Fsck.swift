import ArgumentParser
import Foundation
import Stowage
import Synchronization

/// `stowage fsck`: verify a data directory (every index record, and unless `--quick`
/// every chunk's XXH3), optionally repair it. Exit status 0 clean, 1 problems, 2 could
/// not run.
struct Fsck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify a data directory: every index record and every checksummed byte.",
        discussion: """
            Safe on a running server's directory: the index is read in one LMDB read snapshot \
            (the server keeps writing) and nothing is written. --repair needs the directory to \
            itself (stop the server first). Exit status: 0 clean (notices allowed), 1 problems \
            found, 2 could not run.
            """)

    @Option(help: "Data directory.")
    var data = "./data"

    @Flag(help: "Print the report as JSON on standard output (progress still goes to standard error).")
    var json = false

    @Flag(help: "Skip the byte scan: check the index and the segment files' presence and sizes only.")
    var quick = false

    @Flag(help: "Fix reference counts and space accounting, quarantine objects whose bytes are damaged (GET answers an integrity error), remove broken upload parts. Never deletes a key. Needs the server stopped.")
    var repair = false

    @Flag(help: "With --repair: delete segment files the index does not know and mark stranded segment tails dead.")
    var reclaimOrphans = false

    @Flag(help: "Also time XXH3 over an in-memory buffer, to set the scan rate against.")
    var measureXxh3 = false

    @Option(help: "Threads for the byte scan (default: one per core).")
    var workers: Int?

    @OptionGroup(title: "Cluster mode (instead of --data: check the cluster whose index is in etcd)")
    var cluster: ClusterFlags

    @Option(help: "Cluster mode, with --repair: delete orphan RADOS objects last written at least this many seconds ago.")
    var orphanAge = 3600

    func run() async throws {
        let status: Int32
        do {
            status = try await check()
        } catch {
            Self.fail("\(error)", json: json)
            status = 2
        }
        if status != 0 { throw ExitCode(status) }
    }

    /// Runs the check (and the repair); the exit status.
    private func check() async throws -> Int32 {
        if let configuration = try cluster.configuration() { return try await checkCluster(configuration) }
        guard !reclaimOrphans || repair else { throw FsckError("--reclaim-orphans needs --repair") }
        guard workers.map({ $0 > 0 }) ?? true else { throw FsckError("--workers must be at least 1") }
        guard FileManager.default.fileExists(atPath: data + "/index/data.mdb") else {
            throw FsckError("\(data) is not a Stowage data directory (no index/data.mdb)")
        }
        var options = VerifyOptions()
        options.quick = quick
        if let workers { options.scanWorkers = workers }
        let display = quick ? nil : ProgressDisplay()
        var output: FsckOutput
        if repair {
            output = try await verifyAndRepair(options, display)
        } else {
            let store = try ReadOnlyStore(directory: data)
            defer { store.close() }
            output = FsckOutput(report: try await store.verify(options, progress: display?.callback))
        }
        display?.finish()
        if measureXxh3 { output.xxh3 = XXH3Figures.measure(threads: options.scanWorkers) }
        if json { Self.printJSON(output) } else { FsckText(output: output, workers: options.scanWorkers).print() }
        return output.exitCode
    }

    /// A cluster: every blob's RADOS objects and (unless --quick) every chunk's XXH3;
    /// orphans listed, and with --repair deleted once older than --orphan-age.
    private func checkCluster(_ configuration: ClusterConfiguration) async throws -> Int32 {
        guard !reclaimOrphans else { throw FsckError("--reclaim-orphans is for data directories; a cluster's --repair deletes orphans older than --orphan-age") }
        guard orphanAge >= 0 else { throw FsckError("--orphan-age must be 0 or more") }
        let store = try ObjectStore.openCluster(configuration)
        defer { store.close() }
        let report = try await store.checkCluster(quick: quick, repair: repair, orphanAge: .seconds(orphanAge))
        if json {
            Self.printJSON(report)
        } else {
            print("cluster: \(report.objects) objects, \(report.blobs) blobs in \(report.containers) RADOS objects, \(report.queuedDeletions) deletions queued")
            if !quick { print("verified \(report.chunksVerified) chunks, \(report.bytesVerified) bytes, in \(String(format: "%.2f", report.seconds)) s") }
            for line in report.missing { print("MISSING  \(line)") }
            for line in report.damaged { print("DAMAGED  \(line)") }
            for line in report.undecodable { print("UNDECODABLE  \(line)") }
            for line in report.repairs { print("repair   \(line)") }
            for name in report.quarantinedObjects { print("quarantined  \(name) (GET and HEAD answer an integrity error)") }
            for name in report.orphans { print("orphan   \(name)\(report.orphansDeleted.contains(name) ? " (deleted)" : "")") }
            print(report.isClean ? "clean" : "PROBLEMS FOUND")
        }
        return report.isClean ? 0 : 1
    }

    private func verifyAndRepair(_ options: VerifyOptions, _ display: ProgressDisplay?) async throws -> FsckOutput {
        let store = try openExclusively()
        defer { store.close() }
        let report = try await store.verify(options, progress: display?.callback)
        display?.finish()
        var repairOptions = RepairOptions()
        repairOptions.reclaimOrphans = reclaimOrphans
        let repaired = try await store.repair(basedOn: report, options: repairOptions)
        var after = VerifyOptions()
        after.quick = true
        return FsckOutput(report: report, repair: repaired, afterRepair: try await store.verify(after))
    }

    /// The store for a repair: refused while a server (any other process) has it open.
    private func openExclusively() throws -> ObjectStore {
        // Not `catch where` on the typed error: Swift 6.3.1 hangs compiling that here.
        do {
            return try ObjectStore(directory: data)
        } catch {
            guard error.code == .alreadyOpen else { throw error }
            throw FsckError("refusing to repair \(data): another process (a running server?) has it open; stop it first, or run fsck without --repair")
        }
    }

    static func printJSON(_ value: some Encodable) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do {
            print(String(decoding: try encoder.encode(value), as: UTF8.self))
        } catch {
            FileHandle.standardError.write(Data("stowage fsck: cannot encode the report: \(error)\n".utf8))
        }
    }

    static func fail(_ message: String, json: Bool) {
        FileHandle.standardError.write(Data("stowage fsck: could not run: \(message)\n".utf8))
        if json { printJSON(FsckFailure(exitCode: 2, error: message)) }
    }
}

/// What `--json` prints when fsck could not run.
struct FsckFailure: Encodable {
    let exitCode: Int32
    let error: String
}

struct FsckError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// What `--json` prints.
struct FsckOutput: Encodable {
    var report: VerificationReport
    var repair: RepairReport?
    /// A quick verification right after the repair: the state the exit status reflects.
    var afterRepair: VerificationReport?
    var xxh3: XXH3Figures?

    /// 0 clean, 1 problems (after the repair, when there was one).
    var exitCode: Int32 { (afterRepair ?? report).isClean ? 0 : 1 }

    private enum CodingKeys: String, CodingKey { case exitCode, report, repair, afterRepair, xxh3 }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(exitCode, forKey: .exitCode)
        try c.encode(report, forKey: .report)
        try c.encodeIfPresent(repair, forKey: .repair)
        try c.encodeIfPresent(afterRepair, forKey: .afterRepair)
        try c.encodeIfPresent(xxh3, forKey: .xxh3)
    }
}

/// The raw XXH3 rate, in the same run as the scan.
struct XXH3Figures: Encodable {
    /// A 1 MiB buffer (cache-resident), one thread.
    var cachedBytesPerSecond: Double
    /// A 256 MiB buffer (from memory) in 1 MiB chunks, one thread and `threads` threads.
    var memoryBytesPerSecond: Double
    var memoryAllThreadsBytesPerSecond: Double
    var threads: Int

    static func measure(threads: Int) -> XXH3Figures {
        XXH3Figures(cachedBytesPerSecond: XXH3Rate.measure(bufferBytes: 1 << 20),
                    memoryBytesPerSecond: XXH3Rate.measure(bufferBytes: 256 << 20),
                    memoryAllThreadsBytesPerSecond: XXH3Rate.measure(bufferBytes: 256 << 20, threads: threads),
                    threads: threads)
    }
}

/// The byte scan's progress on standard error: a bar on a terminal, a line every few
/// seconds otherwise.
final class ProgressDisplay: Sendable {
    private struct State {
        var started: ContinuousClock.Instant?
        var lastDrawn: ContinuousClock.Instant?
        var lastPercent = -1
        var drawn = false
    }

    private let state = Mutex(State())
    private let isTerminal = isatty(STDERR_FILENO) == 1
    private let clock = ContinuousClock()

    var callback: @Sendable (VerifyProgress) -> Void { { [self] progress in update(progress) } }

    func update(_ progress: VerifyProgress) {
        guard progress.bytesTotal > 0 else { return }
        let now = clock.now
        let line: String? = state.withLock { s in
            let started = s.started ?? now
            s.started = started
            let interval: Duration = isTerminal ? .milliseconds(100) : .seconds(5)
            let done = progress.bytesVerified >= progress.bytesTotal
            var due = true
            if let last = s.lastDrawn { due = now - last >= interval }
            guard done || due else { return nil }
            let percent = progress.bytesTotal == 0 ? 100 : Int(progress.bytesVerified * 100 / progress.bytesTotal)
            guard isTerminal || percent != s.lastPercent else { return nil }
            s.lastDrawn = now
            s.lastPercent = percent
            s.drawn = true
            return Self.render(progress, percent: percent, elapsed: (now - started).seconds, bar: isTerminal)
        }
        guard let line else { return }
        let text = isTerminal ? "\r\u{1B}[K\(line)" : "\(line)\n"
        FileHandle.standardError.write(Data(text.utf8))
    }

    func finish() {
        let drawn = state.withLock { s in defer { s.drawn = false }; return s.drawn }
        if drawn && isTerminal { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    static func render(_ p: VerifyProgress, percent: Int, elapsed: Double, bar: Bool) -> String {
        let rate: Double = elapsed > 0 ? Double(p.bytesVerified) / elapsed : 0
        let remaining = Double(p.bytesTotal - min(p.bytesVerified, p.bytesTotal))
        let eta: Double = rate > 0 ? remaining / rate : 0
        let figures = "\(percent)%  \(FsckText.bytes(p.bytesVerified)) / \(FsckText.bytes(p.bytesTotal))  \(FsckText.rate(rate))  ETA \(Int(eta.rounded(.up))) s"
        guard bar else { return "fsck: verified " + figures }
        let width = 30
        let filled = min(width, percent * width / 100)
        let done = String(repeating: "#", count: filled)
        let left = String(repeating: ".", count: width - filled)
        return "[\(done)\(left)] \(figures)"
    }
}

/// The human summary.
struct FsckText {
    let output: FsckOutput
    let workers: Int

    func print() {
        let report = output.report
        Swift.print("stowage fsck \(report.directory) (\(report.live ? "live: a running server holds it; index read in one snapshot" : "offline"))")
        summary(report)
        findings(report.findings)
        if let repair = output.repair, let after = output.afterRepair {
            Swift.print("repair: \(Self.count(repair.actions.count, "change"))")
            for action in repair.actions { Swift.print("  \(action)") }
            if !repair.unrepaired.isEmpty {
                Swift.print("not repaired (needs an operator): \(repair.unrepaired.count)")
                for finding in repair.unrepaired { Swift.print("  \(finding)") }
            }
            Swift.print("after repair:")
            findings(after.findings)
            verdict(after, repaired: true)
        } else {
            verdict(report, repaired: false)
        }
        if let x = output.xxh3 {
            Swift.print("XXH3 in memory: \(Self.rate(x.cachedBytesPerSecond)) (1 MiB buffer, 1 thread); \(Self.rate(x.memoryBytesPerSecond)) (256 MiB, 1 thread); \(Self.rate(x.memoryAllThreadsBytesPerSecond)) (256 MiB, \(x.threads) threads)")
        }
    }

    private func summary(_ report: VerificationReport) {
        let s = report.statistics
        Swift.print("index: \(s.buckets) buckets, \(s.objects) keys, \(s.dataBlobs) data blobs, \(s.compositeBlobs) multipart blobs, \(s.uploads) uploads in progress (\(s.parts) parts), \(s.tokens) rename tokens and \(s.completions) completed uploads kept for retries (\(s.expiredTokens) expired), \(s.quarantinedBlobs) quarantined blobs")
        Swift.print("space: \(s.segmentRecords) segment records, \(s.segmentFiles) files; live \(Self.bytes(s.liveBytes)), dead \(Self.bytes(s.deadBytes)) (orphaned \(Self.bytes(s.orphanedBytes))), stranded \(Self.bytes(s.strandedBytes)), unknown files \(Self.bytes(s.unknownSegmentBytes))")
        if report.quick {
            Swift.print("bytes: not scanned (--quick)")
        } else {
            Swift.print("bytes: verified \(Self.bytes(s.bytesVerified)) in \(s.chunksVerified) chunks in \(String(format: "%.2f", s.scanSeconds)) s: \(Self.rate(s.scanBytesPerSecond)) (\(workers) threads); index checked in \(String(format: "%.2f", s.indexSeconds)) s")
        }
    }

    private func findings(_ findings: [Finding]) {
        let problems = findings.filter { $0.severity == .problem }
        let notices = findings.filter { $0.severity == .notice }
        if !problems.isEmpty { Swift.print("problems (\(problems.count)):") }
        for finding in problems { Swift.print("  \(finding)") }
        if !notices.isEmpty { Swift.print("notices (\(notices.count)):") }
        for finding in notices { Swift.print("  \(finding)") }
    }

    private func verdict(_ report: VerificationReport, repaired: Bool) {
        let notices = report.notices.count
        if report.isClean {
            Swift.print(notices > 0 ? "result: clean (\(Self.count(notices, "notice")))" : "result: clean")
        } else if repaired {
            Swift.print("result: \(Self.count(report.problems.count, "problem")) remain")
        } else {
            Swift.print("result: \(Self.count(report.problems.count, "problem")); `stowage fsck --repair` (server stopped) fixes what can be fixed")
        }
    }

    static func count(_ n: Int, _ noun: String) -> String { n == 1 ? "1 \(noun)" : "\(n) \(noun)s" }

    static func bytes(_ count: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(count)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        guard unit > 0 else { return "\(count) B" }
        return String(format: "%.1f", value) + " \(units[unit])"
    }

    static func rate(_ bytesPerSecond: Double) -> String {
        String(format: "%.2f GB/s", bytesPerSecond / 1e9)
    }
}
