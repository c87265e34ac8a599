import Foundation

/// Sizes as people write them on a command line: `4096`, `4KiB`, `1MiB`, `64MB`, `1GiB`
/// (binary `KiB MiB GiB`, decimal `KB MB GB`, `B` or nothing for bytes).
public enum ByteSize {
    public static func parse(_ text: String) throws(BenchUsageError) -> Int {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let digits = trimmed.prefix { $0.isNumber }
        let unit = trimmed.dropFirst(digits.count).trimmingCharacters(in: .whitespaces).lowercased()
        guard let value = Int(digits) else { throw BenchUsageError("not a size: \"\(text)\" (e.g. 4096, 4KiB, 1MiB)") }
        let multiplier: Int
        switch unit {
        case "", "b": multiplier = 1
        case "kib", "k": multiplier = 1 << 10
        case "mib", "m": multiplier = 1 << 20
        case "gib", "g": multiplier = 1 << 30
        case "kb": multiplier = 1_000
        case "mb": multiplier = 1_000_000
        case "gb": multiplier = 1_000_000_000
        default: throw BenchUsageError("unknown size unit in \"\(text)\" (B, KiB, MiB, GiB, KB, MB, GB)")
        }
        let (bytes, overflow) = value.multipliedReportingOverflow(by: multiplier)
        guard !overflow else { throw BenchUsageError("size too large: \"\(text)\"") }
        return bytes
    }

    /// `4096` → `4 KiB`, for reports.
    public static func label(_ bytes: Int) -> String {
        for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] where bytes >= 1 << shift && bytes % (1 << shift) == 0 {
            return "\(bytes >> shift) \(unit)"
        }
        return "\(bytes) B"
    }
}

/// The size of each object: one size, or uniform between two (`4KiB-1MiB`), chosen per
/// object slot by a hash of its number so that every connection and every later run agree
/// on an object's size without asking the server.
public struct SizeDistribution: Sendable, Equatable, CustomStringConvertible {
    public let minimumBytes: Int
    public let maximumBytes: Int

    public init(minimumBytes: Int, maximumBytes: Int) {
        self.minimumBytes = minimumBytes
        self.maximumBytes = maximumBytes
    }

    public init(parsing text: String) throws(BenchUsageError) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        switch parts.count {
        case 1:
            let bytes = try ByteSize.parse(text)
            self.init(minimumBytes: bytes, maximumBytes: bytes)
        case 2:
            let low = try ByteSize.parse(String(parts[0])), high = try ByteSize.parse(String(parts[1]))
            guard low <= high else { throw BenchUsageError("size range \"\(text)\" runs backwards") }
            self.init(minimumBytes: low, maximumBytes: high)
        default:
            throw BenchUsageError("not a size or a size range: \"\(text)\" (e.g. 4KiB or 4KiB-1MiB)")
        }
    }

    /// The size of object slot `slot`: always the same for the same slot.
    public func bytes(forSlot slot: Int) -> Int {
        guard maximumBytes > minimumBytes else { return minimumBytes }
        let span = UInt64(maximumBytes - minimumBytes + 1)
        return minimumBytes + Int(SplitMix64.hash(UInt64(slot)) % span)
    }

    public var description: String {
        minimumBytes == maximumBytes ? ByteSize.label(minimumBytes)
            : "\(ByteSize.label(minimumBytes))-\(ByteSize.label(maximumBytes))"
    }
}

/// A command-line value the bench cannot use; the message says what was expected.
public struct BenchUsageError: Error, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// SplitMix64 (Steele, Lea, Flood 2014): a hash for slot numbers and a small, fast
/// generator for the connections' choices. Not for anything secret.
public struct SplitMix64: Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Self.mix(state)
    }

    /// A uniform value in `0..<bound` (bound > 0); the modulo bias is negligible for the
    /// bounds used here.
    public mutating func next(below bound: Int) -> Int { Int(next() % UInt64(bound)) }

    public static func hash(_ value: UInt64) -> UInt64 { mix(value &+ 0x9E37_79B9_7F4A_7C15) }

    private static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
