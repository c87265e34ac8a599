import Foundation
import Logging
import StowageChecksums

/// A verified run of object bytes: lent by the blob backend without a copy (from a
/// segment's mapping, embedded; holding it keeps the bytes alive, I6), or, for an
/// encrypted blob, the decrypted bytes of the slice asked for.
public struct ObjectBytes: ByteChunk {
    enum Storage {
        case lent(BlobBytes)
        case decrypted(Data)
    }
    let storage: Storage

    public var count: Int {
        switch storage {
        case .lent(let bytes): bytes.count
        case .decrypted(let data): data.count
        }
    }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        switch storage {
        case .lent(let bytes): try body(bytes.buffer)
        case .decrypted(let data): try data.withUnsafeBytes(body)
        }
    }
}

/// One chunk to serve: where it is, what it must hash to, and the slice of it wanted.
struct ChunkRead: Sendable {
    let pin: any BlobPin
    let segmentID: UInt64
    let chunkOffset: UInt64
    let chunkLength: Int
    let expectedHash: UInt64
    let slice: Range<Int>
    /// An encrypted blob's cipher, and where the chunk starts in that blob (the CTR
    /// position of its first byte).
    let cipher: BlobCipher?
    let blobOffset: UInt64
}

/// A GET's answer: the object's description, the byte range served, and its bytes.
public struct ObjectRead: Sendable {
    public let info: ObjectInfo
    /// The bytes served: the whole object, or the range asked for.
    public let range: Range<UInt64>
    /// True when a Range was asked for and applied (S3 answers 206).
    public let isPartial: Bool
    public let body: ObjectBody
}

/// The bytes of an object, chunk by chunk, each checked against its XXH3 before it is
/// handed out (I4). Loading and verifying touch the bytes (page faults of a mapping, a
/// network read), so they run on a Dispatch thread, never a cooperative or event-loop one.
public struct ObjectBody: AsyncSequence, Sendable {
    public typealias Element = ObjectBytes
    let chunks: [ChunkRead]
    let verify: Bool
    let location: String
    let logger: Logger
    /// Small resident chunks are served on the consumer's thread (`inliningSmallResidentChunks`).
    var inlinesSmallResidentChunks = false

    public struct AsyncIterator: AsyncIteratorProtocol {
        let body: ObjectBody
        var position = 0
        /// Loads started ahead of the consumer, for pins whose loads wait on the network
        /// (`BlobPin.readAhead`): chunk `position + i` is `ahead[i]`. Memory: the window's
        /// chunks, whatever the object's size.
        var ahead: [Task<ObjectBytes, Error>] = []

        public mutating func next() async throws -> ObjectBytes? {
            // The consumer is done with the previous chunk's pages in this process.
            if position > 0 {
                let done = body.chunks[position - 1]
                done.pin.finished(offsetBytes: done.chunkOffset, count: done.chunkLength)
            }
            guard position < body.chunks.count else { return nil }
            let chunk = body.chunks[position]
            let window = chunk.pin.readAhead
            // Pins that read ahead are the ones whose loads wait on the network.
            let lane: BlockingIO.Lane = window > 0 ? .network : .disk
            let (verify, location, logger) = (body.verify, body.location, body.logger)
            if window > 0 {
                var next = position + ahead.count
                while ahead.count < window, next < body.chunks.count {
                    let later = body.chunks[next]
                    ahead.append(Task { try await BlockingIO.run(lane) { try ObjectBody.serve(later, verify: verify, location: location) } })
                    next += 1
                }
            }
            position += 1
            let loaded: ObjectBytes
            do {
                if body.inlinesSmallResidentChunks, ahead.isEmpty, window == 0, chunk.chunkLength <= ObjectBody.inlineChunkBytes,
                   chunk.pin.isResident(offsetBytes: chunk.chunkOffset, count: chunk.chunkLength) {
                    // A small chunk already in memory: loading and hashing it take a few
                    // microseconds, less than the two thread hops of `BlockingIO`.
                    loaded = try ObjectBody.serve(chunk, verify: verify, location: location)
                } else if ahead.isEmpty {
                    loaded = try await BlockingIO.run(lane) { try ObjectBody.serve(chunk, verify: verify, location: location) }
                } else {
                    loaded = try await ahead.removeFirst().value
                }
            } catch {
                // I4: a mismatch is an error to the caller *and* a log line for the operator.
                logger.error("\(error)")
                throw error
            }
            return loaded
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(body: self) }

    /// The largest chunk served on the consumer's own thread when its pages are resident
    /// (XXH3 of 64 KiB is a few microseconds); larger ones, and any that would wait for
    /// the disk, run on `BlockingIO`.
    static let inlineChunkBytes = 64 << 10

    /// This body, with chunks of up to `inlineChunkBytes` whose pages are in the page cache
    /// loaded and verified on the consumer's own thread instead of a `BlockingIO` one (the
    /// server's GETs: no thread hop for a small object). Only for a consumer that suspends
    /// between chunks or bodies anyway, as a request waiting on its socket does: a loop
    /// reading such bodies back to back would never suspend and could hold a cooperative
    /// thread from every other task.
    public func inliningSmallResidentChunks() -> ObjectBody {
        var body = self
        body.inlinesSmallResidentChunks = true
        return body
    }

    /// The whole body at once, loaded and verified on the caller's thread, when it is at
    /// most one chunk of up to `inlineChunkBytes` whose pages are in the page cache (an
    /// empty body too); nil when it must be streamed. The server answers a small GET with
    /// these bytes in one write of head, body and end, instead of three writes through
    /// the connection's async writer. Same rules as `inliningSmallResidentChunks`.
    public func residentSmallBytes() throws(StoreError) -> ObjectBytes? {
        guard chunks.count <= 1 else { return nil }
        guard let chunk = chunks.first else { return ObjectBytes(storage: .decrypted(Data())) }
        guard chunk.pin.readAhead == 0, chunk.chunkLength <= Self.inlineChunkBytes,
              chunk.pin.isResident(offsetBytes: chunk.chunkOffset, count: chunk.chunkLength) else { return nil }
        do {
            let bytes = try Self.serve(chunk, verify: verify, location: location)
            chunk.pin.finished(offsetBytes: chunk.chunkOffset, count: chunk.chunkLength)
            return bytes
        } catch {
            // I4: a mismatch is an error to the caller *and* a log line for the operator.
            logger.error("\(error)")
            throw error
        }
    }

    /// The slice of the chunk that is served: verified (`load`), then decrypted when the
    /// blob is encrypted — only the slice, never the rest of the chunk.
    static func serve(_ chunk: ChunkRead, verify: Bool, location: String) throws(StoreError) -> ObjectBytes {
        let slice = try load(chunk, verify: verify, location: location).slice(chunk.slice)
        guard let cipher = chunk.cipher else { return ObjectBytes(storage: .lent(slice)) }
        return ObjectBytes(storage: .decrypted(cipher.apply(slice.buffer, at: chunk.blobOffset + UInt64(chunk.slice.lowerBound))))
    }

    /// The whole chunk from its container, checked against its XXH3 (when `verify`).
    static func load(_ chunk: ChunkRead, verify: Bool, location: String) throws(StoreError) -> BlobBytes {
        let bytes: BlobBytes
        do { bytes = try chunk.pin.load(offsetBytes: chunk.chunkOffset, count: chunk.chunkLength) } catch {
            EngineMetrics.integrityFailures.increment()
            throw StoreError(.integrity, "\(location): segment \(chunk.segmentID) cannot be read: \(error)", cause: error)
        }
        guard verify else { return bytes }
        let actual = XXH3.hash(bytes.buffer)
        guard actual == chunk.expectedHash else {
            EngineMetrics.integrityFailures.increment()
            throw StoreError(.integrity,
                             "Stored data failed its checksum: \(location), segment \(chunk.segmentID) offset \(chunk.chunkOffset) (\(chunk.chunkLength) bytes)")
        }
        return bytes
    }

    /// Every byte, collected (tests and small objects).
    public func collect() async throws -> [UInt8] {
        var result: [UInt8] = []
        for try await piece in self {
            piece.withUnsafeBytes { result.append(contentsOf: $0) }
        }
        return result
    }
}

extension ObjectStore {
    /// HeadObject with the GET/HEAD conditions of S3-SEMANTICS.md; `versionID` reads that
    /// version (`null` included) instead of the current one.
    /// `customerKey`: SSE-C's key, required for (and only for) a version stored under one.
    public func headObject(bucket: String, key: String, versionID: String? = nil,
                           conditions: ObjectConditions = ObjectConditions(),
                           customerKey: CustomerKey? = nil) throws(StoreError) -> ObjectInfo {
        let (record, versioning) = try read { txn in
            try lookupRecord(txn, bucket: bucket, key: key, versionID: versionID, conditions: conditions)
        }
        try Self.checkCustomerKey(record, customerKey)
        return record.info(key: key, versioning: versioning)
    }

    /// GetObjectAttributes: a version's description and the sizes of the parts it was
    /// uploaded in (empty for a single-part object), without reading a byte of it.
    public func objectAttributes(bucket: String, key: String, versionID: String? = nil,
                                 customerKey: CustomerKey? = nil) throws(StoreError) -> (info: ObjectInfo, partSizes: [UInt64]) {
        try read { txn in
            let (record, versioning) = try lookupRecord(txn, bucket: bucket, key: key, versionID: versionID,
                                                        conditions: ObjectConditions())
            try Self.checkCustomerKey(record, customerKey)
            let (_, partSizes) = try resolve(txn, blobID: record.blobID, location: "\(bucket)/\(key)")
            return (record.info(key: key, versioning: versioning), partSizes)
        }
    }

    /// GetObject, whole or by range, with the GET/HEAD conditions of S3-SEMANTICS.md.
    /// The answer pins the segment mappings it reads, so a later delete or compaction
    /// cannot pull bytes from under it (I6).
    /// With `partNumber`, serves that part of a multipart object (part 1 of any other
    /// object is the whole object), as S3 does. With `versionID`, that version.
    public func getObject(bucket: String, key: String, versionID: String? = nil, range: ByteRange? = nil,
                          partNumber: Int? = nil, conditions: ObjectConditions = ObjectConditions(),
                          customerKey: CustomerKey? = nil) throws(StoreError) -> ObjectRead {
        let location = "\(bucket)/\(key)"
        // The mappings are pinned inside the read transaction, so compaction cannot unlink
        // a segment between this snapshot's extents and the pin (I6).
        let (info, _, partSizes, served, chunks) = try read {
            txn -> (ObjectInfo, ObjectRecord, [UInt64], Range<UInt64>, [ChunkRead]) in
            let (record, versioning) = try lookupRecord(txn, bucket: bucket, key: key, versionID: versionID, conditions: conditions)
            try Self.checkCustomerKey(record, customerKey)
            let (spans, partSizes) = try resolve(txn, blobID: record.blobID, location: location,
                                                 reading: true, customerKey: customerKey)
            var served = 0..<record.size
            if let partNumber {
                served = try Self.partRange(partNumber, partSizes: partSizes, size: record.size)
            } else if let range {
                guard let resolved = range.resolve(size: record.size) else {
                    throw StoreError(.invalidRange, "The requested range is not satisfiable")
                }
                served = resolved
            }
            return (record.info(key: key, versioning: versioning), record, partSizes, served,
                    try plan(spans, range: served, location: location))
        }
        return ObjectRead(info: info, range: served,
                          isPartial: range != nil || (partNumber != nil && !partSizes.isEmpty),
                          body: ObjectBody(chunks: chunks, verify: options.verifyReads, location: "\(bucket)/\(key)",
                                          logger: options.logger))
    }

    /// 404s before any condition, then the conditions (S3-SEMANTICS.md, "Conditional reads").
    /// A key whose latest version is a delete marker is 404 with the marker attached; a
    /// delete marker asked for by its version id is 405 (S3 has no object to show).
    func lookupRecord(_ txn: borrowing some IndexReading & ~Copyable, bucket: String, key: String,
                      versionID: String? = nil, conditions: ObjectConditions) throws -> (ObjectRecord, VersioningState) {
        try Validation.checkBucketName(bucket)
        try Validation.checkKey(key)
        let versioning = try index.versioning(txn, bucket)
        let record: ObjectRecord
        if let versionID {
            record = try index.requireVersion(txn, bucket: bucket, key: key, versionID: versionID, versioning: versioning)
        } else if let current = try index.object(txn, bucket: bucket, key: key) {
            record = current
        } else {
            var error = StoreError(.noSuchKey, "The specified key does not exist.")
            if versioning != .never, let latest = try index.history(txn, bucket: bucket, key: key).first, latest.isDeleteMarker {
                error.object = latest.markerInfo(key: key)
            }
            throw error
        }
        try index.checkNotQuarantined(txn, record.blobID, location: "\(bucket)/\(key)")
        try conditions.checkForRead(record, key: key, nowSeconds: Self.nowMilliseconds() / 1000)
        return (record, versioning)
    }

    /// A run of a data blob that an object's bytes are made of, in order.
    struct Span {
        let blobID: UInt64
        let blob: BlobRecord
        let offsetBytes: UInt64
        let lengthBytes: UInt64
        /// The data blob's cipher, when it is encrypted and the spans are for reading.
        var cipher: BlobCipher?
    }

    /// The data spans of a blob: itself, or a composite's pieces; and its part sizes.
    /// `reading`: the spans' bytes will be read, so each encrypted data blob's key is
    /// opened (with the master key, the key store's or `customerKey`).
    func resolve(_ txn: borrowing some IndexReading & ~Copyable, blobID: UInt64, location: String,
                 reading: Bool = false, customerKey: CustomerKey? = nil) throws -> ([Span], [UInt64]) {
        guard blobID != 0 else { return ([], []) }
        guard let blob = try index.blob(txn, blobID) else {
            throw StoreError(.corrupt, "\(location): blob \(blobID) is missing from the index")
        }
        var spans: [Span]
        if blob.isComposite {
            spans = try blob.pieces.map { piece in
                guard let data = try index.blob(txn, piece.blobID), !data.isComposite,
                      piece.offsetBytes + piece.lengthBytes <= data.size else {
                    throw StoreError(.corrupt, "\(location): piece blob \(piece.blobID) is missing or not a data blob")
                }
                return Span(blobID: piece.blobID, blob: data, offsetBytes: piece.offsetBytes, lengthBytes: piece.lengthBytes)
            }
        } else {
            spans = [Span(blobID: blobID, blob: blob, offsetBytes: 0, lengthBytes: blob.size)]
        }
        if reading {
            for i in spans.indices where spans[i].blob.dataKey != nil {
                spans[i].cipher = try cipher(txn, for: spans[i].blob, customerKey: customerKey, location: location)
            }
        }
        return (spans, blob.partSizes)
    }

    /// The byte range of part `number` (1-based).
    static func partRange(_ number: Int, partSizes: [UInt64], size: UInt64) throws(StoreError) -> Range<UInt64> {
        if partSizes.isEmpty && number == 1 { return 0..<size }
        guard number >= 1, number <= partSizes.count else {
            throw StoreError(.invalidPartNumber, "The requested partnumber is not satisfiable")
        }
        let start = partSizes[..<(number - 1)].reduce(0, +)
        return start..<(start + partSizes[number - 1])
    }

    /// The chunks covering `range` of the object made of `spans`.
    func plan(_ spans: [Span], range: Range<UInt64>, location: String) throws(StoreError) -> [ChunkRead] {
        var chunks: [ChunkRead] = []
        var position: UInt64 = 0
        for span in spans {
            defer { position += span.lengthBytes }
            let lower = max(range.lowerBound, position), upper = min(range.upperBound, position + span.lengthBytes)
            guard lower < upper else { continue }
            let inBlob = (span.offsetBytes + lower - position)..<(span.offsetBytes + upper - position)
            guard span.blob.dataKey == nil || span.cipher != nil else {
                throw StoreError(.corrupt, "\(location): an encrypted blob was planned for reading without its key")
            }
            chunks += try plan(span.blob, range: inBlob, cipher: span.cipher, location: location)
        }
        return chunks
    }

    /// The chunks of a data blob covering `range`, with their containers pinned.
    private func plan(_ blob: BlobRecord, range: Range<UInt64>, cipher: BlobCipher?, location: String) throws(StoreError) -> [ChunkRead] {
        var chunks: [ChunkRead] = []
        var position: UInt64 = 0
        let chunkSize = UInt64(blob.chunkSizeBytes)
        for extent in blob.extents {
            defer { position += extent.lengthBytes }
            guard position < range.upperBound, position + extent.lengthBytes > range.lowerBound else { continue }
            let pin = try pin(extent, location: location)
            for (index, hash) in extent.chunkHashes.enumerated() {
                let start = position + UInt64(index) * chunkSize
                let length = min(chunkSize, extent.lengthBytes - UInt64(index) * chunkSize)
                let lower = max(start, range.lowerBound), upper = min(start + length, range.upperBound)
                guard lower < upper else { continue }
                chunks.append(ChunkRead(pin: pin, segmentID: extent.segmentID,
                                        chunkOffset: extent.offsetBytes + UInt64(index) * chunkSize,
                                        chunkLength: Int(length), expectedHash: hash,
                                        slice: Int(lower - start)..<Int(upper - start), cipher: cipher, blobOffset: start))
            }
        }
        return chunks
    }

    /// The blob backend's pin of an extent's container, refusing an extent past its end (I5).
    private func pin(_ extent: Extent, location: String) throws(StoreError) -> any BlobPin {
        let pin: any BlobPin
        do { pin = try blobs.pin(extent.segmentID) } catch {
            throw StoreError(.integrity, "\(location): segment \(extent.segmentID) cannot be read: \(error)", cause: error)
        }
        guard extent.offsetBytes + extent.lengthBytes <= pin.lengthBytes else {
            throw StoreError(.integrity, "\(location): segment \(extent.segmentID) is shorter than the index says (truncated)")
        }
        return pin
    }
}
