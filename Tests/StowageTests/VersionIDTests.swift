import Testing
@testable import Stowage

/// Version ids are drawn with one `getrandom` per id: they must still be well formed,
/// distinct, and use every character of the alphabet about equally.
@Suite struct VersionIDTests {
    @Test func drawnIDsAreWellFormedDistinctAndUniform() {
        let ids = (0..<10_000).map { _ in VersionID.make() }
        #expect(ids.allSatisfy { $0.utf8.count == VersionID.length && VersionID.isWellFormed($0) })
        #expect(Set(ids).count == ids.count)
        var counts: [UInt8: Int] = [:]
        for id in ids { for byte in id.utf8 { counts[byte, default: 0] += 1 } }
        // 320,000 characters over 62: about 5,161 each (σ ≈ 71); a biased or stuck draw is far outside.
        #expect(counts.count == 62)
        #expect(counts.values.allSatisfy { (4_700...5_650).contains($0) }, "\(counts.values.sorted())")
    }
}
