import Foundation

/// What one measured operation is. A multipart upload is one operation (create, the
/// parts, complete); so is a prefix rename.
public enum BenchOperation: String, Sendable, CaseIterable, Comparable {
    case put
    case get
    case getRange = "get-range"
    case head
    case delete
    case list
    case copy
    case multipart
    case renameObject = "rename-object"
    case renamePrefix = "rename-prefix"

    public static func < (a: Self, b: Self) -> Bool { a.index < b.index }

    /// Its place in `allCases`, without building that array on every request.
    var index: Int {
        switch self {
        case .put: 0
        case .get: 1
        case .getRange: 2
        case .head: 3
        case .delete: 4
        case .list: 5
        case .copy: 6
        case .multipart: 7
        case .renameObject: 8
        case .renamePrefix: 9
        }
    }

    /// Operations that need the objects to exist before the run starts.
    var readsObjects: Bool {
        switch self {
        case .put, .multipart, .renamePrefix: false
        case .get, .getRange, .head, .delete, .list, .copy, .renameObject: true
        }
    }
}

/// The operations of a run with their weights: `get` or `get=70,put=20,delete=10`.
public struct OperationMix: Sendable, Equatable {
    public let weights: [(operation: BenchOperation, weight: Int)]
    private let cumulative: [Int]

    public static func == (a: Self, b: Self) -> Bool {
        a.weights.map(\.operation) == b.weights.map(\.operation) && a.weights.map(\.weight) == b.weights.map(\.weight)
    }

    public var total: Int { cumulative.last ?? 0 }
    public var operations: [BenchOperation] { weights.map(\.operation) }

    public init(parsing text: String) throws(BenchUsageError) {
        var weights: [(operation: BenchOperation, weight: Int)] = []
        for item in text.split(separator: ",") {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = parts[0].trimmingCharacters(in: .whitespaces)
            guard let operation = BenchOperation(rawValue: name) else {
                throw BenchUsageError("unknown operation \"\(name)\" (one of \(BenchOperation.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            var weight = 1
            if parts.count == 2 {
                guard let value = Int(parts[1].trimmingCharacters(in: .whitespaces)), value >= 0 else {
                    throw BenchUsageError("weight of \(name) must be a whole number ≥ 0, not \"\(parts[1])\"")
                }
                weight = value
            }
            guard !weights.contains(where: { $0.operation == operation }) else {
                throw BenchUsageError("\(name) is given twice")
            }
            if weight > 0 { weights.append((operation, weight)) }
        }
        guard !weights.isEmpty else { throw BenchUsageError("no operation with a weight above 0 in \"\(text)\"") }
        self.weights = weights
        var running = 0
        cumulative = weights.map { running += $0.weight; return running }
    }

    /// The operation for a uniform draw in `0..<total`.
    public func operation(forDraw draw: Int) -> BenchOperation {
        var low = 0, high = cumulative.count - 1
        while low < high {
            let middle = (low + high) / 2
            if draw < cumulative[middle] { high = middle } else { low = middle + 1 }
        }
        return weights[low].operation
    }

    public func contains(_ operation: BenchOperation) -> Bool { weights.contains { $0.operation == operation } }

    /// Whether every operation only reads objects (get, get-range, head): then connections
    /// may share them, and `--objects` may be below `--concurrency`.
    public var onlyReads: Bool { operations.allSatisfy { $0 == .get || $0 == .getRange || $0 == .head } }
}
