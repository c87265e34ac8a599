/// Latencies in nanoseconds, in log-linear buckets (as HdrHistogram does): below
/// `subBuckets` ns one bucket per nanosecond, above it each power of two split in
/// `subBuckets / 2` equal buckets, so a percentile is off by less than 1/64 (1.6 %) of
/// its value, whatever the range, in a fixed 4 KiB array that recording never grows.
public struct LatencyHistogram: Sendable, Equatable {
    static let subBucketBits = 7
    static let subBuckets = 1 << subBucketBits           // 128
    /// Powers of two above the linear range: up to 2^(7+57) ns, beyond any run.
    static let bucketCount = subBuckets + (64 - subBucketBits) * (subBuckets / 2)

    private(set) var counts: [UInt64]
    public private(set) var count: UInt64 = 0
    public private(set) var maximumNanoseconds: UInt64 = 0
    public private(set) var sumNanoseconds: UInt64 = 0

    public init() { counts = Array(repeating: 0, count: Self.bucketCount) }

    public mutating func record(nanoseconds: UInt64) {
        counts[Self.index(of: nanoseconds)] += 1
        count += 1
        sumNanoseconds &+= nanoseconds
        maximumNanoseconds = max(maximumNanoseconds, nanoseconds)
    }

    public mutating func merge(_ other: LatencyHistogram) {
        for index in counts.indices { counts[index] += other.counts[index] }
        count += other.count
        sumNanoseconds &+= other.sumNanoseconds
        maximumNanoseconds = max(maximumNanoseconds, other.maximumNanoseconds)
    }

    /// The value at percentile `percent` (0–100): the upper edge of the bucket holding
    /// the sample of rank ⌈percent × count / 100⌉, never above the maximum recorded.
    /// 0 when nothing was recorded.
    public func percentile(_ percent: Double) -> UInt64 {
        guard count > 0 else { return 0 }
        let rank = max(1, UInt64((percent / 100 * Double(count)).rounded(.up)))
        var seen: UInt64 = 0
        for (index, bucketCount) in counts.enumerated() where bucketCount > 0 {
            seen += bucketCount
            if seen >= rank { return min(Self.upperEdge(of: index), maximumNanoseconds) }
        }
        return maximumNanoseconds
    }

    static func index(of value: UInt64) -> Int {
        if value < UInt64(subBuckets) { return Int(value) }
        let magnitude = 63 - value.leadingZeroBitCount          // ≥ subBucketBits
        let shift = magnitude - (subBucketBits - 1)             // keeps 7 significant bits
        let top = Int(value >> UInt64(shift)) - subBuckets / 2  // 0..<64
        return subBuckets + (shift - 1) * (subBuckets / 2) + top
    }

    /// The largest value that falls in bucket `index`.
    static func upperEdge(of index: Int) -> UInt64 {
        if index < subBuckets { return UInt64(index) }
        let shift = (index - subBuckets) / (subBuckets / 2) + 1
        let top = UInt64((index - subBuckets) % (subBuckets / 2) + subBuckets / 2)
        return ((top + 1) &<< UInt64(shift)) &- 1
    }
}
