import StowageChecksums
import Synchronization

/// Anything that can lend its bytes: `[UInt8]`, and (in the server) NIO's `ByteBuffer`.
public protocol ByteChunk: Sendable {
    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R
}

extension Array: ByteChunk where Element == UInt8 {}

/// Where a multipart part goes.
public struct PartTarget: Sendable, Equatable {
    public var uploadID: String
    public var partNumber: Int
    public init(uploadID: String, partNumber: Int) {
        self.uploadID = uploadID
        self.partNumber = partNumber
    }
}

/// What a PUT (or an UploadPart) asks for besides its bytes.
public struct PutRequest: Sendable {
    public var bucket: String
    public var key: String
    public var attributes: ObjectAttributes
    public var conditions: WriteConditions
    /// The body's length when known (Content-Length): space is reserved in one piece.
    public var sizeHint: UInt64?
    /// `Content-MD5`, decoded: the body must hash to it (`BadDigest` otherwise).
    public var expectedMD5: [UInt8]?
    /// S3 wire checksums to compute in the same pass and store with the object.
    public var checksumAlgorithms: [S3ChecksumAlgorithm]
    /// Checksum values the client sent up front (headers); trailers come to `finish`.
    public var expectedChecksums: [S3ChecksumAlgorithm: String]
    /// Set for UploadPart: the bytes become a part of this upload, not an object.
    public var part: PartTarget?
    /// Object Lock headers: a retention (mode with its date) and the legal hold. Nil: the
    /// bucket's default retention, if any.
    public var lock: ObjectLock?
    /// `x-amz-tagging`: the new version's tags.
    public var tags: [ObjectTag] = []
    /// `x-amz-acl` / `x-amz-grant-*`: the new version's ACL (nil: private, owned by the
    /// bucket's owner). Refused when the bucket's ownership disables ACLs.
    public var acl: AccessControlList?
    /// Server-side encryption asked for (nil: the bucket's default, if any). Ignored for a
    /// part, which is encrypted as its upload is.
    public var encryption: ServerSideEncryption?
    /// SSE-C: the customer's key (for `encryption == .customer`, and for every part of an
    /// SSE-C upload).
    public var customerKey: CustomerKey?

    public init(bucket: String, key: String, attributes: ObjectAttributes = ObjectAttributes(),
                conditions: WriteConditions = WriteConditions(), sizeHint: UInt64? = nil,
                expectedMD5: [UInt8]? = nil, checksumAlgorithms: [S3ChecksumAlgorithm] = [],
                expectedChecksums: [S3ChecksumAlgorithm: String] = [:]) {
        self.checksumAlgorithms = checksumAlgorithms
        self.expectedChecksums = expectedChecksums
        self.bucket = bucket
        self.key = key
        self.attributes = attributes
        self.conditions = conditions
        self.sizeHint = sizeHint
        self.expectedMD5 = expectedMD5
    }
}

/// Streams one object's bytes into the blob backend (the blob seam): fills a chunk-sized
/// staging buffer, and for each full chunk feeds the MD5 (the ETag) and the S3 checksums,
/// writes it into reserved space and computes its XXH3. Up to three staging buffers
/// (`stagingDepth`; one when the body fits a chunk). A chunk handed out goes to two lanes,
/// each a job on a Dispatch thread that takes its lane's chunks one after the other, in
/// order, for as long as there are any: the *hash* lane (MD5 and checksums of the bytes
/// the client sent) and the *store* lane (placement, encryption, the write, XXH3 of the
/// stored bytes). Neither waits for the other; a buffer comes free when both are done
/// with it, and the caller meanwhile fills the next. Memory is three chunks, whatever the
/// object's size.
///
/// `@unchecked Sendable`: one task drives a writer at a time (write… then finish or
/// abort). The hash lane alone touches `md5` and `checksummers`, the store lane alone the
/// reservation and `extents`, each one job at a time (`lanes` says which runs), and the
/// caller reads them only once no chunk is in flight. A buffer in flight is not touched by
/// the caller until both lanes are done with it.
public final class ObjectWriter: @unchecked Sendable {
    private let store: ObjectStore
    public let request: PutRequest
    private let chunkBytes: Int
    private let buffers: [UnsafeMutableRawBufferPointer]
    /// The buffer being filled.
    private var current = 0
    private var staging: UnsafeMutableRawBufferPointer { buffers[current] }
    private var stagedBytes = 0
    /// The chunks handed out, the lanes' queues, and the caller waiting for a buffer.
    private let lanes: Mutex<LaneState>
    private var md5 = MD5Digest()
    private var checksummers: [S3Checksummer]
    private var writtenBytes: UInt64 = 0
    private var extents: [Extent] = []
    private let blobs: any BlobBackend
    private var reservation: BlobSpace?
    private var reservationUsedBytes: UInt64 = 0
    /// One entry per reservation taken: its container stays pinned against reclamation
    /// until this writer's commit is answered or it is abandoned.
    private var pinnedContainers: [UInt64] = []
    private var done = false
    /// Whether the body was hashed and written on the caller's thread (tests).
    private(set) var wroteOnCallersThread = false
    /// Encrypted blobs: the blob's cipher and its sealed data key (BlobRecord v2).
    private let cipher: BlobCipher?
    private let dataKey: SealedDataKey?

    init(store: ObjectStore, request: PutRequest, encryption: (BlobCipher, SealedDataKey)? = nil) {
        self.store = store
        self.blobs = store.blobs
        self.request = request
        cipher = encryption?.0
        dataKey = encryption?.1
        chunkBytes = Int(store.options.chunkSizeBytes)
        let algorithms = Set(request.checksumAlgorithms).union(request.expectedChecksums.keys)
        checksummers = S3ChecksumAlgorithm.allCases.filter(algorithms.contains).map(S3Checksummer.init)
        let stagingBytes = Int(min(UInt64(chunkBytes), max(request.sizeHint ?? UInt64(chunkBytes), 1)))
        // One buffer for a body that fits one chunk; otherwise `stagingDepth`, so that the
        // caller fills ahead while the chunks before are hashed and written.
        let fitsOneChunk = request.sizeHint.map { $0 <= UInt64(store.options.chunkSizeBytes) } ?? false
        let depth = fitsOneChunk ? 1 : Self.stagingDepth
        buffers = (0..<depth).map { _ in .allocate(byteCount: stagingBytes, alignment: 4096) }
        lanes = Mutex(LaneState(buffers: depth))
    }

    // A lane's job holds the writer, so deinit never frees a buffer in use.
    deinit {
        for buffer in buffers { buffer.deallocate() }
        if !done { releaseReservationTail() }
        unpinContainers()
    }

    /// Appends bytes to the object.
    public func write(_ chunk: some ByteChunk) async throws(StoreError) {
        precondition(!done, "write after finish or abort")
        var consumed = 0
        while true {
            let total = chunk.withUnsafeBytes { $0.count }
            if consumed == total { return }
            consumed += chunk.withUnsafeBytes { bytes in stage(UnsafeRawBufferPointer(rebasing: bytes[consumed...])) }
            if stagedBytes == staging.count {
                try await flushStaging()
            }
        }
    }

    /// Copies as much of `bytes` as fits into the staging buffer.
    private func stage(_ bytes: UnsafeRawBufferPointer) -> Int {
        let n = min(bytes.count, staging.count - stagedBytes)
        if n > 0 {
            UnsafeMutableRawBufferPointer(rebasing: staging[stagedBytes..<stagedBytes + n])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[..<n]))
            stagedBytes += n
        }
        return n
    }

    /// Hands the staged bytes to the lanes as one chunk, switches to the next buffer, and
    /// waits for it to come free (the oldest chunk in flight, as buffers go round).
    /// - Parameter ending: the body ended (`finish`): these are its last bytes.
    private func flushStaging(ending: Bool = false) async throws(StoreError) {
        guard stagedBytes > 0 else { return }
        if UInt64(stagedBytes) + writtenBytes > Limits.maxPutObjectBytes {
            throw StoreError(.entityTooLarge, "Your proposed upload exceeds the maximum allowed object size")
        }
        // Decided here, on the caller's side, from the bytes written *before* this chunk:
        // the lanes must not read `writtenBytes`, which the caller moves on.
        let chunk = StagedChunk(buffer: current, count: stagedBytes, offset: writtenBytes,
                                wanted: reservationWanted(for: UInt64(stagedBytes)))
        writtenBytes += UInt64(chunk.count)
        stagedBytes = 0
        current = (current + 1) % buffers.count
        if chunk.offset == 0, chunk.count <= Self.serialChunkBytes {
            // The first chunk, and small: both halves take microseconds. If it is the whole
            // body, and the backend writes it into the page cache and has room for it
            // without creating a container, they run here, on the request's thread: the hop
            // to a Dispatch thread and back cost more than the work (server CPU per strict
            // 4 KiB PUT at 64 connections: -8 %, with the group commit's typed answers).
            // Otherwise they run in one job, one after the other, rather than wake two threads.
            let whole = ending || request.sizeHint == UInt64(chunk.count)
            var inline = false
            if whole, blobs.smallWritesReturnAtOnce, reservation == nil,
               let space = blobs.reserveWithoutWaiting(maxLength: chunk.wanted) {
                hold(space)
                inline = true
            }
            wroteOnCallersThread = inline
            do {
                if inline {
                    hash(chunk, sharingLanes: false)
                    try store(chunk)
                } else {
                    try await BlockingIO.run(store.blockingLane) { [self] in
                        hash(chunk, sharingLanes: false)
                        try self.store(chunk)
                    }
                }
            } catch {
                throw StoreError.wrapping(error, "writing object data")
            }
            return
        }
        handOut(chunk)
        await waitUntilFree(current)
        try checkLanes()
    }

    /// Staging buffers of a body larger than a chunk: one filled while two wait or are
    /// processed. Two kept MD5 idle while the caller, on the event loop, refilled the
    /// buffer from the socket (a 1 GiB PUT hashed at ~half of one core's MD5 rate).
    static let stagingDepth = 3

    /// The whole body in one chunk up to this size: hashed and stored in one job.
    static let serialChunkBytes = 64 << 10

    /// Queues the chunk on both lanes, starting a lane's job if none runs.
    private func handOut(_ chunk: StagedChunk) {
        let idle = lanes.withLock { s in
            s.busy[chunk.buffer] = LaneKind.allCases.count
            return LaneKind.allCases.filter { s.enqueue(chunk, on: $0) }
        }
        for kind in idle {
            // MD5 is computing only: a Dispatch thread, whatever the store's lane.
            launch(kind, on: kind == .hash ? .disk : store.blockingLane)
        }
    }

    /// Starts a job that drains the lane's queue. A job refused (the network lane's threads
    /// shut down) fails what it would have done, so that no one waits for it.
    private func launch(_ kind: LaneKind, on lane: BlockingIO.Lane) {
        Task { [self] in
            do {
                try await BlockingIO.run(lane) { [self] in drain(kind) }
            } catch {
                fail(error)
                drain(kind, skipping: true)
            }
        }
    }

    /// Takes the lane's chunks in order until its queue is empty; the lane is then idle
    /// until `handOut` starts it again (decided under the same lock, so no chunk is left).
    private func drain(_ kind: LaneKind, skipping: Bool = false) {
        while let (chunk, failed) = lanes.withLock({ $0.next(on: kind) }) {
            switch kind {
            case .hash:
                if !skipping { hash(chunk, sharingLanes: true) }
            case .store:
                // After a failure the rest is not written: the upload is lost anyway.
                if !skipping && !failed {
                    do { try store(chunk) } catch { fail(error) }
                }
            }
            release(chunk.buffer)
        }
    }

    /// The hash lane's part: MD5 and the S3 checksums, of the bytes the client sent.
    /// - Parameter sharingLanes: MD5 in `MD5Lanes`, beside other uploads' chunks (the hash
    ///   lane's Dispatch thread waits for it); false on the request's own thread, which
    ///   must not block, and for a small first chunk, which gains nothing.
    private func hash(_ chunk: StagedChunk, sharingLanes: Bool) {
        let bytes = UnsafeRawBufferPointer(rebasing: buffers[chunk.buffer][..<chunk.count])
        md5.update(bytes, sharingLanes: sharingLanes ? MD5Lanes.shared : nil)
        for i in checksummers.indices { checksummers[i].update(bytes) }
    }

    /// The store lane's part: reserve (may create a segment, which blocks), encrypt if the
    /// blob is, write, and record the XXH3 of the stored bytes.
    private func store(_ chunk: StagedChunk) throws {
        let target = try place(UInt64(chunk.count), wanted: chunk.wanted)
        let bytes = UnsafeRawBufferPointer(rebasing: buffers[chunk.buffer][..<chunk.count])
        let hash: UInt64
        if let cipher {
            hash = try cipher.apply(bytes, at: chunk.offset).withUnsafeBytes { sealed in
                try blobs.write(sealed, container: target.container, at: target.offset)
                return XXH3.hash(sealed)
            }
        } else {
            try blobs.write(bytes, container: target.container, at: target.offset)
            hash = XXH3.hash(bytes)
        }
        record(chunkHash: hash, segmentID: target.container, offset: target.offset, length: UInt64(chunk.count))
    }

    /// The first failure of a lane; the caller throws it at its next wait.
    private func fail(_ error: Error) {
        lanes.withLock { s in if s.error == nil { s.error = error } }
    }

    /// A lane is done with the buffer; wakes the caller if what it waits for is free.
    private func release(_ buffer: Int) {
        let waiter = lanes.withLock { s -> CheckedContinuation<Void, Never>? in
            s.busy[buffer] -= 1
            guard let waiting = s.waiter, s.isFree(waiting.buffer) else { return nil }
            s.waiter = nil
            return waiting.continuation
        }
        waiter?.resume()
    }

    /// Waits until both lanes are done with `buffer` (nil: with every buffer).
    private func waitUntilFree(_ buffer: Int?) async {
        if lanes.withLock({ $0.isFree(buffer) }) { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let free = lanes.withLock { s -> Bool in
                if s.isFree(buffer) { return true }
                s.waiter = (buffer, continuation)
                return false
            }
            if free { continuation.resume() }
        }
    }

    /// Throws the lanes' first failure.
    private func checkLanes() throws(StoreError) {
        if let error = lanes.withLock({ $0.error }) {
            throw StoreError.wrapping(error, "writing object data")
        }
    }

    /// How much to reserve if the chunk of `length` bytes starting at `writtenBytes` needs
    /// new space: the rest of the announced size, or a run when the size is unknown.
    private func reservationWanted(for length: UInt64) -> UInt64 {
        if let hint = request.sizeHint, hint > writtenBytes { return max(hint - writtenBytes, length) }
        let chunk = UInt64(chunkBytes)
        return max(store.options.reservationRunBytes / chunk * chunk, length)
    }

    /// Where the next chunk of `length` bytes goes: the current reservation, or a new one
    /// of `wanted` bytes.
    private func place(_ length: UInt64, wanted: UInt64) throws(StoreError) -> (container: UInt64, offset: UInt64) {
        if let reservation, reservation.lengthBytes - reservationUsedBytes >= length {
            defer { reservationUsedBytes += length }
            return (reservation.container, reservation.offsetBytes + reservationUsedBytes)
        }
        releaseReservationTail()
        let chunk = UInt64(chunkBytes)
        do {
            let granted = try blobs.reserve(maxLength: max(wanted, length), chunkBytes: chunk)
            hold(granted)
            reservationUsedBytes = length
            return (granted.container, granted.offsetBytes)
        } catch {
            throw StoreError.wrapping(error, "reserving space")
        }
    }

    /// Makes `space` the current reservation; its container stays pinned until the writer
    /// is done (one pin per reservation taken).
    private func hold(_ space: BlobSpace) {
        reservation = space
        pinnedContainers.append(space.container)
    }

    /// Extends the last extent when the chunk continues it, or starts a new one.
    private func record(chunkHash: UInt64, segmentID: UInt64, offset: UInt64, length: UInt64) {
        if var last = extents.last, last.segmentID == segmentID,
           last.offsetBytes + last.lengthBytes == offset,
           last.lengthBytes % UInt64(chunkBytes) == 0 {
            last.lengthBytes += length
            last.chunkHashes.append(chunkHash)
            extents[extents.count - 1] = last
        } else {
            extents.append(Extent(segmentID: segmentID, offsetBytes: offset, lengthBytes: length, chunkHashes: [chunkHash]))
        }
    }

    private func releaseReservationTail() {
        guard let reservation else { return }
        blobs.giveBack(BlobSpace(container: reservation.container,
                                 offsetBytes: reservation.offsetBytes + reservationUsedBytes,
                                 lengthBytes: reservation.lengthBytes - reservationUsedBytes))
        self.reservation = nil
        reservationUsedBytes = 0
    }

    /// Ends the body and commits the object (after the data is synced, I3). Returns what
    /// HEAD will answer.
    /// - Parameter trailingChecksums: checksum values that arrived after the body (aws-chunked
    ///   trailers); they are verified like the ones sent up front.
    public func finish(trailingChecksums: [S3ChecksumAlgorithm: String] = [:]) async throws(StoreError) -> ObjectInfo {
        precondition(!done, "finish twice")
        defer { unpinContainers() }
        try await flushStaging(ending: true)
        await waitUntilFree(nil)
        try checkLanes()
        done = true
        releaseReservationTail()
        let digest = md5.finalize()
        if let expected = request.expectedMD5, expected != digest {
            throw StoreError(.badDigest, "The Content-MD5 you specified did not match what we received")
        }
        if let hint = request.sizeHint, hint != writtenBytes {
            throw StoreError(.incompleteBody, "The body had \(writtenBytes) bytes; \(hint) were announced")
        }
        var attributes = request.attributes
        attributes.checksums = try verifiedChecksums(request.expectedChecksums.merging(trailingChecksums) { $1 })
        var blob = BlobRecord(referenceCount: 1, size: writtenBytes,
                              chunkSizeBytes: UInt32(chunkBytes), extents: extents)
        blob.dataKey = dataKey
        if let part = request.part {
            let record = PartRecord(size: writtenBytes, etag: digest.hexString,
                                    lastModifiedMilliseconds: ObjectStore.nowMilliseconds(), pieces: [], checksum: [])
            return try await store.commitPart(request, part, record: record, blob: blob, checksums: attributes.checksums)
        }
        let object = ObjectRecord(blobID: 0, size: writtenBytes, etag: digest.hexString,
                                  lastModifiedMilliseconds: ObjectStore.nowMilliseconds(), partCount: 0,
                                  attributes: attributes)
        return try await store.commitPut(request, object: object, blob: blob)
    }

    /// The computed S3 checksums (wire name, base64), each checked against the value the
    /// client sent, if it sent one. A trailer for an algorithm not computed is a mismatch.
    private func verifiedChecksums(_ expected: [S3ChecksumAlgorithm: String]) throws(StoreError) -> [(algorithm: String, value: String)] {
        var computed: [(algorithm: String, value: String)] = []
        for checksummer in checksummers {
            let value = checksummer.finalizeBase64()
            if let sent = expected[checksummer.algorithm], sent != value {
                throw StoreError(.badDigest, "The \(checksummer.algorithm.wireName) you specified did not match the calculated checksum.")
            }
            computed.append((checksummer.algorithm.wireName, value))
        }
        for algorithm in expected.keys where !checksummers.contains(where: { $0.algorithm == algorithm }) {
            throw StoreError(.invalidRequest, "The \(algorithm.wireName) checksum was sent but not declared before the body")
        }
        return computed
    }

    /// Abandons the upload: nothing becomes visible; the space written is dead once the
    /// segment's high-water mark passes it, or reused after a restart.
    /// Waits for the chunks in flight first: one may still be placing itself in the
    /// reservation whose tail this hands back.
    public func abort() async {
        guard !done else { return }
        done = true
        await waitUntilFree(nil)
        releaseReservationTail()
        unpinContainers()
    }

    private func unpinContainers() {
        for id in pinnedContainers { blobs.unpin(id) }
        pinnedContainers = []
    }
}

extension ObjectStore {
    /// Starts a PUT. Validation and the early checks (bucket exists; `If-None-Match: *`
    /// against an existing key) run before any byte is written, so a doomed upload does
    /// not stream its body first; the conditions are checked again at commit.
    public func beginPut(_ request: PutRequest) throws(StoreError) -> ObjectWriter {
        try Validation.checkBucketName(request.bucket)
        try Validation.checkKey(request.key)
        try Validation.checkUserMetadata(request.attributes.userMetadata)
        try Validation.checkTags(request.tags, limit: Limits.maxObjectTags)
        try request.conditions.validate()
        if let hint = request.sizeHint, hint > Limits.maxPutObjectBytes {
            throw StoreError(.entityTooLarge, "Your proposed upload exceeds the maximum allowed object size")
        }
        var request = request
        let encryption = try read { txn -> (BlobCipher, SealedDataKey)? in
            try index.requireBucket(txn, request.bucket)
            var encryption = request.encryption
            if let part = request.part {
                let upload = try requireUpload(txn, part.uploadID, bucket: request.bucket, key: request.key)
                try Self.checkPartNumber(part.partNumber)
                // Every part carries the upload's checksum; Complete combines them.
                try Self.addUploadChecksum(upload, to: &request)
                // Every part is encrypted as its upload (an SSE-C upload: under the same key).
                encryption = ServerSideEncryption(stored: upload.attributes.serverSideEncryption)
                try Self.checkPartKey(encryption, request.customerKey)
                request.attributes.serverSideEncryption = encryption?.stored
            } else {
                try request.conditions.check(existing: try index.object(txn, bucket: request.bucket, key: request.key))
                if encryption == nil { encryption = try defaultEncryption(txn, request.bucket)?.encryption }
                request.attributes.serverSideEncryption = encryption?.stored
            }
            guard let encryption else { return nil }
            return try newDataKey(txn, encryption, customerKey: request.customerKey)
        }
        return ObjectWriter(store: self, request: request, encryption: encryption)
    }

    /// PutObject from any stream of byte chunks.
    public func putObject<Body: AsyncSequence>(_ request: PutRequest, body: Body) async throws -> ObjectInfo
    where Body.Element: ByteChunk {
        let writer = try beginPut(request)
        do {
            for try await chunk in body { try await writer.write(chunk) }
            return try await writer.finish()
        } catch {
            await writer.abort()
            throw error
        }
    }

    /// PutObject of bytes already in memory.
    public func putObject(_ request: PutRequest, bytes: [UInt8]) async throws(StoreError) -> ObjectInfo {
        var request = request
        request.sizeHint = request.sizeHint ?? UInt64(bytes.count)
        let writer = try beginPut(request)
        do {
            try await writer.write(bytes)
            return try await writer.finish()
        } catch {
            await writer.abort()
            throw error
        }
    }

    func commitPut(_ request: PutRequest, object: ObjectRecord, blob: BlobRecord) async throws(StoreError) -> ObjectInfo {
        let reserved = try await reservedBlobID()
        let versionID = VersionID.make()
        let now = object.lastModifiedMilliseconds
        return try await mutate(durable: blob.containers) { [index, self] txn in
            let bucket = try index.bucketRecord(txn, request.bucket)
            let existing = try index.object(txn, bucket: request.bucket, key: request.key)
            try request.conditions.check(existing: existing)
            var record = object
            record.blobID = try index.insertBlob(txn, blob, reserved: reserved)
            record.versionID = versionID
            record.tags = request.tags
            record.acl = try objectACLForWrite(txn, bucket: request.bucket, request.acl)
            return try index.writeVersion(txn, bucket: request.bucket, key: request.key, in: bucket, existing: existing,
                                          with: record, lock: request.lock, now: now)
                .info(key: request.key, versioning: bucket.versioning)
        }
    }
}

/// A staged chunk handed to the lanes: its buffer, its length, where it starts in the
/// body, and the reservation to ask for if it needs new space.
private struct StagedChunk: Sendable {
    var buffer: Int
    var count: Int
    var offset: UInt64
    var wanted: UInt64
}

/// The two lanes a chunk of a larger body goes through, apart: MD5 and the S3 checksums
/// of what the client sent (`hash`), and placing, encrypting, writing and XXH3 (`store`).
private enum LaneKind: Int, CaseIterable { case hash, store }

/// `ObjectWriter`'s lanes, under its lock.
private struct LaneState {
    /// Per lane (by `LaneKind.rawValue`): its chunks in order, and whether its job runs
    /// (it takes what is queued before it stops).
    private var queues: [[StagedChunk]] = Array(repeating: [], count: LaneKind.allCases.count)
    private var running = Array(repeating: false, count: LaneKind.allCases.count)
    /// Per buffer, the lanes not yet done with it (0: free to fill).
    var busy: [Int]
    /// The first failure of either lane.
    var error: Error?
    /// The caller, waiting for a buffer (nil: for all of them).
    var waiter: (buffer: Int?, continuation: CheckedContinuation<Void, Never>)?

    init(buffers: Int) { busy = Array(repeating: 0, count: buffers) }

    /// Queues `chunk` on the lane; true when the lane was idle, so its job must be started.
    mutating func enqueue(_ chunk: StagedChunk, on lane: LaneKind) -> Bool {
        queues[lane.rawValue].append(chunk)
        defer { running[lane.rawValue] = true }
        return !running[lane.rawValue]
    }

    /// The lane's next chunk, and whether a failure is recorded (read under the same lock);
    /// nil when its queue is empty, and the lane is then idle.
    mutating func next(on lane: LaneKind) -> (chunk: StagedChunk, failed: Bool)? {
        guard !queues[lane.rawValue].isEmpty else {
            running[lane.rawValue] = false
            return nil
        }
        return (queues[lane.rawValue].removeFirst(), error != nil)
    }

    func isFree(_ buffer: Int?) -> Bool {
        guard let buffer else { return busy.allSatisfy { $0 == 0 } }
        return busy[buffer] == 0
    }
}
