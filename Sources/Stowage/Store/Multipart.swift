import Foundation
import StowageChecksums

/// A multipart upload in progress, as ListMultipartUploads shows it.
public struct UploadInfo: Sendable, Equatable {
    public var uploadID: String
    public var key: String
    public var initiatedMilliseconds: Int64
    public var attributes: ObjectAttributes
    public var checksumAlgorithm: String?
    /// How Complete will make the object's checksum (nil without an algorithm).
    public var checksumType: S3ChecksumType? = nil
}

/// One uploaded part, as ListParts (and UploadPart's answer) shows it.
public struct PartInfo: Sendable, Equatable {
    public var partNumber: Int
    public var size: UInt64
    /// MD5 hex of the part, without quotes.
    public var etag: String
    public var lastModifiedMilliseconds: Int64
    /// The part's checksum in the upload's algorithm: (wire name, base64).
    public var checksum: (algorithm: String, value: String)?
    /// UploadPartCopy: the version id of the source (`x-amz-copy-source-version-id`), when
    /// its bucket is versioned.
    public var copySourceVersionID: String?

    public static func == (lhs: PartInfo, rhs: PartInfo) -> Bool {
        lhs.partNumber == rhs.partNumber && lhs.size == rhs.size && lhs.etag == rhs.etag
            && lhs.lastModifiedMilliseconds == rhs.lastModifiedMilliseconds
            && lhs.checksum?.algorithm == rhs.checksum?.algorithm && lhs.checksum?.value == rhs.checksum?.value
    }
}

/// What a CompleteMultipartUpload says about checksums, all optional: the
/// `<ChecksumXXX>` of each listed `<Part>` (by part number), `x-amz-checksum-type`, and
/// the whole object's `x-amz-checksum-*`. Each is checked against the upload.
public struct CompletionChecksums: Sendable {
    public var parts: [Int: [S3ChecksumAlgorithm: String]]
    public var type: S3ChecksumType?
    public var object: [S3ChecksumAlgorithm: String]

    public init(parts: [Int: [S3ChecksumAlgorithm: String]] = [:], type: S3ChecksumType? = nil,
                object: [S3ChecksumAlgorithm: String] = [:]) {
        self.parts = parts
        self.type = type
        self.object = object
    }
}

/// A page of ListMultipartUploads.
public struct UploadList: Sendable {
    public var uploads: [UploadInfo]
    public var commonPrefixes: [String]
    public var isTruncated: Bool
}

/// Multipart uploads (DESIGN.md: "Multipart completion writes one blob whose extent list is
/// the parts' extents"). Parts are data blobs held by part records; Complete makes one
/// composite blob of their pieces in one transaction — no object byte is read or written.
extension ObjectStore {
    /// `lock`: the Create's Object Lock headers, applied to the completed version (checked
    /// here: the bucket must have Object Lock). `checksumType` needs an algorithm it allows
    /// (FULL_OBJECT: the CRCs; COMPOSITE: all but CRC64NVME); without one, the algorithm's
    /// default (`S3ChecksumType.defaultType`).
    public func createMultipartUpload(bucket: String, key: String, attributes: ObjectAttributes = ObjectAttributes(),
                                      checksumAlgorithm: S3ChecksumAlgorithm? = nil, checksumType: S3ChecksumType? = nil,
                                      lock: ObjectLock? = nil, tags: [ObjectTag] = [],
                                      encryption: ServerSideEncryption? = nil,
                                      acl: AccessControlList? = nil) async throws(StoreError) -> String {
        try await beginMultipartUpload(bucket: bucket, key: key, attributes: attributes, checksumAlgorithm: checksumAlgorithm,
                                       checksumType: checksumType, lock: lock, tags: tags, encryption: encryption,
                                       acl: acl).uploadID
    }

    /// CreateMultipartUpload, answering also the encryption the parts will have (the
    /// request's, else the bucket's default).
    public func beginMultipartUpload(bucket: String, key: String, attributes: ObjectAttributes = ObjectAttributes(),
                                     checksumAlgorithm: S3ChecksumAlgorithm? = nil, checksumType: S3ChecksumType? = nil,
                                     lock: ObjectLock? = nil, tags: [ObjectTag] = [],
                                     encryption: ServerSideEncryption? = nil,
                                     acl: AccessControlList? = nil) async throws(StoreError)
        -> (uploadID: String, encryption: ServerSideEncryption?) {
        let checksumType = try Self.uploadChecksumType(checksumAlgorithm, checksumType)
        try Validation.checkBucketName(bucket)
        try Validation.checkTags(tags, limit: Limits.maxObjectTags)
        try Validation.checkKey(key)
        try Validation.checkUserMetadata(attributes.userMetadata)
        let uploadID = Self.newUploadID()
        let now = Self.nowMilliseconds()
        let applied = try await mutate { [index, self] txn -> ServerSideEncryption? in
            let bucketRecord = try index.bucketRecord(txn, bucket)
            if lock != nil, !bucketRecord.objectLockEnabled {
                throw StoreError(.invalidRequest, "Bucket is missing Object Lock Configuration")
            }
            let existing = try index.object(txn, bucket: bucket, key: key)
            // The parts are encrypted as the upload asks, else as the bucket's default says.
            var attributes = attributes
            let encryption = try encryption ?? defaultEncryption(txn, bucket)?.encryption
            if let encryption { try checkUsable(txn, encryption) }
            attributes.serverSideEncryption = encryption?.stored
            let record = UploadRecord(bucket: bucket, key: key, initiatedMilliseconds: now, attributes: attributes,
                                      checksumAlgorithm: checksumAlgorithm?.wireName, etagAtStart: existing?.etag, lock: lock,
                                      tags: tags, checksumType: checksumType,
                                      acl: try objectACLForWrite(txn, bucket: bucket, acl))
            try txn.put(index.uploads, Array(uploadID.utf8), record.encoded(), noOverwrite: true)
            return encryption
        }
        return (uploadID, applied)
    }

    /// Starts an UploadPart: the writer's `finish` stores the part (replacing an earlier
    /// one with the same number, whose space is released).
    public func beginUploadPart(bucket: String, key: String, uploadID: String, partNumber: Int,
                                sizeHint: UInt64? = nil, expectedMD5: [UInt8]? = nil,
                                checksumAlgorithms: [S3ChecksumAlgorithm] = [],
                                expectedChecksums: [S3ChecksumAlgorithm: String] = [:],
                                customerKey: CustomerKey? = nil) throws(StoreError) -> ObjectWriter {
        if let sizeHint, sizeHint > Limits.maxPartBytes {
            throw StoreError(.entityTooLarge, "Your proposed upload exceeds the maximum allowed part size")
        }
        var request = PutRequest(bucket: bucket, key: key, sizeHint: sizeHint, expectedMD5: expectedMD5,
                                 checksumAlgorithms: checksumAlgorithms, expectedChecksums: expectedChecksums)
        request.part = PartTarget(uploadID: uploadID, partNumber: partNumber)
        request.customerKey = customerKey
        return try beginPut(request)
    }

    func commitPart(_ request: PutRequest, _ target: PartTarget, record: PartRecord, blob: BlobRecord,
                    checksums: [(algorithm: String, value: String)]) async throws(StoreError) -> ObjectInfo {
        let reserved = try await reservedBlobID()
        let stored = try await mutate(durable: blob.containers) { [index, self] txn -> PartRecord in
            let upload = try requireUpload(txn, target.uploadID, bucket: request.bucket, key: request.key)
            var part = record
            let blobID = try index.insertBlob(txn, blob, reserved: reserved)
            part.pieces = blobID == 0 ? [] : [BlobPiece(blobID: blobID, offsetBytes: 0, lengthBytes: blob.size)]
            if let wire = upload.checksumAlgorithm, let value = checksums.first(where: { $0.algorithm == wire })?.value,
               let algorithm = S3ChecksumAlgorithm(wireName: wire) {
                part.checksum = algorithm.digest(fromBase64: value) ?? []
            }
            try replacePart(txn, target, with: part)
            return part
        }
        return ObjectInfo(key: request.key, size: stored.size, etag: stored.etag,
                          lastModifiedMilliseconds: stored.lastModifiedMilliseconds,
                          attributes: ObjectAttributes(serverSideEncryption: request.attributes.serverSideEncryption,
                                                       checksums: checksums), partCount: nil)
    }

    /// UploadPartCopy: the part references a byte range of an existing object's blobs (one
    /// reference each); no byte is copied. The part's MD5 (its ETag) is read from the
    /// source through the verified read path unless the whole of a single-part object is
    /// copied, whose ETag already is that MD5.
    public func uploadPartCopy(bucket: String, key: String, uploadID: String, partNumber: Int,
                               sourceBucket: String, sourceKey: String, sourceVersionID: String? = nil,
                               range: ByteRange? = nil,
                               sourceConditions: ObjectConditions = ObjectConditions(),
                               customerKey: CustomerKey? = nil, sourceCustomerKey: CustomerKey? = nil) async throws(StoreError) -> PartInfo {
        try Self.checkPartNumber(partNumber)
        let location = "\(sourceBucket)/\(sourceKey)"
        let (source, spans, upload, shownVersion) = try await readOffLoop { [self] txn in
            let upload = try requireUpload(txn, uploadID, bucket: bucket, key: key)
            try Self.checkPartKey(ServerSideEncryption(stored: upload.attributes.serverSideEncryption), customerKey)
            let source = try copySource(txn, bucket: sourceBucket, key: sourceKey, versionID: sourceVersionID,
                                        conditions: sourceConditions)
            try Self.checkCustomerKey(source, sourceCustomerKey, copySource: true)
            let (spans, _) = try resolve(txn, blobID: source.blobID, location: location, reading: true,
                                         customerKey: sourceCustomerKey)
            let shown = source.info(key: sourceKey, versioning: try index.versioning(txn, sourceBucket)).versionID
            return (source, spans, upload, shown)
        }
        var served = 0..<source.size
        if let range {
            guard let resolved = range.resolve(size: source.size) else {
                throw StoreError(.invalidRange, "The x-amz-copy-source-range is not satisfiable")
            }
            served = resolved
        }
        guard UInt64(served.count) <= Limits.maxPartBytes else {
            throw StoreError(.entityTooLarge, "A part is at most 5 GiB")
        }
        // The part can share the source's bytes only if they are encrypted as the upload's
        // parts are; otherwise they are read, decrypted and written as an UploadPart's.
        if ServerSideEncryption(stored: source.attributes.serverSideEncryption)
            != ServerSideEncryption(stored: upload.attributes.serverSideEncryption) {
            let body = ObjectBody(chunks: try plan(spans, range: served, location: location), verify: options.verifyReads,
                                  location: location, logger: options.logger)
            var request = PutRequest(bucket: bucket, key: key, sizeHint: UInt64(served.count))
            request.part = PartTarget(uploadID: uploadID, partNumber: partNumber)
            request.customerKey = customerKey
            let writer = try beginPut(request)
            do {
                for try await piece in body { try await writer.write(piece) }
                let stored = try await writer.finish()
                return PartInfo(partNumber: partNumber, size: stored.size, etag: stored.etag,
                                lastModifiedMilliseconds: stored.lastModifiedMilliseconds,
                                checksum: stored.attributes.checksums.first.map { ($0.algorithm, $0.value) },
                                copySourceVersionID: shownVersion)
            } catch {
                await writer.abort()
                throw StoreError.wrapping(error, "copying \(location)")
            }
        }
        let pieces = Self.pieces(of: spans, range: served)
        let algorithm = upload.checksumAlgorithm.flatMap(S3ChecksumAlgorithm.init(wireName:))
        let digests = try await digests(spans, range: served, location: location,
                                        knownMD5: served.count == source.size && source.partCount == 0 ? source.etag : nil,
                                        algorithm: algorithm)
        let now = Self.nowMilliseconds()
        let record = PartRecord(size: UInt64(served.count), etag: digests.md5, lastModifiedMilliseconds: now,
                                pieces: pieces, checksum: digests.checksum)
        try await mutate { [index, self] txn in
            _ = try requireUpload(txn, uploadID, bucket: bucket, key: key)
            // The pieces were read outside this transaction: the source must still be
            // the same object, or its blobs may already be gone.
            guard let current = try copySourceRecord(txn, bucket: sourceBucket, key: sourceKey, versionID: sourceVersionID),
                  current.blobID == source.blobID else {
                throw StoreError(.conditionalRequestConflict, "The copy source changed during the copy; retry")
            }
            for piece in pieces { try index.retainBlob(txn, piece.blobID) }
            try replacePart(txn, PartTarget(uploadID: uploadID, partNumber: partNumber), with: record)
        }
        return PartInfo(partNumber: partNumber, size: record.size, etag: record.etag,
                        lastModifiedMilliseconds: now, checksum: algorithm.map { ($0.wireName, base64(digests.checksum)) },
                        copySourceVersionID: shownVersion)
    }

    /// CompleteMultipartUpload: validates the list (InvalidPartOrder, InvalidPart,
    /// EntityTooSmall), applies the conditions (412/404/409 per S3-SEMANTICS.md), makes one
    /// composite blob of the listed parts' pieces, and releases parts left out.
    public func completeMultipartUpload(bucket: String, key: String, uploadID: String,
                                        parts: [(partNumber: Int, etag: String)],
                                        conditions: WriteConditions = WriteConditions(),
                                        checksums: CompletionChecksums = CompletionChecksums()) async throws(StoreError) -> ObjectInfo {
        try conditions.validate()
        guard !parts.isEmpty else {
            throw StoreError(.invalidRequest, "You must specify at least one part")
        }
        for (earlier, later) in zip(parts, parts.dropFirst()) where later.partNumber <= earlier.partNumber {
            throw StoreError(.invalidPartOrder, "The list of parts was not in ascending order. The parts list must be specified in order by part number.")
        }
        let minimum = options.minPartSizeBytes
        let now = Self.nowMilliseconds()
        let choices = parts.map { CompletionRecord.PartChoice(number: $0.partNumber, etag: ETagCondition.normalize($0.etag)) }
        let versionID = VersionID.make()
        let reserved = try await reservedBlobID()
        return try await mutate { [index, self] txn in
            let upload: UploadRecord
            do {
                upload = try requireUpload(txn, uploadID, bucket: bucket, key: key)
            } catch let error as StoreError where error.code == .noSuchUpload {
                // A retry of a Complete that succeeded: the same answer, however the key changed since.
                if let done = try Self.completion(txn, index, uploadID, now: now),
                   done.bucket == bucket, Self.sameKey(done.key, key), done.parts == choices {
                    return done.info
                }
                throw error
            }
            let stored = try self.parts(txn, uploadID)
            var chosen: [PartRecord] = []
            for (position, requested) in parts.enumerated() {
                guard let part = stored[requested.partNumber],
                      ETagCondition.etags([requested.etag]).matches(part.etag) else {
                    throw StoreError(.invalidPart, "One or more of the specified parts could not be found (part \(requested.partNumber)). The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.")
                }
                if position < parts.count - 1 && part.size < minimum {
                    throw StoreError(.entityTooSmall, "Your proposed upload is smaller than the minimum allowed size (part \(requested.partNumber) has \(part.size) bytes)")
                }
                try Self.checkListedChecksums(checksums.parts[requested.partNumber] ?? [:], of: part,
                                              number: requested.partNumber, upload: upload)
                chosen.append(part)
            }
            let objectChecksum = Self.objectChecksum(upload: upload, parts: chosen)
            try Self.checkObjectChecksum(checksums, upload: upload, computed: objectChecksum)
            let existing = try index.object(txn, bucket: bucket, key: key)
            try Self.checkComplete(conditions, existing: existing, upload: upload)
            let record = try composeObject(txn, upload: upload, parts: chosen, now: now, reservedBlobID: reserved)
            // Listed parts hand their references to the composite; the rest are released.
            let listed = Set(parts.map(\.partNumber))
            for (number, part) in stored where !listed.contains(number) {
                for piece in part.pieces { try index.releaseBlob(txn, piece.blobID) }
            }
            try deleteUploadRecords(txn, uploadID, partNumbers: Array(stored.keys))
            let bucketRecord = try index.bucketRecord(txn, bucket)
            var versioned = record
            versioned.versionID = versionID
            versioned.tags = upload.tags
            versioned.acl = upload.acl
            let info = try index.writeVersion(txn, bucket: bucket, key: key, in: bucketRecord, existing: existing,
                                              with: versioned, lock: upload.lock, now: now)
                .info(key: key, versioning: bucketRecord.versioning)
            let completion = CompletionRecord(info: info, bucket: bucket, parts: choices)
            let kept = TokenRecord(expiresMilliseconds: now + Limits.tokenLifetimeMilliseconds, fingerprint: completion.encoded())
            try txn.put(index.tokens, IndexKey.completion(uploadID: uploadID), kept.encoded())
            return info
        }
    }

    /// The record of a completed upload, while it is kept.
    private static func completion(_ txn: borrowing some IndexReading & ~Copyable, _ index: Index, _ uploadID: String,
                                   now: Int64) throws -> CompletionRecord? {
        guard let kept = try txn.withValue(index.tokens, IndexKey.completion(uploadID: uploadID), { try TokenRecord(decoding: $0) }),
              kept.expiresMilliseconds > now else { return nil }
        return try kept.fingerprint.withUnsafeBytes { try CompletionRecord(decoding: $0) }
    }

    public func abortMultipartUpload(bucket: String, key: String, uploadID: String) async throws(StoreError) {
        // Over etcd, whose transactions are bounded, the parts go first, a batch per
        // transaction while the upload stays (each part released whole, or not at all);
        // the last transaction removes what is left and the upload itself. A crash between
        // them leaves the upload with fewer parts: aborting again finishes it.
        if let batch = itemsPerMutation {
            while try await mutate({ [index, self] txn -> Bool in
                _ = try requireUpload(txn, uploadID, bucket: bucket, key: key)
                // Only the batch (and one more, to know there is more) is read: reading every
                // part would check more keys than the transaction may.
                let stored = try parts(txn, uploadID, limit: batch + 1)
                guard stored.count > batch else { return false }
                let some = stored.keys.sorted().prefix(batch)
                for number in some {
                    for piece in stored[number]!.pieces { try index.releaseBlob(txn, piece.blobID) }
                }
                try deletePartRecords(txn, uploadID, partNumbers: Array(some))
                return true
            }) {}
        }
        try await mutate { [index, self] txn in
            _ = try requireUpload(txn, uploadID, bucket: bucket, key: key)
            let stored = try parts(txn, uploadID)
            for part in stored.values {
                for piece in part.pieces { try index.releaseBlob(txn, piece.blobID) }
            }
            try deleteUploadRecords(txn, uploadID, partNumbers: Array(stored.keys))
        }
    }

    public func listParts(bucket: String, key: String, uploadID: String, partNumberMarker: Int = 0,
                          maxParts: Int = Limits.maxListParts) throws(StoreError) -> (parts: [PartInfo], isTruncated: Bool, upload: UploadInfo) {
        try read { txn in
            let upload = try requireUpload(txn, uploadID, bucket: bucket, key: key)
            let algorithm = upload.checksumAlgorithm
            let all = try parts(txn, uploadID).filter { $0.key > partNumberMarker }.sorted { $0.key < $1.key }
            let limit = min(max(maxParts, 0), Limits.maxListParts)
            let page = all.prefix(limit).map { number, part in
                PartInfo(partNumber: number, size: part.size, etag: part.etag,
                         lastModifiedMilliseconds: part.lastModifiedMilliseconds,
                         checksum: algorithm.flatMap { part.checksum.isEmpty ? nil : ($0, base64(part.checksum)) })
            }
            let info = UploadInfo(uploadID: uploadID, key: upload.key, initiatedMilliseconds: upload.initiatedMilliseconds,
                                  attributes: upload.attributes, checksumAlgorithm: algorithm,
                                  checksumType: upload.effectiveChecksumType)
            return (Array(page), all.count > limit, info)
        }
    }

    /// Uploads in progress in `bucket`, by key (bytes) then initiation, after the markers.
    public func listMultipartUploads(bucket: String, prefix: String = "", delimiter: String? = nil,
                                     keyMarker: String? = nil, uploadIDMarker: String? = nil,
                                     maxUploads: Int = Limits.maxListUploads) throws(StoreError) -> UploadList {
        try Validation.checkBucketName(bucket)
        let all = try read { txn -> [UploadInfo] in
            try index.requireBucket(txn, bucket)
            var found: [UploadInfo] = []
            try txn.scan(index.uploads, from: []) { key, value in
                guard key.count == Self.uploadIDLength else { return true }   // part records
                let record = try UploadRecord(decoding: value)
                guard record.bucket == bucket, record.key.utf8.starts(with: prefix.utf8) else { return true }
                found.append(UploadInfo(uploadID: String(decoding: key, as: UTF8.self), key: record.key,
                                        initiatedMilliseconds: record.initiatedMilliseconds,
                                        attributes: record.attributes, checksumAlgorithm: record.checksumAlgorithm,
                                        checksumType: record.effectiveChecksumType))
                return true
            }
            return found
        }
        return Self.page(all, prefix: prefix, delimiter: delimiter, keyMarker: keyMarker,
                         uploadIDMarker: uploadIDMarker, limit: min(max(maxUploads, 0), Limits.maxListUploads))
    }
}

// MARK: - Inside transactions

extension ObjectStore {
    static let uploadIDLength = 32

    /// A new random upload id: decided before the mutation that stores it (the re-run rule).
    static func newUploadID() -> String {
        assert(!MutationScope.isActive, "an upload id was drawn inside an index mutation")
        return (0..<2).map { _ in String(UInt64.random(in: .min ... .max), radix: 16).leftPadded(16) }.joined()
    }

    static func checkPartNumber(_ number: Int) throws(StoreError) {
        guard (1...Limits.maxPartNumber).contains(number) else {
            throw StoreError(.invalidArgument, "Part number must be an integer between 1 and \(Limits.maxPartNumber), inclusive")
        }
    }

    func requireUpload(_ txn: borrowing some IndexReading & ~Copyable, _ uploadID: String, bucket: String, key: String) throws -> UploadRecord {
        try index.requireBucket(txn, bucket)
        guard uploadID.utf8.count == Self.uploadIDLength,
              let record = try txn.withValue(index.uploads, Array(uploadID.utf8), { try UploadRecord(decoding: $0) }),
              record.bucket == bucket, Self.sameKey(record.key, key) else {
            throw StoreError(.noSuchUpload, "The specified multipart upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.")
        }
        return record
    }

    static func partKey(_ uploadID: String, _ number: Int) -> [UInt8] {
        Array(uploadID.utf8) + [0] + withUnsafeBytes(of: UInt32(number).bigEndian) { Array($0) }
    }

    /// Every part of an upload, by number.
    /// The upload's parts; with `limit`, only the first `limit` of them by number (a
    /// transaction over etcd checks every key it reads, so a batch reads only its batch).
    func parts(_ txn: borrowing some IndexReading & ~Copyable, _ uploadID: String, limit: Int? = nil) throws -> [Int: PartRecord] {
        let prefix = Array(uploadID.utf8) + [0]
        var result: [Int: PartRecord] = [:]
        try txn.scan(index.uploads, from: prefix) { key, value in
            guard key.starts(with: prefix), key.count == prefix.count + 4 else { return false }
            let number = Int(UInt32(bigEndian: UnsafeRawBufferPointer(rebasing: key[prefix.count...]).loadUnaligned(as: UInt32.self)))
            result[number] = try PartRecord(decoding: value)
            return limit.map { result.count < $0 } ?? true
        }
        return result
    }

    /// Stores a part, releasing the pieces of the part it replaces.
    func replacePart(_ txn: borrowing WriteTransaction, _ target: PartTarget, with record: PartRecord) throws {
        let key = Self.partKey(target.uploadID, target.partNumber)
        if let old = try txn.withValue(index.uploads, key, { try PartRecord(decoding: $0) }) {
            for piece in old.pieces { try index.releaseBlob(txn, piece.blobID) }
        }
        try txn.put(index.uploads, key, record.encoded())
    }

    func deleteUploadRecords(_ txn: borrowing WriteTransaction, _ uploadID: String, partNumbers: [Int]) throws {
        try deletePartRecords(txn, uploadID, partNumbers: partNumbers)
        try txn.delete(index.uploads, Array(uploadID.utf8))
    }

    func deletePartRecords(_ txn: borrowing WriteTransaction, _ uploadID: String, partNumbers: [Int]) throws {
        for number in partNumbers { try txn.delete(index.uploads, Self.partKey(uploadID, number)) }
    }

    /// S3-SEMANTICS.md, conditional Complete: 412 as for a PUT, and 409 when the key changed
    /// under the upload (it existed at Create and is gone now; or If-Match matches an
    /// object written after the upload began).
    static func checkComplete(_ conditions: WriteConditions, existing: ObjectRecord?, upload: UploadRecord) throws(StoreError) {
        if conditions.ifNoneMatch != nil, existing == nil, upload.etagAtStart != nil {
            throw StoreError(.conditionalRequestConflict, "A conflicting operation occurred: the object existed when the upload began and was deleted since")
        }
        try conditions.check(existing: existing)
        if conditions.ifMatch != nil, let existing, writtenSinceCreate(existing, upload) {
            throw StoreError(.conditionalRequestConflict, "A conflicting operation occurred: the object was modified after the upload began")
        }
    }

    /// Whether `existing` was written after the upload was created. Times are in
    /// milliseconds, so a write in Create's own millisecond counts when it is not the
    /// object Create saw (another ETag): a fast client's PUT right after Create once
    /// passed as "before" (a flaky MultipartTests.conditionalComplete showed it).
    static func writtenSinceCreate(_ existing: ObjectRecord, _ upload: UploadRecord) -> Bool {
        existing.lastModifiedMilliseconds > upload.initiatedMilliseconds
            || existing.lastModifiedMilliseconds == upload.initiatedMilliseconds && existing.etag != upload.etagAtStart
    }

    /// The completed object's record over a new composite blob of the parts' pieces.
    func composeObject(_ txn: borrowing WriteTransaction, upload: UploadRecord, parts: [PartRecord], now: Int64,
                       reservedBlobID: UInt64? = nil) throws -> ObjectRecord {
        var md5s: [UInt8] = []
        for part in parts { md5s += Self.hexBytes(part.etag) }
        var digest = MD5Digest()
        md5s.withUnsafeBytes { digest.update($0) }
        let etag = digest.finalize().hexString + "-\(parts.count)"
        var attributes = upload.attributes
        attributes.checksums = Self.objectChecksum(upload: upload, parts: parts).map { [($0.algorithm.wireName, $0.value)] } ?? []
        let pieces = parts.flatMap(\.pieces)
        let size = parts.reduce(0) { $0 + $1.size }
        var blobID: UInt64 = 0
        if !pieces.isEmpty {
            blobID = try index.insertBlob(txn, BlobRecord(compositeOf: pieces, partSizes: parts.map(\.size)), reserved: reservedBlobID)
        }
        return ObjectRecord(blobID: blobID, size: size, etag: etag, lastModifiedMilliseconds: now,
                            partCount: UInt32(parts.count), attributes: attributes)
    }

    /// The completed object's checksum: COMPOSITE, the algorithm over the parts' raw
    /// digests, `-N`; FULL_OBJECT, the parts' CRCs combined with their sizes (no byte
    /// read), no suffix. Nil without an algorithm or when a part has no digest.
    static func objectChecksum(upload: UploadRecord, parts: [PartRecord]) -> (algorithm: S3ChecksumAlgorithm, value: String)? {
        guard let algorithm = upload.checksumAlgorithm.flatMap(S3ChecksumAlgorithm.init(wireName:)),
              parts.allSatisfy({ $0.checksum.count == algorithm.digestByteCount }) else { return nil }
        switch upload.effectiveChecksumType ?? .composite {
        case .composite:
            return (algorithm, base64(S3Checksummer.digest(algorithm, of: parts.flatMap(\.checksum))) + "-\(parts.count)")
        case .fullObject:
            return algorithm.fullObjectDigest(of: parts.map { ($0.checksum, $0.size) }).map { (algorithm, base64($0)) }
        }
    }

    /// The type a Create asks for, checked against its algorithm as S3 does.
    static func uploadChecksumType(_ algorithm: S3ChecksumAlgorithm?, _ type: S3ChecksumType?) throws(StoreError) -> S3ChecksumType? {
        guard let algorithm else {
            if let type {
                throw StoreError(.invalidRequest, "The x-amz-checksum-type header (\(type)) can only be used with the x-amz-checksum-algorithm header.")
            }
            return nil
        }
        let chosen = type ?? S3ChecksumType.defaultType(for: algorithm)
        guard chosen.allows(algorithm) else {
            throw StoreError(.invalidRequest, "The \(chosen) checksum type cannot be used with the \(algorithm.wireName) checksum algorithm.")
        }
        return chosen
    }

    /// UploadPart against the upload's algorithm: a part naming another algorithm is
    /// refused; a COMPOSITE upload's part must carry its checksum (header or trailer), as
    /// on S3; a FULL_OBJECT upload's part may leave it to the server. Either way the part's
    /// checksum in the upload's algorithm is computed, for Complete.
    static func addUploadChecksum(_ upload: UploadRecord, to request: inout PutRequest) throws(StoreError) {
        guard let wire = upload.checksumAlgorithm, let algorithm = S3ChecksumAlgorithm(wireName: wire) else { return }
        let sent = Set(request.checksumAlgorithms).union(request.expectedChecksums.keys)
        let mismatch = sent.first { $0 != algorithm }?.rawValue
            ?? (sent.isEmpty && upload.effectiveChecksumType == .composite ? "null" : nil)
        if let mismatch {
            throw StoreError(.invalidRequest, "Checksum Type mismatch occurred, expected checksum Type: \(algorithm.rawValue), actual checksum Type: \(mismatch)")
        }
        if !request.checksumAlgorithms.contains(algorithm) { request.checksumAlgorithms.append(algorithm) }
    }

    /// A listed part's `<ChecksumXXX>` values against the stored part (InvalidPart when one
    /// differs or names another algorithm, as a wrong ETag); a COMPOSITE upload's Complete
    /// must list each part's checksum (InvalidRequest, S3's message).
    static func checkListedChecksums(_ listed: [S3ChecksumAlgorithm: String], of part: PartRecord, number: Int,
                                     upload: UploadRecord) throws(StoreError) {
        let algorithm = upload.checksumAlgorithm.flatMap(S3ChecksumAlgorithm.init(wireName:))
        for (sent, value) in listed where sent != algorithm || value != base64(part.checksum) {
            throw StoreError(.invalidPart, "One or more of the specified parts could not be found (part \(number): its \(sent.wireName) checksum \(value) does not match). The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.")
        }
        if let algorithm, upload.effectiveChecksumType == .composite, listed[algorithm] == nil {
            throw StoreError(.invalidRequest, "The upload was created using a \(algorithm.rawValue) checksum. The complete request must include the checksum for each part. It was missing for part \(number) in the request.")
        }
    }

    /// Complete's `x-amz-checksum-type` and whole-object checksum against the upload's:
    /// a type other than the Create's, or a value other than the computed one (a COMPOSITE
    /// value with or without its `-N`), is BadDigest.
    static func checkObjectChecksum(_ checksums: CompletionChecksums, upload: UploadRecord,
                                    computed: (algorithm: S3ChecksumAlgorithm, value: String)?) throws(StoreError) {
        if let type = checksums.type, type != upload.effectiveChecksumType {
            throw StoreError(.badDigest, "The upload was created using the \(upload.effectiveChecksumType.map(\.rawValue) ?? "no") checksum type; the complete request names \(type).")
        }
        for (algorithm, value) in checksums.object {
            guard let computed, computed.algorithm == algorithm else {
                throw StoreError(.invalidRequest, "The upload was not created with the \(algorithm.wireName) checksum algorithm.")
            }
            let bare = computed.value.split(separator: "-").first.map(String.init) ?? computed.value
            guard value == computed.value || value == bare else {
                throw StoreError(.badDigest, "The \(algorithm.wireName) you specified did not match the calculated checksum.")
            }
        }
    }

    static func hexBytes(_ hex: String) -> [UInt8] {
        let digits = Array(hex.utf8)
        return stride(from: 0, to: digits.count - 1, by: 2).compactMap { i in
            UInt8(String(decoding: digits[i...i + 1], as: UTF8.self), radix: 16)
        }
    }

    /// The data-blob pieces under `range` of an object made of `spans`.
    static func pieces(of spans: [Span], range: Range<UInt64>) -> [BlobPiece] {
        var result: [BlobPiece] = []
        var position: UInt64 = 0
        for span in spans {
            defer { position += span.lengthBytes }
            let lower = max(range.lowerBound, position), upper = min(range.upperBound, position + span.lengthBytes)
            guard lower < upper else { continue }
            result.append(BlobPiece(blobID: span.blobID, offsetBytes: span.offsetBytes + lower - position,
                                    lengthBytes: upper - lower))
        }
        return result
    }

    /// MD5 (hex) and, if asked, an S3 checksum of `range`, read through the verified path.
    func digests(_ spans: [Span], range: Range<UInt64>, location: String, knownMD5: String?,
                 algorithm: S3ChecksumAlgorithm?) async throws(StoreError) -> (md5: String, checksum: [UInt8]) {
        if let knownMD5, algorithm == nil { return (knownMD5, []) }
        let body = ObjectBody(chunks: try plan(spans, range: range, location: location), verify: options.verifyReads,
                              location: location, logger: options.logger)
        var md5 = MD5Digest()
        var checksummer = algorithm.map(S3Checksummer.init)
        do {
            for try await piece in body {
                piece.withUnsafeBytes { bytes in
                    md5.update(bytes)
                    checksummer?.update(bytes)
                }
            }
        } catch {
            throw StoreError.wrapping(error, "reading the copy source")
        }
        return (knownMD5 ?? md5.finalize().hexString, checksummer?.finalize() ?? [])
    }

    static func page(_ all: [UploadInfo], prefix: String, delimiter: String?, keyMarker: String?,
                     uploadIDMarker: String?, limit: Int) -> UploadList {
        // By key bytes, then initiation, then id (a total order, so markers are exact).
        let sorted = all.sorted {
            guard $0.key.utf8.elementsEqual($1.key.utf8) else { return $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            return ($0.initiatedMilliseconds, $0.uploadID) < ($1.initiatedMilliseconds, $1.uploadID)
        }
        var result = UploadList(uploads: [], commonPrefixes: [], isTruncated: false)
        // Resume right after the marker upload in this same order; a marker id that is
        // gone (completed, aborted) resumes after every upload of its key.
        var start = 0
        if let keyMarker {
            let marked = uploadIDMarker.flatMap { id in
                sorted.firstIndex { $0.uploadID == id && $0.key.utf8.elementsEqual(keyMarker.utf8) }
            }
            start = marked.map { $0 + 1 } ?? (sorted.firstIndex {
                keyMarker.utf8.lexicographicallyPrecedes($0.key.utf8)
            } ?? sorted.count)
        }
        for upload in sorted[start...] {
            var common: String?
            if let delimiter, !delimiter.isEmpty {
                let rest = upload.key.utf8.dropFirst(prefix.utf8.count)
                if let range = String(decoding: rest, as: UTF8.self).range(of: delimiter) {
                    let restString = String(decoding: rest, as: UTF8.self)
                    common = prefix + restString[..<range.upperBound]
                }
            }
            if let common, result.commonPrefixes.last == common { continue }
            guard result.uploads.count + result.commonPrefixes.count < limit else {
                result.isTruncated = true
                break
            }
            if let common { result.commonPrefixes.append(common) } else { result.uploads.append(upload) }
        }
        return result
    }
}

extension UploadRecord {
    /// The stored type; an upload with an algorithm from before types were stored is
    /// COMPOSITE, the only kind there was.
    var effectiveChecksumType: S3ChecksumType? {
        checksumType ?? (checksumAlgorithm != nil ? .composite : nil)
    }
}

extension CompletionRecord {
    init(info: ObjectInfo, bucket: String, parts: [PartChoice]) {
        self.init(bucket: bucket, key: info.key, parts: parts, size: info.size, etag: info.etag,
                  lastModifiedMilliseconds: info.lastModifiedMilliseconds, partCount: info.partCount ?? parts.count,
                  checksums: info.attributes.checksums.map { ChecksumValue(algorithm: $0.algorithm, value: $0.value) },
                  versionID: info.versionID)
    }

    /// What the first Complete answered: ETag, size, Last-Modified, parts and checksums.
    var info: ObjectInfo {
        ObjectInfo(key: key, size: size, etag: etag, lastModifiedMilliseconds: lastModifiedMilliseconds,
                   attributes: ObjectAttributes(checksums: checksums.map { ($0.algorithm, $0.value) }),
                   partCount: partCount, versionID: versionID)
    }
}
