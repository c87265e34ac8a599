import NIOCore
import Testing
@testable import StowageBench

/// The command line's sizes and weights: what is accepted, what is refused.
@Suite struct BenchParsingTests {
    @Test(arguments: [("4096", 4096), ("4KiB", 4096), ("4k", 4096), ("1MiB", 1 << 20), ("64MB", 64_000_000),
                      ("1GiB", 1 << 30), ("0", 0), (" 12 B ", 12)])
    func sizes(text: String, bytes: Int) throws {
        #expect(try ByteSize.parse(text) == bytes)
    }

    @Test(arguments: ["", "KiB", "4XB", "-1", "4.5KiB", "99999999999999999999GiB", "9999999999999GiB"])
    func badSizes(text: String) {
        #expect(throws: BenchUsageError.self) { try ByteSize.parse(text) }
    }

    @Test func fixedDistribution() throws {
        let sizes = try SizeDistribution(parsing: "4KiB")
        #expect(sizes == SizeDistribution(minimumBytes: 4096, maximumBytes: 4096))
        #expect((0..<100).allSatisfy { sizes.bytes(forSlot: $0) == 4096 })
        #expect(sizes.description == "4 KiB")
    }

    /// A range: every slot's size within it, the same each time, and spread over it.
    @Test func rangeDistribution() throws {
        let sizes = try SizeDistribution(parsing: "4KiB-1MiB")
        #expect(sizes == SizeDistribution(minimumBytes: 4096, maximumBytes: 1 << 20))
        let drawn = (0..<1000).map { sizes.bytes(forSlot: $0) }
        #expect(drawn.allSatisfy { (4096...(1 << 20)).contains($0) })
        #expect(drawn == (0..<1000).map { sizes.bytes(forSlot: $0) })
        #expect(drawn.min()! < 100_000 && drawn.max()! > 900_000)
        #expect(sizes.description == "4 KiB-1 MiB")
    }

    @Test(arguments: ["1MiB-4KiB", "1-2-3", "4KiB-", "-4KiB"])
    func badDistributions(text: String) {
        #expect(throws: BenchUsageError.self) { try SizeDistribution(parsing: text) }
    }

    @Test func weights() throws {
        let mix = try OperationMix(parsing: "get=70,put=20,delete=10")
        #expect(mix.weights.map(\.operation) == [.get, .put, .delete])
        #expect(mix.total == 100)
        #expect(mix.operation(forDraw: 0) == .get)
        #expect(mix.operation(forDraw: 69) == .get)
        #expect(mix.operation(forDraw: 70) == .put)
        #expect(mix.operation(forDraw: 89) == .put)
        #expect(mix.operation(forDraw: 90) == .delete)
        #expect(mix.operation(forDraw: 99) == .delete)
    }

    @Test func singleOperationAndZeroWeights() throws {
        #expect(try OperationMix(parsing: "rename-object").weights.map(\.operation) == [.renameObject])
        let mix = try OperationMix(parsing: "get-range=3, head=0, multipart")
        #expect(mix.weights.map(\.operation) == [.getRange, .multipart])
        #expect(mix.total == 4)
    }

    @Test(arguments: ["", "fetch", "get=-1", "get=x", "get=1,get=2", "put=0"])
    func badWeights(text: String) {
        #expect(throws: BenchUsageError.self) { try OperationMix(parsing: text) }
    }

    @Test func unsignedServesFilesOnly() throws {
        #expect(throws: BenchUsageError.self) {
            try BenchConfiguration(endpoint: "http://127.0.0.1:8080", bucket: "b", accessKey: "", secretKey: "", unsigned: true,
                                   mix: try OperationMix(parsing: "get,put"), sizes: SizeDistribution(minimumBytes: 1, maximumBytes: 1),
                                   objects: 1, concurrency: 1, durationSeconds: 1, warmupSeconds: 0)
        }
        #expect(throws: BenchUsageError.self) {
            try BenchConfiguration(endpoint: "https://127.0.0.1:8443", bucket: "b", accessKey: "", secretKey: "",
                                   mix: try OperationMix(parsing: "get"), sizes: SizeDistribution(minimumBytes: 1, maximumBytes: 1),
                                   objects: 1, concurrency: 1, durationSeconds: 1, warmupSeconds: 0)
        }
    }

    /// Presigned URLs are made for requests with no query or x-amz-* headers of their own,
    /// and are no unsigned request.
    @Test(arguments: [("get=3,put,head,delete,get-range", true, false), ("get,list", false, false),
                      ("rename-object", false, false), ("multipart", false, false), ("get", false, true)])
    func presignedRunsPlainRequestsOnly(mix: String, accepted: Bool, unsigned: Bool) throws {
        let make = {
            try BenchConfiguration(endpoint: "http://127.0.0.1:8080", bucket: "b", accessKey: "k", secretKey: "s",
                                   unsigned: unsigned, presigned: true, mix: try OperationMix(parsing: mix),
                                   sizes: SizeDistribution(minimumBytes: 1, maximumBytes: 1), objects: 1, concurrency: 1,
                                   durationSeconds: 1, warmupSeconds: 0)
        }
        if accepted {
            #expect(try make().presigned)
        } else {
            #expect(throws: BenchUsageError.self) { try make() }
        }
    }

    static func configuration(mix: String, objects: Int, concurrency: Int) throws -> BenchConfiguration {
        try BenchConfiguration(
            endpoint: "http://127.0.0.1:9000", bucket: "b", accessKey: "k", secretKey: "s", mix: try OperationMix(parsing: mix),
            sizes: SizeDistribution(minimumBytes: 1, maximumBytes: 1), objects: objects, concurrency: concurrency,
            durationSeconds: 1, warmupSeconds: 0)
    }

    /// A mix that writes: every object slot belongs to exactly one connection, so there are
    /// at least as many as connections.
    @Test func objectsAtLeastConnectionsWhenWriting() throws {
        let configuration = try Self.configuration(mix: "get=9,put=1", objects: 3, concurrency: 8)
        #expect(configuration.objects == 8)
        #expect((0..<8).map(configuration.homeConnection) == Array(0..<8))
        #expect(configuration.hostHeader == "127.0.0.1:9000")
    }

    /// A mix that only reads shares fewer objects among more connections: connection i
    /// reads the objects of connection i mod objects, which alone PUTs them.
    @Test func readersShareObjects() throws {
        let configuration = try Self.configuration(mix: "get=3,get-range=1,head=1", objects: 3, concurrency: 8)
        #expect(configuration.objects == 3)
        #expect((0..<8).map(configuration.homeConnection) == [0, 1, 2, 0, 1, 2, 0, 1])
        #expect(try OperationMix(parsing: "get,head").onlyReads)
        #expect(try !OperationMix(parsing: "get,copy").onlyReads)
    }

    /// The payload: each slot's bytes are its own, at its own offset, and the same each time.
    @Test func payloadIsDeterministic() throws {
        let sizes = SizeDistribution(minimumBytes: 100, maximumBytes: 5000)
        let one = BenchPayload(sizes: sizes, seed: 7), two = BenchPayload(sizes: sizes, seed: 7)
        #expect(one.buffer == two.buffer)
        #expect(one.body(ofSlot: 3) == two.body(ofSlot: 3))
        #expect(one.body(ofSlot: 3) != one.body(ofSlot: 4))
        #expect(one.body(ofSlot: 3).readableBytes == sizes.bytes(forSlot: 3))
        #expect(BenchPayload(sizes: sizes, seed: 8).buffer != one.buffer)
    }

    /// Multipart parts, also those starting past NIO's 16 MiB slicing limit (served from the
    /// parts' own windows), are exactly the object's bytes at the part's place, the last
    /// one short; objects of varied sizes, and without windows the same bytes.
    @Test func partsAreTheObjectsBytes() throws {
        let sizes = SizeDistribution(minimumBytes: 30 << 20, maximumBytes: 41 << 20)
        let partBytes = 6 << 20
        let windowed = BenchPayload(sizes: sizes, seed: 9, partBytes: partBytes)
        let plain = BenchPayload(sizes: sizes, seed: 9)
        #expect(windowed.partWindows.count == 7 && plain.partWindows.isEmpty)
        for slot in 0..<4 {
            let whole = windowed.body(ofSlot: slot)
            var joined = ByteBuffer()
            var index = 0
            while joined.readableBytes < whole.readableBytes {
                let part = windowed.part(ofSlot: slot, index: index, partBytes: partBytes)
                #expect(part == plain.part(ofSlot: slot, index: index, partBytes: partBytes))
                #expect(part.readableBytes == min(partBytes, whole.readableBytes - index * partBytes))
                // Sliced from its window's storage, not copied (NIO copies a slice that would
                // start past 16 MiB into its buffer's storage).
                let partStart = part.withVeryUnsafeBytes { Int(bitPattern: $0.baseAddress) }
                let windowStart = windowed.partWindows[index].withVeryUnsafeBytes { Int(bitPattern: $0.baseAddress) }
                #expect((0..<BenchConfiguration.payloadWindowBytes).contains(partStart - windowStart))
                joined.writeImmutableBuffer(part)
                index += 1
            }
            #expect(joined == whole, "slot \(slot): \(index) parts")
        }
    }
}

/// The stats arrays are indexed by `BenchOperation.index`: it must be `allCases`' order.
@Test func operationIndexIsAllCasesOrder() {
    #expect(BenchOperation.allCases.map(\.index) == Array(BenchOperation.allCases.indices))
}
