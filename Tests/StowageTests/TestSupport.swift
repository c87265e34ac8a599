import Foundation
import Testing
import StowageChecksums
@testable import Stowage

/// A store on a fresh temporary data directory, removed afterwards. Small segments and
/// chunks so that multi-extent and multi-segment paths run with small objects.
func withTemporaryStore<R>(durability: Durability = .relaxed,
                           segmentCapacityBytes: UInt64 = 8 << 20,
                           chunkSizeBytes: UInt32 = 64 << 10,
                           _ body: (ObjectStore, String) async throws -> R) async throws -> R {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("stowage-test-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: directory) }
    defer { TestIndex.forget(directory) }
    let store = try openTestStore(directory, testOptions(durability, segmentCapacityBytes, chunkSizeBytes))
    defer { store.close() }
    return try await body(store, directory)
}

/// The index backend the engine suites run over: LMDB; with
/// `STOWAGE_TEST_INDEX=optimistic` the conflict-injecting `OptimisticIndex`; with
/// `STOWAGE_TEST_INDEX=etcd` a real etcd cluster (`STOWAGE_TEST_ETCD`: its endpoints,
/// comma-separated), each store under a key prefix of its own. Over both, blob ids come
/// from reserved ranges, as on cluster gateways. `make test` runs the
/// mutation suites all three ways (etcd in `make test-cluster`).
enum TestIndex {
    static let kind = ProcessInfo.processInfo.environment["STOWAGE_TEST_INDEX"] ?? "lmdb"
    static var optimistic: Bool { kind == "optimistic" }

    static func forget(_ directory: String) {
        if optimistic { OptimisticIndex.forget(directory) }
    }
}

/// Opens a store on `directory` over the test index backend.
func openTestStore(_ directory: String, _ options: StoreOptions = testOptions()) throws -> ObjectStore {
    switch TestIndex.kind {
    case "optimistic":
        return try ObjectStore(directory: directory, options: options, blobIDRanges: BlobIDRanges(rangeSize: 8)) {
            OptimisticIndex(directory: directory)
        }
    case "etcd":
        let endpoints = (ProcessInfo.processInfo.environment["STOWAGE_TEST_ETCD"] ?? "http://127.0.0.1:2379")
            .split(separator: ",").map(String.init)
        return try ObjectStore(directory: directory, options: options, blobIDRanges: BlobIDRanges(rangeSize: 8)) {
            EtcdIndex(client: EtcdClient(endpoints: endpoints), prefix: "test" + directory + "/", maxTxnOperations: 10_000)
        }
    default:
        return try ObjectStore(directory: directory, options: options)
    }
}

func testOptions(_ durability: Durability = .relaxed, _ segmentCapacityBytes: UInt64 = 8 << 20,
                 _ chunkSizeBytes: UInt32 = 64 << 10) -> StoreOptions {
    var options = StoreOptions()
    options.durability = durability
    options.segmentCapacityBytes = segmentCapacityBytes
    options.chunkSizeBytes = chunkSizeBytes
    options.reservationRunBytes = 1 << 20
    options.indexMapSizeBytes = 1 << 30
    options.minPartSizeBytes = 100_000
    options.masterKey = testMasterKey
    return options
}

/// Every test store's master key (SSE-S3, SSE-KMS).
let testMasterKey = MasterKey(bytes: [UInt8](repeating: 0x5A, count: 32))

/// Deterministic pseudo-random bytes (a xorshift stream), so failures reproduce.
func testBytes(_ count: Int, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) -> [UInt8] {
    var state = seed | 1
    var bytes = [UInt8](repeating: 0, count: count)
    var i = 0
    while i < count {
        state ^= state << 13; state ^= state >> 7; state ^= state << 17
        withUnsafeBytes(of: state) { word in
            for b in word where i < count { bytes[i] = b; i += 1 }
        }
    }
    return bytes
}

extension ObjectStore {
    @discardableResult
    func put(_ bucket: String, _ key: String, _ bytes: [UInt8], attributes: ObjectAttributes = ObjectAttributes(),
             conditions: WriteConditions = WriteConditions(), encryption: ServerSideEncryption? = nil) async throws -> ObjectInfo {
        var request = PutRequest(bucket: bucket, key: key, attributes: attributes, conditions: conditions)
        request.encryption = encryption
        return try await putObject(request, bytes: bytes)
    }

    func bytes(_ bucket: String, _ key: String, range: ByteRange? = nil) async throws -> [UInt8] {
        try await getObject(bucket: bucket, key: key, range: range).body.collect()
    }

    func keys(_ bucket: String, prefix: String = "") throws -> [String] {
        try listObjects(bucket: bucket, prefix: prefix).objects.map(\.key)
    }
}

/// Asserts that `body` throws a `StoreError` with `code` (and, if given, `condition`).
func expectStoreError(_ code: StoreError.Code, condition: String? = nil,
                      sourceLocation: SourceLocation = #_sourceLocation,
                      _ body: () async throws -> Void) async {
    do {
        try await body()
        Issue.record("expected \(code), but it succeeded", sourceLocation: sourceLocation)
    } catch let error as StoreError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        if let condition {
            #expect(error.condition == condition, "\(error)", sourceLocation: sourceLocation)
        }
    } catch {
        Issue.record("expected StoreError \(code), got \(error)", sourceLocation: sourceLocation)
    }
}

/// The MD5 of `bytes` as S3 writes an ETag, computed independently of the engine.
func md5Hex(_ bytes: [UInt8]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/md5sum")
    let input = Pipe(), output = Pipe()
    process.standardInput = input
    process.standardOutput = output
    try process.run()
    input.fileHandleForWriting.write(Data(bytes))
    try input.fileHandleForWriting.close()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data.prefix(32), as: UTF8.self)
}

/// Live bytes over every segment (I7).
func liveBytes(_ store: ObjectStore) throws -> UInt64 {
    try store.read { txn in try store.index.allSegments(txn).reduce(0) { $0 + $1.1.liveBytes } }
}

/// Size, modification time and XXH3 of every segment file.
func segmentSnapshot(_ directory: String) throws -> [String: String] {
    let segments = directory + "/segments"
    var result: [String: String] = [:]
    for name in try FileManager.default.contentsOfDirectory(atPath: segments) {
        let path = segments + "/" + name
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        result[name] = "\(attributes[.size]!) \(attributes[.modificationDate]!) \(data.withUnsafeBytes { XXH3.hash($0) })"
    }
    return result
}

/// Flips bits (`mask`) of one byte of a segment file, through the file (not the engine):
/// the page cache holds the damaged byte at once.
func flipByte(_ directory: String, segment: UInt64, at offset: UInt64, mask: UInt8 = 0x01) throws {
    let fd = open(segmentPath(directory, segment), O_RDWR)
    try #require(fd >= 0)
    defer { close(fd) }
    var byte: UInt8 = 0
    try #require(pread(fd, &byte, 1, off_t(offset)) == 1)
    byte ^= mask
    try #require(pwrite(fd, &byte, 1, off_t(offset)) == 1)
}
