import Synchronization

/// One operation's figures on one connection, merged across connections at the end.
public struct OperationStats: Sendable, Equatable {
    public var histogram = LatencyHistogram()
    public var operations = 0
    /// Bytes sent (PUT, copy, multipart: the object's size) or received (GET, list).
    public var bytes = 0
    /// Answers "no such key" for an object this connection had deleted: expected, counted.
    public var absent = 0
    /// By `verify`, `HTTP <status> <S3 code>` or `connection closed`.
    public var errors: [String: Int] = [:]

    public init() {}

    public var errorCount: Int { errors.values.reduce(0, +) }

    public mutating func merge(_ other: OperationStats) {
        histogram.merge(other.histogram)
        operations += other.operations
        bytes += other.bytes
        absent += other.absent
        errors.merge(other.errors, uniquingKeysWith: +)
    }
}

/// What a connection hands back when it stops.
struct ConnectionResult: Sendable {
    var stats: [OperationStats] = Array(repeating: OperationStats(), count: BenchOperation.allCases.count)
    /// When its last measured operation ended (uptime ns): a `--count` run's end.
    var lastEndNanoseconds: UInt64 = 0
    /// Failures of set-up requests (bucket, the objects' first PUTs): the run stops on any.
    var setupErrors: [String: Int] = [:]
}

/// The measured window, in `NIODeadline.now().uptimeNanoseconds`.
struct BenchWindow: Sendable {
    var measureStartNanoseconds: UInt64
    var measureEndNanoseconds: UInt64
}

/// The state every connection shares: the configuration, the payload, and counters the
/// progress line reads.
final class BenchShared: Sendable {
    let configuration: BenchConfiguration
    let payload: BenchPayload
    let completed = Atomic<Int>(0)
    let failed = Atomic<Int>(0)
    /// `--count`: measured operations still to start.
    let remaining: Atomic<Int>

    init(configuration: BenchConfiguration, payload: BenchPayload) {
        self.configuration = configuration
        self.payload = payload
        remaining = Atomic(configuration.count ?? .max)
    }
}
