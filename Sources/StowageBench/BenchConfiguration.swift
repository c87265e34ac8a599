import Foundation
import NIOCore

/// Everything a run needs, checked once before any connection opens.
public struct BenchConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var bucket: String
    /// Every key the bench writes starts with it (`bench/` unless told).
    public var keyPrefix: String
    public var accessKey: String
    public var secretKey: String
    public var region: String
    /// No Authorization at all: a plain HTTP server serving files (nginx), GET and HEAD only.
    public var unsigned: Bool
    /// SigV4 in the query string: one presigned URL per object and method, sent again for
    /// as long as it is valid (`presignedExpirySeconds`, re-signed after a quarter of it).
    public var presigned: Bool
    public var mix: OperationMix
    public var sizes: SizeDistribution
    public var objects: Int
    public var concurrency: Int
    public var durationSeconds: Double
    /// Measured operations in all; when set, the run ends after them, not after the duration.
    public var count: Int?
    public var warmupSeconds: Double
    public var rangeBytes: Int
    public var partBytes: Int
    public var prefixObjects: Int
    public var listMaxKeys: Int
    /// PUT every object (and the prefixes' objects) before the warm-up.
    public var setup: Bool
    public var createBucket: Bool
    public var threads: Int
    public var seed: UInt64

    /// The largest number of connections, objects and prefix objects: each is a socket or
    /// a PUT at set-up, and nothing here needs more.
    public static let maxConcurrency = 4096
    public static let maxObjects = 10_000_000
    public static let maxPrefixObjects = 1000
    /// The payload buffer holds the largest object plus this much, so that objects start
    /// at different offsets of it and a body served for the wrong key does not compare equal.
    public static let payloadWindowBytes = 4096
    /// What `--presigned` may run: requests with neither a query nor `x-amz-*` headers of
    /// their own, whose presigned URL stays the same from one request to the next.
    static let presignable: Set<BenchOperation> = [.put, .get, .getRange, .head, .delete]
    /// How long a presigned URL of the bench is valid: an hour, re-signed after 15 minutes.
    public static let presignedExpirySeconds = 3600

    public init(endpoint: String, bucket: String, keyPrefix: String = "bench/", accessKey: String, secretKey: String,
                region: String = "us-east-1", unsigned: Bool = false, presigned: Bool = false, mix: OperationMix,
                sizes: SizeDistribution, objects: Int, concurrency: Int, durationSeconds: Double, count: Int? = nil,
                warmupSeconds: Double, rangeBytes: Int = 4096, partBytes: Int = 5 << 20, prefixObjects: Int = 4,
                listMaxKeys: Int = 100, setup: Bool = true, createBucket: Bool = true, threads: Int = 0,
                seed: UInt64 = 1) throws(BenchUsageError) {
        guard let url = URL(string: endpoint), url.scheme == "http", let host = url.host, !host.isEmpty else {
            throw BenchUsageError("--endpoint must be http://HOST[:PORT] (HTTPS is not supported by the bench), not \"\(endpoint)\"")
        }
        guard (1...Self.maxConcurrency).contains(concurrency) else {
            throw BenchUsageError("--concurrency must be 1…\(Self.maxConcurrency)")
        }
        guard (1...Self.maxObjects).contains(objects) else { throw BenchUsageError("--objects must be 1…\(Self.maxObjects)") }
        guard (1...Self.maxPrefixObjects).contains(prefixObjects) else {
            throw BenchUsageError("--prefix-objects must be 1…\(Self.maxPrefixObjects)")
        }
        guard durationSeconds > 0 || count != nil, warmupSeconds >= 0 else {
            throw BenchUsageError("--duration must be above 0 (or give --count), --warmup 0 or more")
        }
        if let count, count < 1 { throw BenchUsageError("--count must be 1 or more") }
        guard rangeBytes >= 1, partBytes >= 1, listMaxKeys >= 1 else {
            throw BenchUsageError("--range-size, --part-size and --list-max-keys must be 1 or more")
        }
        guard !bucket.isEmpty, bucket.utf8.allSatisfy(Self.isPathSafe), keyPrefix.utf8.allSatisfy(Self.isPathSafe) else {
            throw BenchUsageError("--bucket and --key-prefix may hold only A-Z a-z 0-9 - _ . ~ and /")
        }
        if unsigned, let other = mix.operations.first(where: { $0 != .get && $0 != .head && $0 != .getRange }) {
            throw BenchUsageError("--unsigned serves files: get, get-range and head only, not \(other.rawValue)")
        }
        if presigned {
            guard !unsigned else { throw BenchUsageError("--presigned and --unsigned exclude each other") }
            if let other = mix.operations.first(where: { !Self.presignable.contains($0) }) {
                throw BenchUsageError("--presigned signs requests without a query or x-amz-* headers: "
                                      + "put, get, get-range, head and delete only, not \(other.rawValue)")
            }
        }
        self.host = host
        self.port = url.port ?? 80
        self.bucket = bucket
        self.keyPrefix = keyPrefix
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.region = region
        self.unsigned = unsigned
        self.presigned = presigned
        self.mix = mix
        self.sizes = sizes
        // Each connection owns the slots whose number modulo the concurrency is its own,
        // so that it knows whether each of its objects exists and under which name. A mix
        // that only reads may share fewer objects among more connections (many readers of
        // one large object: `--objects 1 --concurrency 64`).
        self.objects = mix.onlyReads ? objects : max(objects, concurrency)
        self.concurrency = concurrency
        self.durationSeconds = durationSeconds
        self.count = count
        self.warmupSeconds = warmupSeconds
        self.rangeBytes = rangeBytes
        self.partBytes = partBytes
        self.prefixObjects = prefixObjects
        self.listMaxKeys = listMaxKeys
        self.setup = setup && !unsigned
        self.createBucket = createBucket && !unsigned
        self.threads = threads > 0 ? threads : min(concurrency, System.coreCount)
        self.seed = seed
    }

    /// The connection whose slots connection `index` reads: itself, unless fewer objects
    /// than connections are shared by a mix that only reads.
    func homeConnection(_ index: Int) -> Int { index % min(objects, concurrency) }

    /// `Host` as sent (and signed).
    public var hostHeader: String { port == 80 ? host : "\(host):\(port)" }

    /// Whether the objects must exist before the run (and be PUT at set-up).
    var needsObjects: Bool { mix.operations.contains { $0.readsObjects } }

    static func isPathSafe(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"), UInt8(ascii: "/"): true
        default: false
        }
    }

    // MARK: Names of things

    /// Object slot `slot`'s key: renames move it between two names.
    public func objectKey(_ slot: Int, renamed: Bool = false) -> String {
        renamed ? "\(keyPrefix)obj-\(slot).moved" : "\(keyPrefix)obj-\(slot)"
    }

    public func copyKey(_ slot: Int) -> String { "\(keyPrefix)copy-\(slot)" }

    /// The prefix slot `slot`'s objects are under: prefix renames move them between two.
    public func prefix(_ slot: Int, moved: Bool) -> String { "\(keyPrefix)dir-\(slot)/\(moved ? "b" : "a")/" }

    /// The object slot behind prefix object `index` of prefix slot `slot`, for its bytes.
    func prefixObjectSlot(_ slot: Int, _ index: Int) -> Int { objects + slot * prefixObjects + index }
}

/// The bytes every object is made of: one buffer of pseudo-random bytes, made once; slot
/// `s`'s object is the `sizes.bytes(forSlot: s)` bytes at an offset that depends on `s`.
/// PUTs send slices of it (no copy), GETs are compared with it.
///
/// NIO slices a `ByteBuffer` without copying only where the slice starts in the first
/// 16 MiB of its storage (`getSlice` copies anything later). Multipart parts start further
/// in, so with `partBytes` each part's bytes also get a buffer of their own, copied once
/// here (`partWindows`), which every slot's part of that number slices: otherwise every
/// part sent would be copied into new memory first, costing the client most of a core
/// next to the server it measures.
public struct BenchPayload: Sendable {
    public let buffer: ByteBuffer
    let sizes: SizeDistribution
    let seed: UInt64
    /// Part `k`'s window: the payload from `k * partBytes`, `partBytes` plus the offset
    /// window long (empty without `partBytes`, or when objects fit one part).
    let partWindows: [ByteBuffer]

    public init(sizes: SizeDistribution, seed: UInt64, partBytes: Int? = nil) {
        self.sizes = sizes
        self.seed = seed
        let total = sizes.maximumBytes + BenchConfiguration.payloadWindowBytes
        var random = SplitMix64(seed: seed)
        var buffer = ByteBufferAllocator().buffer(capacity: total)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: total) { raw in
            var index = 0
            while index < total {
                var word = random.next()
                let chunk = min(8, total - index)
                withUnsafeBytes(of: &word) { raw.baseAddress!.advanced(by: index).copyMemory(from: $0.baseAddress!, byteCount: chunk) }
                index += chunk
            }
            return total
        }
        self.buffer = buffer
        var windows: [ByteBuffer] = []
        if let partBytes, partBytes < sizes.maximumBytes {
            for start in stride(from: 0, to: sizes.maximumBytes, by: partBytes) {
                let length = min(partBytes + BenchConfiguration.payloadWindowBytes, total - start)
                var window = ByteBufferAllocator().buffer(capacity: length)
                _ = buffer.withUnsafeReadableBytes { window.writeBytes(UnsafeRawBufferPointer(rebasing: $0[start..<start + length])) }
                windows.append(window)
            }
        }
        partWindows = windows
    }

    /// Where slot `slot`'s bytes start in `buffer`, and how many there are.
    public func extent(ofSlot slot: Int) -> (offset: Int, length: Int) {
        let offset = Int(SplitMix64.hash(UInt64(slot) ^ seed) % UInt64(BenchConfiguration.payloadWindowBytes))
        return (offset, sizes.bytes(forSlot: slot))
    }

    public func body(ofSlot slot: Int) -> ByteBuffer {
        let (offset, length) = extent(ofSlot: slot)
        return buffer.getSlice(at: offset, length: length)!
    }

    /// Part `index` (from 0) of slot `slot`'s object cut in parts of `partBytes`: a slice of
    /// the part's window (no copy). Without windows (the payload was made without
    /// `partBytes`, or its objects fit one part) it is a slice of the whole payload, as a
    /// whole object's body is (copied by NIO where it starts past the first 16 MiB).
    public func part(ofSlot slot: Int, index: Int, partBytes: Int) -> ByteBuffer {
        let (offset, length) = extent(ofSlot: slot)
        let start = index * partBytes
        let count = min(partBytes, length - start)
        guard index < partWindows.count else { return buffer.getSlice(at: offset + start, length: count)! }
        // A window is `partBytes` plus the offset window long (or reaches the payload's end),
        // and `offset + start + count <= offset + length` is inside the payload: it holds the part.
        return partWindows[index].getSlice(at: offset, length: count)!
    }
}
