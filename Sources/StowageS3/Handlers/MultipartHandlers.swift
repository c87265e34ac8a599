import Foundation
import HTTPTypes
import Hummingbird
import Stowage
import StowageChecksums

extension Handlers {
    func createMultipartUpload(_ bucket: String, _ key: String, _ s3: S3Request) async throws -> Response {
        var algorithm: S3ChecksumAlgorithm?
        if let name = s3.header("x-amz-checksum-algorithm") {
            guard let parsed = S3ChecksumAlgorithm(wireName: name) else {
                throw S3Error.invalidArgument("Checksum algorithm \(name) is not supported")
            }
            algorithm = parsed
        }
        let type = try Self.checksumType(s3)
        let (encryption, _) = try writeEncryption(s3)
        let acl = try await writeACL(s3, bucket: bucket)
        let (uploadID, applied) = try await store.beginMultipartUpload(
            bucket: bucket, key: key, attributes: try Self.attributes(s3), checksumAlgorithm: algorithm, checksumType: type,
            lock: try Self.lockHeaders(s3), tags: try Self.taggingHeader(s3) ?? [], encryption: encryption, acl: acl)
        var xml = XMLWriter()
        xml.element("InitiateMultipartUploadResult", namespace: XMLWriter.s3Namespace) { xml in
            xml.element("Bucket", bucket)
            xml.element("Key", key)
            xml.element("UploadId", uploadID)
        }
        var response = xmlResponse(xml)
        if let algorithm {
            response.headers[.init("x-amz-checksum-algorithm")!] = algorithm.wireName
            response.headers[.xAmzChecksumType] = (type ?? S3ChecksumType.defaultType(for: algorithm)).rawValue
        }
        Self.encryptionHeaders(applied?.stored, into: &response.headers)
        return response
    }

    func uploadPart(_ bucket: String, _ key: String, _ s3: S3Request, auth: SigV4Authentication,
                    body: RequestBody) async throws -> Response {
        let (uploadID, partNumber) = try Self.partTarget(s3)
        let length = try UploadBody.decodedLength(s3, auth)
        let checksums = try UploadBody.checksums(s3)
        let md5 = try Self.contentMD5(s3)
        let customerKey = try customerKey(s3, prefix: Self.customerPrefix)
        let writer = try await store.offLoop {
            try $0.beginUploadPart(bucket: bucket, key: key, uploadID: uploadID, partNumber: partNumber,
                                   sizeHint: length, expectedMD5: md5, checksumAlgorithms: checksums.compute,
                                   expectedChecksums: checksums.expected, customerKey: customerKey)
        }
        let (_, headers) = try await receive(body, into: writer, s3: s3, auth: auth, length: length)
        return Response(status: .ok, headers: headers)
    }

    func uploadPartCopy(_ bucket: String, _ key: String, _ s3: S3Request, source: String) async throws -> Response {
        let (uploadID, partNumber) = try Self.partTarget(s3)
        let (sourceBucket, sourceKey, sourceVersionID) = try Self.copySource(source)
        var range: ByteRange?
        if let text = s3.header("x-amz-copy-source-range") {
            guard let parsed = Self.parseRange(text), case .from(_, let last) = parsed, last != nil else {
                throw S3Error.invalidArgument("The x-amz-copy-source-range value must be of the form bytes=first-last")
            }
            range = parsed
        }
        let part = try await store.uploadPartCopy(bucket: bucket, key: key, uploadID: uploadID, partNumber: partNumber,
                                                  sourceBucket: sourceBucket, sourceKey: sourceKey,
                                                  sourceVersionID: sourceVersionID, range: range,
                                                  sourceConditions: Self.copySourceConditions(s3),
                                                  customerKey: try customerKey(s3, prefix: Self.customerPrefix),
                                                  sourceCustomerKey: try customerKey(s3, prefix: Self.copySourceCustomerPrefix))
        var xml = XMLWriter()
        xml.element("CopyPartResult", namespace: XMLWriter.s3Namespace) { xml in
            xml.element("ETag", "\"\(part.etag)\"")
            xml.element("LastModified", HTTPDate.iso8601(milliseconds: part.lastModifiedMilliseconds))
            if let checksum = part.checksum { xml.element("Checksum" + checksum.algorithm, checksum.value) }
        }
        var response = xmlResponse(xml)
        if let versionID = part.copySourceVersionID { response.headers[.xAmzCopySourceVersionID] = versionID }
        return response
    }

    /// `<CompleteMultipartUpload><Part><PartNumber/><ETag/></Part>…</CompleteMultipartUpload>`.
    /// A retry after a success whose answer was lost gets the same answer (the engine
    /// keeps each completion as long as client tokens).
    func completeMultipartUpload(_ bucket: String, _ key: String, _ s3: S3Request, auth: SigV4Authentication,
                                 body: RequestBody) async throws -> Response {
        guard let uploadID = s3.parameter("uploadId") else { throw S3Error.invalidArgument("uploadId is required") }
        let listed = try Self.completeParts(try await xmlBody(body, s3, auth: auth, checksumsOfBody: false))
        var checksums = CompletionChecksums(type: try Self.checksumType(s3))
        for part in listed where !part.checksums.isEmpty { checksums.parts[part.partNumber] = part.checksums }
        for algorithm in S3ChecksumAlgorithm.allCases {
            if let value = s3.header(algorithm.headerName) { checksums.object[algorithm] = value }
        }
        let info = try await store.completeMultipartUpload(bucket: bucket, key: key, uploadID: uploadID,
                                                           parts: listed.map { ($0.partNumber, $0.etag) },
                                                           conditions: Self.writeConditions(s3), checksums: checksums)
        var xml = XMLWriter()
        xml.element("CompleteMultipartUploadResult", namespace: XMLWriter.s3Namespace) { xml in
            xml.element("Location", "/\(bucket)/\(key)")
            xml.element("Bucket", bucket)
            xml.element("Key", key)
            xml.element("ETag", info.quotedETag)
            for (algorithm, value) in info.attributes.checksums { xml.element("Checksum" + algorithm, value) }
            if let (_, value) = info.attributes.checksums.first {
                xml.element("ChecksumType", S3ChecksumType(storedValue: value).rawValue)
            }
        }
        var response = xmlResponse(xml)
        if let versionID = info.versionID { response.headers[.xAmzVersionID] = versionID }
        Self.encryptionHeaders(info.attributes.serverSideEncryption, into: &response.headers)
        return response
    }

    func abortMultipartUpload(_ bucket: String, _ key: String, _ s3: S3Request) async throws -> Response {
        guard let uploadID = s3.parameter("uploadId") else { throw S3Error.invalidArgument("uploadId is required") }
        try await store.abortMultipartUpload(bucket: bucket, key: key, uploadID: uploadID)
        return Response(status: .noContent)
    }

    func listParts(_ bucket: String, _ key: String, _ s3: S3Request) async throws -> Response {
        guard let uploadID = s3.parameter("uploadId") else { throw S3Error.invalidArgument("uploadId is required") }
        let marker = try Self.integer(s3, "part-number-marker") ?? 0
        let maxParts = try Self.integer(s3, "max-parts") ?? Limits.maxListParts
        let (parts, truncated, upload) = try await store.offLoop {
            try $0.listParts(bucket: bucket, key: key, uploadID: uploadID, partNumberMarker: marker, maxParts: maxParts)
        }
        var xml = XMLWriter()
        xml.element("ListPartsResult", namespace: XMLWriter.s3Namespace) { xml in
            xml.element("Bucket", bucket)
            xml.element("Key", key)
            xml.element("UploadId", uploadID)
            xml.element("PartNumberMarker", String(marker))
            if let last = parts.last { xml.element("NextPartNumberMarker", String(last.partNumber)) }
            xml.element("MaxParts", String(maxParts))
            xml.element("IsTruncated", truncated ? "true" : "false")
            xml.element("StorageClass", upload.attributes.storageClass ?? "STANDARD")
            if let algorithm = upload.checksumAlgorithm { xml.element("ChecksumAlgorithm", algorithm) }
            if let type = upload.checksumType { xml.element("ChecksumType", type.rawValue) }
            for part in parts {
                xml.element("Part") { xml in
                    xml.element("PartNumber", String(part.partNumber))
                    xml.element("LastModified", HTTPDate.iso8601(milliseconds: part.lastModifiedMilliseconds))
                    xml.element("ETag", "\"\(part.etag)\"")
                    xml.element("Size", String(part.size))
                    if let checksum = part.checksum { xml.element("Checksum" + checksum.algorithm, checksum.value) }
                }
            }
        }
        return xmlResponse(xml)
    }

    func listMultipartUploads(_ bucket: String, _ s3: S3Request) async throws -> Response {
        let maxUploads = try Self.integer(s3, "max-uploads") ?? Limits.maxListUploads
        let prefix = s3.parameter("prefix") ?? ""
        let delimiter = s3.parameter("delimiter").flatMap { $0.isEmpty ? nil : $0 }
        let (keyMarker, uploadIDMarker) = (s3.parameter("key-marker"), s3.parameter("upload-id-marker"))
        let list = try await store.offLoop {
            try $0.listMultipartUploads(bucket: bucket, prefix: prefix, delimiter: delimiter, keyMarker: keyMarker,
                                        uploadIDMarker: uploadIDMarker, maxUploads: maxUploads)
        }
        var xml = XMLWriter()
        xml.element("ListMultipartUploadsResult", namespace: XMLWriter.s3Namespace) { xml in
            xml.element("Bucket", bucket)
            xml.element("KeyMarker", s3.parameter("key-marker") ?? "")
            xml.element("UploadIdMarker", s3.parameter("upload-id-marker") ?? "")
            if list.isTruncated, let last = list.uploads.last {
                xml.element("NextKeyMarker", last.key)
                xml.element("NextUploadIdMarker", last.uploadID)
            }
            xml.element("Prefix", prefix)
            if let delimiter { xml.element("Delimiter", delimiter) }
            xml.element("MaxUploads", String(maxUploads))
            xml.element("IsTruncated", list.isTruncated ? "true" : "false")
            for upload in list.uploads {
                xml.element("Upload") { xml in
                    xml.element("Key", upload.key)
                    xml.element("UploadId", upload.uploadID)
                    xml.element("Initiator") { xml in
                        xml.element("ID", Self.owner.id)
                        xml.element("DisplayName", Self.owner.displayName)
                    }
                    xml.element("Owner") { xml in
                        xml.element("ID", Self.owner.id)
                        xml.element("DisplayName", Self.owner.displayName)
                    }
                    xml.element("StorageClass", upload.attributes.storageClass ?? "STANDARD")
                    xml.element("Initiated", HTTPDate.iso8601(milliseconds: upload.initiatedMilliseconds))
                    if let algorithm = upload.checksumAlgorithm { xml.element("ChecksumAlgorithm", algorithm) }
                    if let type = upload.checksumType { xml.element("ChecksumType", type.rawValue) }
                }
            }
            for common in list.commonPrefixes {
                xml.element("CommonPrefixes") { xml in xml.element("Prefix", common) }
            }
        }
        return xmlResponse(xml)
    }

    /// One `<Part>` of a CompleteMultipartUpload: number, ETag, and its `<ChecksumXXX>`s.
    struct ListedPart {
        var partNumber: Int
        var etag: String
        var checksums: [S3ChecksumAlgorithm: String]
    }

    /// The body of CompleteMultipartUpload: the parts listed (order checked by the engine).
    static func completeParts(_ root: XMLNode?) throws -> [ListedPart] {
        guard let root, root.name == "CompleteMultipartUpload" else {
            throw S3Error.malformedXML("expected a CompleteMultipartUpload element")
        }
        let parts = try root.all("Part").map { part -> ListedPart in
            guard let number = part.child("PartNumber").flatMap({ Int($0.text.trimmingCharacters(in: .whitespacesAndNewlines)) }),
                  let etag = part.child("ETag")?.text.trimmingCharacters(in: .whitespacesAndNewlines) else {
                throw S3Error.malformedXML("every Part needs a PartNumber and an ETag")
            }
            var checksums: [S3ChecksumAlgorithm: String] = [:]
            for algorithm in S3ChecksumAlgorithm.allCases {
                if let value = part.child("Checksum" + algorithm.wireName)?.text {
                    checksums[algorithm] = value.trimmingCharacters(in: .whitespacesAndNewlines)
                }
            }
            return ListedPart(partNumber: number, etag: etag, checksums: checksums)
        }
        guard !parts.isEmpty else { throw S3Error.malformedXML("a CompleteMultipartUpload lists at least one Part") }
        return parts
    }

    /// `x-amz-checksum-type` (CreateMultipartUpload, CompleteMultipartUpload).
    static func checksumType(_ s3: S3Request) throws -> S3ChecksumType? {
        guard let text = s3.header("x-amz-checksum-type") else { return nil }
        guard let type = S3ChecksumType(wireName: text.trimmingCharacters(in: .whitespaces)) else {
            throw S3Error(.badRequest, "InvalidRequest", "Value for x-amz-checksum-type header is invalid: \(text)")
        }
        return type
    }

    static func partTarget(_ s3: S3Request) throws -> (String, Int) {
        guard let uploadID = s3.parameter("uploadId") else { throw S3Error.invalidArgument("uploadId is required") }
        guard let number = s3.parameter("partNumber").flatMap({ Int($0) }) else {
            throw S3Error.invalidArgument("Part number must be an integer between 1 and 10000, inclusive")
        }
        return (uploadID, number)
    }

    static func integer(_ s3: S3Request, _ name: String) throws -> Int? {
        guard let text = s3.parameter(name) else { return nil }
        guard let value = Int(text), value >= 0 else { throw S3Error.invalidArgument("\(name) must be a non-negative integer") }
        return value
    }
}
