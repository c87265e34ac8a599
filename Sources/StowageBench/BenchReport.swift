import Foundation

/// A run's figures: per operation ops/s, MB/s (10^6 bytes/s), latency percentiles and
/// errors by kind, and the client's own CPU time over the measured window.
public struct BenchReport: Sendable {
    public let configuration: BenchConfiguration
    public let elapsedSeconds: Double
    public let cpu: CPUTime
    public let operations: [(operation: BenchOperation, stats: OperationStats)]

    public static let percentiles: [(label: String, percent: Double)] =
        [("p50", 50), ("p90", 90), ("p99", 99), ("p99.9", 99.9)]

    public var errorCount: Int { operations.reduce(0) { $0 + $1.stats.errorCount } }
    public var verifyErrorCount: Int { operations.reduce(0) { $0 + ($1.stats.errors["verify"] ?? 0) } }

    var total: OperationStats {
        operations.reduce(into: OperationStats()) { $0.merge($1.stats) }
    }

    func rate(_ value: Int) -> Double { elapsedSeconds > 0 ? Double(value) / elapsedSeconds : 0 }

    /// The JSON `--json` prints.
    public func json() -> String {
        var operationObjects: [String: Any] = [:]
        for (operation, stats) in operations { operationObjects[operation.rawValue] = object(stats) }
        let c = configuration
        let document: [String: Any] = [
            "endpoint": "http://\(c.hostHeader)", "bucket": c.bucket, "unsigned": c.unsigned, "presigned": c.presigned,
            "concurrency": c.concurrency, "threads": c.threads, "objects": c.objects,
            "object_size": ["min_bytes": c.sizes.minimumBytes, "max_bytes": c.sizes.maximumBytes, "label": c.sizes.description],
            "mix": Dictionary(uniqueKeysWithValues: c.mix.weights.map { ($0.operation.rawValue, $0.weight) }),
            "warmup_s": c.warmupSeconds, "duration_s": c.count == nil ? c.durationSeconds : NSNull(),
            "count": c.count.map { $0 as Any } ?? NSNull(), "elapsed_s": elapsedSeconds,
            "operations": operationObjects, "total": object(total),
            "errors": errorCount, "verify_errors": verifyErrorCount,
            "client_cpu": ["user_s": cpu.userSeconds, "system_s": cpu.systemSeconds,
                           "cores": elapsedSeconds > 0 ? (cpu.userSeconds + cpu.systemSeconds) / elapsedSeconds : 0],
        ]
        let data = try! JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    private func object(_ stats: OperationStats) -> [String: Any] {
        var latency: [String: Double] = [:]
        for (label, percent) in Self.percentiles { latency[label] = Double(stats.histogram.percentile(percent)) / 1e6 }
        latency["max"] = Double(stats.histogram.maximumNanoseconds) / 1e6
        latency["mean"] = stats.histogram.count > 0 ? Double(stats.histogram.sumNanoseconds) / Double(stats.histogram.count) / 1e6 : 0
        return ["ops": stats.operations, "ops_per_s": rate(stats.operations), "bytes": stats.bytes,
                "mb_per_s": rate(stats.bytes) / 1e6, "latency_ms": latency, "absent": stats.absent,
                "errors": stats.errors]
    }

    /// The table a person reads.
    public func text() -> String {
        let c = configuration
        var lines = [
            "stowage bench: http://\(c.hostHeader)/\(c.bucket)\(c.unsigned ? " (unsigned)" : c.presigned ? " (presigned)" : ""), \(c.concurrency) connections "
                + "on \(c.threads) threads, \(c.objects) objects of \(c.sizes), mix "
                + c.mix.weights.map { "\($0.operation.rawValue)=\($0.weight)" }.joined(separator: ","),
            String(format: "measured %.2f s after %.1f s of warm-up", elapsedSeconds, c.warmupSeconds),
            "",
            "operation          ops      ops/s       MB/s    p50 ms    p90 ms    p99 ms  p99.9 ms    max ms  errors",
        ]
        for (name, stats) in operations.map({ ($0.operation.rawValue, $0.stats) }) + (operations.count > 1 ? [("total", total)] : []) {
            let h = stats.histogram
            lines.append(name.padding(toLength: 13, withPad: " ", startingAt: 0) + String(format: " %9d %10.1f %10.2f %9.3f %9.3f %9.3f %9.3f %9.3f %7d",
                                stats.operations, rate(stats.operations), rate(stats.bytes) / 1e6,
                                Double(h.percentile(50)) / 1e6, Double(h.percentile(90)) / 1e6, Double(h.percentile(99)) / 1e6,
                                Double(h.percentile(99.9)) / 1e6, Double(h.maximumNanoseconds) / 1e6, stats.errorCount))
        }
        for (operation, stats) in operations {
            if stats.absent > 0 { lines.append("\(operation.rawValue): \(stats.absent) answered 404 for an object this run had deleted (expected)") }
            for (error, count) in stats.errors.sorted(by: { $0.key < $1.key }) {
                lines.append("\(operation.rawValue): error \(error) ×\(count)")
            }
        }
        let cores = elapsedSeconds > 0 ? (cpu.userSeconds + cpu.systemSeconds) / elapsedSeconds : 0
        lines.append(String(format: "client CPU: %.2f s user + %.2f s system = %.2f cores", cpu.userSeconds, cpu.systemSeconds, cores))
        if verifyErrorCount > 0 { lines.append("VERIFY ERRORS: \(verifyErrorCount) answers had the wrong size or bytes") }
        return lines.joined(separator: "\n")
    }
}
