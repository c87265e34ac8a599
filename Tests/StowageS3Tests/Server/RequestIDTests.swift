import Testing
@testable import StowageS3

/// Request ids: 16 uppercase hex digits, a per-process random prefix and a counter.
@Suite struct RequestIDTests {
    @Test func idsAreSixteenHexDigitsAndDistinct() {
        let ids = (0..<10_000).map { _ in S3Responder.makeRequestID() }
        let hex = Set("0123456789ABCDEF".utf8)
        #expect(ids.allSatisfy { $0.utf8.count == 16 && $0.utf8.allSatisfy(hex.contains) })
        #expect(Set(ids).count == ids.count)
        // One process, one prefix: the first eight digits are shared, the rest count.
        #expect(Set(ids.map { $0.prefix(8) }).count == 1)
        let serials = ids.map { UInt32($0.suffix(8), radix: 16)! }
        #expect(zip(serials, serials.dropFirst()).allSatisfy { $1 &- $0 >= 1 })
    }
}
