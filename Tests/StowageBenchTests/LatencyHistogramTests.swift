import Testing
@testable import StowageBench

/// Percentiles from the log-linear histogram, against the exact ones of sorted samples.
@Suite struct LatencyHistogramTests {
    @Test func empty() {
        let histogram = LatencyHistogram()
        #expect(histogram.percentile(50) == 0)
        #expect(histogram.count == 0)
    }

    /// Below 128 ns each value has its own bucket: exact.
    @Test func smallValuesAreExact() {
        var histogram = LatencyHistogram()
        for value in 1...100 { histogram.record(nanoseconds: UInt64(value)) }
        #expect(histogram.percentile(50) == 50)
        #expect(histogram.percentile(90) == 90)
        #expect(histogram.percentile(99) == 99)
        #expect(histogram.percentile(100) == 100)
        #expect(histogram.percentile(0) == 1)
        #expect(histogram.maximumNanoseconds == 100)
    }

    /// Every bucket's edges: each value lands in a bucket whose range holds it.
    @Test func bucketEdges() {
        for value: UInt64 in [0, 1, 127, 128, 129, 130, 255, 256, 259, 260, 1_000_000, 1 << 40, UInt64.max] {
            let index = LatencyHistogram.index(of: value)
            #expect(index < LatencyHistogram.bucketCount)
            #expect(LatencyHistogram.upperEdge(of: index) >= value)
            if index > 0 { #expect(LatencyHistogram.upperEdge(of: index - 1) < value) }
        }
    }

    /// Spread values (40 µs to 2 s): each percentile within 1/64 of the exact one.
    @Test(arguments: [50.0, 90, 99, 99.9])
    func percentilesWithinPrecision(percent: Double) {
        var random = SplitMix64(seed: 42)
        var histogram = LatencyHistogram()
        var samples: [UInt64] = []
        for _ in 0..<20_000 {
            let value = 40_000 + UInt64(Double(random.next() % 1_000_000) / 1_000_000 * Double(random.next() % 2_000_000_000))
            samples.append(value)
            histogram.record(nanoseconds: value)
        }
        samples.sort()
        let exact = samples[Int((percent / 100 * Double(samples.count)).rounded(.up)) - 1]
        let got = histogram.percentile(percent)
        #expect(got >= exact)
        #expect(Double(got - exact) <= Double(exact) / 64)
    }

    @Test func mergeAddsUp() {
        var a = LatencyHistogram(), b = LatencyHistogram()
        for value in 0..<1000 { a.record(nanoseconds: UInt64(value) * 1000) }
        for value in 1000..<2000 { b.record(nanoseconds: UInt64(value) * 1000) }
        var both = LatencyHistogram()
        for value in 0..<2000 { both.record(nanoseconds: UInt64(value) * 1000) }
        a.merge(b)
        #expect(a == both)
        #expect(a.maximumNanoseconds == 1_999_000)
    }
}
