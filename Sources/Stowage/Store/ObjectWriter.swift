import Dispatch
import StowageChecksums

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
/// staging buffer, and for each full chunk computes its XXH3, feeds the MD5 (the ETag),
/// and writes it into reserved space. Up to three staging buffers (`stagingDepth`; one
/// when the body fits a chunk): while the chunks handed out are hashed and written on a
/// Dispatch thread, one after the other — MD5 on one core, `pwrite` + XXH3 on the other —
/// the caller fills the next. Memory is three chunks, whatever the object's size.
///
/// `@unchecked Sendable`: one task drives a writer at a time (write… then finish or
/// abort); the chunks in flight are processed one at a time, in order, each after the one
/// before it is done, and a buffer in flight is not touched by the caller until its chunk
/// is done.
public final class ObjectWriter: @unchecked Sendable {
    private let store: ObjectStore
    public let request: PutRequest
    private let chunkBytes: Int
    private let buffers: [UnsafeMutableRawBufferPointer]
    /// The buffer being filled.
    private var current = 0
    private var staging: UnsafeMutableRawBufferPointer { buffers[current] }
    private var stagedBytes = 0
    /// The chunks handed out and not yet known done, oldest first; each task waits for the
    /// one before it, so chunks are hashed and written one at a time, in order.
    private var inFlight: [Task<Void, Error>] = []
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
    }

    // The in-flight task holds the writer, so deinit never frees a buffer in use.
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

    /// Hands the staged bytes to a Dispatch thread as one chunk, after the previous chunk
    /// is done, and switches to the other buffer.
    private func flushStaging() async throws(StoreError) {
        guard stagedBytes > 0 else { return }
        if UInt64(stagedBytes) + writtenBytes > Limits.maxPutObjectBytes {
            throw StoreError(.entityTooLarge, "Your proposed upload exceeds the maximum allowed object size")
        }
        let (index, count) = (current, stagedBytes)
        // Decided here, on the caller's side, from the bytes written *before* this chunk:
        // the chunk's task must not read `writtenBytes`, which the caller moves on.
        let wanted = reservationWanted(for: UInt64(count))
        let lane = store.blockingLane
        let offset = writtenBytes
        let previous = inFlight.last
        inFlight.append(Task { [self] in
            // In order: MD5 and the reservation's placement follow the body's order.
            try await previous?.value
            try await BlockingIO.run(lane) { try self.process(buffer: index, count: count, at: offset, wanted: wanted) }
        })
        current = (current + 1) % buffers.count
        writtenBytes += UInt64(count)
        stagedBytes = 0
        // The buffer to fill next must be free: wait for the chunks that hold every buffer.
        while inFlight.count >= buffers.count {
            try await waitForOldestChunk()
        }
    }

    /// Waits for the oldest chunk in flight; its failure is this call's.
    private func waitForOldestChunk() async throws(StoreError) {
        guard !inFlight.isEmpty else { return }
        let task = inFlight.removeFirst()
        do { try await task.value } catch { throw StoreError.wrapping(error, "writing object data") }
    }

    /// Waits for every chunk in flight.
    private func waitForChunks() async throws(StoreError) {
        while !inFlight.isEmpty { try await waitForOldestChunk() }
    }

    /// Staging buffers of a body larger than a chunk: one filled while two wait or are
    /// processed. Two kept MD5 idle while the caller, on the event loop, refilled the
    /// buffer from the socket (a 1 GiB PUT hashed at ~half of one core's MD5 rate).
    static let stagingDepth = 3

    /// On a Dispatch thread: reserve (may create a segment, which blocks), then MD5 and the
    /// S3 checksums on one core while the write and the XXH3 run on the other (a small
    /// chunk: both here, one after the other). An encrypted blob's chunk is encrypted on
    /// the write's core; MD5 and the checksums are of the plain bytes (what the client
    /// sent), the XXH3 of the stored ones.
    private func process(buffer index: Int, count: Int, at offset: UInt64, wanted: UInt64) throws {
        let target = try place(UInt64(count), wanted: wanted)
        let outcome = ChunkOutcome()
        // A small chunk's two halves take microseconds each: run them here, one after the
        // other, rather than wake a second thread and wait for it (two context switches
        // per small PUT, the larger part of its hashing time).
        let work: @Sendable (Int) -> Void = { [self] lane in
            let bytes = UnsafeRawBufferPointer(rebasing: buffers[index][..<count])
            if lane == 0 {
                md5.update(bytes)
                for i in checksummers.indices { checksummers[i].update(bytes) }
            } else {
                do {
                    if let cipher {
                        try cipher.apply(bytes, at: offset).withUnsafeBytes { sealed in
                            try blobs.write(sealed, container: target.container, at: target.offset)
                            outcome.hash = XXH3.hash(sealed)
                        }
                    } else {
                        try blobs.write(bytes, container: target.container, at: target.offset)
                        outcome.hash = XXH3.hash(bytes)
                    }
                } catch {
                    outcome.error = error
                }
            }
        }
        if count <= Self.serialChunkBytes {
            work(0)
            work(1)
        } else {
            DispatchQueue.concurrentPerform(iterations: 2, execute: work)
        }
        if let error = outcome.error { throw error }
        record(chunkHash: outcome.hash, segmentID: target.container, offset: target.offset, length: UInt64(count))
    }

    /// Chunks up to this size are hashed and written on one thread (`process`).
    static let serialChunkBytes = 64 << 10

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
            reservation = granted
            pinnedContainers.append(granted.container)
            reservationUsedBytes = length
            return (granted.container, granted.offsetBytes)
        } catch {
            throw StoreError.wrapping(error, "reserving space")
        }
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
        try await flushStaging()
        try await waitForChunks()
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
    /// Waits for the chunk in flight first: it may still be placing itself in the
    /// reservation whose tail this hands back.
    public func abort() async {
        guard !done else { return }
        done = true
        for task in inFlight { _ = try? await task.value }
        inFlight = []
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

/// What the write lane of `ObjectWriter.process` reports back.
/// `@unchecked Sendable`: written by one lane, read after `concurrentPerform` returns.
private final class ChunkOutcome: @unchecked Sendable {
    var hash: UInt64 = 0
    var error: Error?
}
