import Foundation
import HTTPTypes
import Hummingbird
import Stowage
import StowageChecksums

extension Handlers {
    static let storageClasses: Set<String> = [
        "STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER",
        "DEEP_ARCHIVE", "OUTPOSTS", "GLACIER_IR", "SNOW", "EXPRESS_ONEZONE",
    ]

    func putObject(_ bucket: String, _ key: String, _ s3: S3Request, auth: SigV4Authentication,
                   body: RequestBody) async throws -> Response {
        let length = try UploadBody.decodedLength(s3, auth)
        let checksums = try UploadBody.checksums(s3)
        var request = PutRequest(bucket: bucket, key: key, attributes: try Self.attributes(s3),
                                 conditions: Self.writeConditions(s3), sizeHint: length,
                                 expectedMD5: try Self.contentMD5(s3),
                                 checksumAlgorithms: checksums.compute, expectedChecksums: checksums.expected)
        request.sizeHint = length
        request.lock = try Self.lockHeaders(s3)
        request.tags = try Self.taggingHeader(s3) ?? []
        request.acl = try await writeACL(s3, bucket: bucket)
        (request.encryption, request.customerKey) = try writeEncryption(s3)
        let writer = try await store.offLoop { [request] in try $0.beginPut(request) }
        var (info, headers) = try await receive(body, into: writer, s3: s3, auth: auth, length: length)
        // A single PUT's checksum is always of the whole object.
        if !info.attributes.checksums.isEmpty { headers[.xAmzChecksumType] = S3ChecksumType.fullObject.rawValue }
        return Response(status: .ok, headers: headers)
    }

    /// Streams a PUT or UploadPart body into `writer` and commits it (aborting on any
    /// failure); returns what was stored and the ETag and checksum headers both answer with.
    func receive(_ body: RequestBody, into writer: ObjectWriter, s3: S3Request, auth: SigV4Authentication,
                 length: UInt64?) async throws -> (ObjectInfo, HTTPFields) {
        let info: ObjectInfo
        do {
            let trailing = try await UploadBody.stream(body, into: writer, s3: s3, auth: auth, decodedLength: length)
            info = try await writer.finish(trailingChecksums: trailing)
        } catch {
            await writer.abort()
            throw error
        }
        var headers: HTTPFields = [.eTag: info.quotedETag]
        if let versionID = info.versionID { headers[.xAmzVersionID] = versionID }
        Self.encryptionHeaders(info.attributes.serverSideEncryption, into: &headers)
        for (algorithm, value) in info.attributes.checksums {
            if let name = HTTPField.Name("x-amz-checksum-" + algorithm.lowercased()) { headers[name] = value }
        }
        return (info, headers)
    }

    func getObject(_ bucket: String, _ key: String, _ s3: S3Request, isHead: Bool) async throws -> Response {
        let partNumber = try s3.parameter("partNumber").map { text -> Int in
            guard let number = Int(text), (1...Limits.maxPartNumber).contains(number) else {
                throw S3Error.invalidArgument("Part number must be an integer between 1 and \(Limits.maxPartNumber), inclusive")
            }
            return number
        }
        let range = Self.range(s3)
        if partNumber != nil && range != nil {
            throw S3Error(.badRequest, "InvalidRequest", "Cannot specify both Range header and partNumber query parameter")
        }
        let versionID = s3.parameter("versionId")
        let customerKey = try customerKey(s3, prefix: Self.customerPrefix)
        if isHead && partNumber == nil && range == nil {
            let conditions = Self.readConditions(s3)
            let info = try await store.offLoop {
                try $0.headObject(bucket: bucket, key: key, versionID: versionID, conditions: conditions, customerKey: customerKey)
            }
            var headers = Self.objectHeaders(info, s3)
            headers[.contentLength] = String(info.size)
            return Response(status: .ok, headers: headers)
        }
        let conditions = Self.readConditions(s3)
        let read = try await store.offLoop {
            try $0.getObject(bucket: bucket, key: key, versionID: versionID, range: range, partNumber: partNumber,
                             conditions: conditions, customerKey: customerKey)
        }
        var headers = Self.objectHeaders(read.info, s3, whole: !read.isPartial)
        let length = Int(read.range.count)
        headers[.contentLength] = String(length)
        if read.isPartial {
            headers[.contentRange] = "bytes \(read.range.lowerBound)-\(read.range.upperBound - 1)/\(read.info.size)"
        }
        guard !isHead else { return Response(status: read.isPartial ? .partialContent : .ok, headers: headers) }
        // A request task suspends on its socket between requests, so small chunks already
        // in memory may be served on its own thread.
        let status: HTTPResponse.Status = read.isPartial ? .partialContent : .ok
        if let bytes = try read.body.residentSmallBytes() {
            // A small object already in memory: head, body and end go to the connection in
            // one batched write (Hummingbird's path for a single buffer), one `writev`.
            var buffer = ByteBufferAllocator().buffer(capacity: bytes.count)
            bytes.withUnsafeBytes { _ = buffer.writeBytes($0) }
            return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: buffer))
        }
        let objectBody = read.body.inliningSmallResidentChunks()
        let pacing = ResponsePacing(connectionLoop)
        let body = ResponseBody(contentLength: length) { writer in
            for try await piece in objectBody {
                var buffer = ByteBufferAllocator().buffer(capacity: piece.count)
                piece.withUnsafeBytes { _ = buffer.writeBytes($0) }
                try await writer.write(buffer)
                try await pacing.wrote(piece.count)
            }
            try await writer.finish(nil)
        }
        return Response(status: status, headers: headers, body: body)
    }

    func deleteObject(_ bucket: String, _ key: String, _ s3: S3Request) async throws -> Response {
        let result = try await store.deleteObject(bucket: bucket, key: key, versionID: s3.parameter("versionId"),
                                                  ifMatch: s3.headers[.ifMatch].map(ETagCondition.init(header:)),
                                                  bypassGovernance: Self.bypassesGovernance(s3))
        var headers: HTTPFields = [:]
        if let versionID = result.versionID { headers[.xAmzVersionID] = versionID }
        if result.isDeleteMarker { headers[.xAmzDeleteMarker] = "true" }
        return Response(status: .noContent, headers: headers)
    }

    /// DeleteObjects: `<Delete><Quiet/><Object><Key/><VersionId/><ETag/></Object>…</Delete>`.
    /// A `VersionId` deletes that version for good; without one, a versioned bucket gets a
    /// delete marker. The conditions not built (`LastModifiedTime`, `Size`) are that key's
    /// error, and nothing is deleted for it.
    func deleteObjects(_ bucket: String, _ s3: S3Request, auth: SigV4Authentication, body: RequestBody) async throws -> Response {
        var (quiet, entries) = try Self.deleteRequest(try await xmlBody(body, s3, auth: auth))
        let bypass = Self.bypassesGovernance(s3)
        for i in entries.indices { entries[i].target.bypassGovernance = bypass }
        let accepted = entries.enumerated().filter { $0.element.refusal == nil }
        let done = try await store.deleteObjects(bucket: bucket, targets: accepted.map(\.element.target))
        var outcomes: [(key: String, versionID: String?, error: S3Error?, result: DeleteResult)] =
            entries.map { ($0.target.key, $0.target.versionID, $0.refusal, DeleteResult()) }
        for ((position, _), outcome) in zip(accepted, done) {
            outcomes[position].error = outcome.error.map(S3Error.init)
            outcomes[position].result = outcome.result
        }
        var xml = XMLWriter()
        xml.element("DeleteResult", namespace: XMLWriter.s3Namespace) { xml in
            for outcome in outcomes {
                if let error = outcome.error {
                    xml.element("Error") { xml in
                        xml.element("Key", outcome.key)
                        if let versionID = outcome.versionID { xml.element("VersionId", versionID) }
                        xml.element("Code", error.code)
                        xml.element("Message", error.message)
                    }
                } else if !quiet {
                    xml.element("Deleted") { xml in
                        xml.element("Key", outcome.key)
                        if let versionID = outcome.versionID { xml.element("VersionId", versionID) }
                        if outcome.result.isDeleteMarker {
                            xml.element("DeleteMarker", "true")
                            if let markerID = outcome.result.versionID { xml.element("DeleteMarkerVersionId", markerID) }
                        }
                    }
                }
            }
        }
        return xmlResponse(xml)
    }

    struct DeleteEntry {
        var target: DeleteTarget
        /// Why this key is not deleted, decided before the engine runs.
        var refusal: S3Error?
    }

    /// The body of DeleteObjects: Quiet, and the objects (1 to 1,000).
    static func deleteRequest(_ root: XMLNode?) throws(S3Error) -> (quiet: Bool, entries: [DeleteEntry]) {
        guard let root, root.name == "Delete" else {
            throw S3Error.malformedXML("expected a Delete element")
        }
        let quiet = root.child("Quiet")?.text.trimmingCharacters(in: .whitespaces).lowercased() == "true"
        let entries = root.all("Object").map { object -> DeleteEntry in
            var entry = DeleteEntry(target: DeleteTarget(key: object.child("Key")?.text ?? "",
                                                         versionID: object.child("VersionId")?.text,
                                                         ifMatch: object.child("ETag").map { ETagCondition(header: $0.text) }))
            if let unbuilt = ["LastModifiedTime", "Size"].first(where: { object.child($0) != nil }) {
                entry.refusal = S3Error.notImplemented("DeleteObjects with a \(unbuilt) condition")
            }
            return entry
        }
        guard !entries.isEmpty, entries.count <= Limits.maxDeleteKeys else {
            throw S3Error.malformedXML("a Delete request names 1 to \(Limits.maxDeleteKeys) objects")
        }
        return (quiet, entries)
    }

    // MARK: Headers

    /// Content-Encoding as sent, byte for byte, less the `aws-chunked` coding, which frames
    /// this request and is no property of the object (nil when nothing else is left).
    static func storedContentEncoding(_ sent: String) -> String? {
        let codings = sent.split(separator: ",", omittingEmptySubsequences: false)
        let kept = codings.filter { $0.trimmingCharacters(in: .whitespaces).lowercased() != "aws-chunked" }
        guard kept.count != codings.count else { return sent }
        let rest = kept.joined(separator: ",").trimmingCharacters(in: .whitespaces)
        return rest.isEmpty ? nil : rest
    }

    /// Content headers, user metadata and storage class from a PUT (encryption headers are
    /// refused by `WirePromises` until encryption is built).
    static func attributes(_ s3: S3Request) throws -> ObjectAttributes {
        var attributes = ObjectAttributes()
        attributes.contentType = s3.headers[.contentType]
        attributes.contentEncoding = s3.headers[.contentEncoding].flatMap(Self.storedContentEncoding)
        attributes.contentDisposition = s3.headers[.contentDisposition]
        attributes.contentLanguage = s3.headers[.contentLanguage]
        attributes.cacheControl = s3.headers[.cacheControl]
        attributes.expires = s3.headers[.expires]
        for field in s3.headers where field.name.canonicalName.hasPrefix("x-amz-meta-") {
            attributes.userMetadata.append((String(field.name.canonicalName.dropFirst("x-amz-meta-".count)), field.value))
        }
        if let storageClass = s3.header("x-amz-storage-class") {
            guard storageClasses.contains(storageClass) else {
                throw S3Error(.badRequest, "InvalidStorageClass", "The storage class you specified is not valid")
            }
            attributes.storageClass = storageClass == "STANDARD" ? nil : storageClass
        }
        return attributes
    }

    static func contentMD5(_ s3: S3Request) throws -> [UInt8]? {
        guard let value = s3.headers[.init("content-md5")!] else { return nil }
        guard let data = Data(base64Encoded: value), data.count == 16 else {
            throw S3Error(.badRequest, "InvalidDigest", "The Content-MD5 you specified was invalid.")
        }
        return Array(data)
    }

    static func writeConditions(_ s3: S3Request) -> WriteConditions {
        WriteConditions(ifMatch: s3.headers[.ifMatch].map(ETagCondition.init(header:)),
                        ifNoneMatch: s3.headers[.ifNoneMatch].map(ETagCondition.init(header:)))
    }

    static func readConditions(_ s3: S3Request) -> ObjectConditions {
        ObjectConditions(ifMatch: s3.headers[.ifMatch].map(ETagCondition.init(header:)),
                         ifNoneMatch: s3.headers[.ifNoneMatch].map(ETagCondition.init(header:)),
                         ifModifiedSince: s3.headers[.ifModifiedSince].flatMap(HTTPDate.parse),
                         ifUnmodifiedSince: s3.headers[.ifUnmodifiedSince].flatMap(HTTPDate.parse))
    }

    /// `Range: bytes=first-last | first- | -suffix`. Other forms (several ranges, other
    /// units, bad syntax) are ignored and the whole object is served, as HTTP allows.
    static func range(_ s3: S3Request) -> ByteRange? {
        s3.headers[.range].flatMap(parseRange)
    }

    static func parseRange(_ header: String) -> ByteRange? {
        let value = header.trimmingCharacters(in: .whitespaces)
        guard value.hasPrefix("bytes="), !value.contains(",") else { return nil }
        let spec = value.dropFirst("bytes=".count)
        guard let dash = spec.firstIndex(of: "-") else { return nil }
        let first = spec[..<dash].trimmingCharacters(in: .whitespaces)
        let last = spec[spec.index(after: dash)...].trimmingCharacters(in: .whitespaces)
        if first.isEmpty { return UInt64(last).map { .suffix(length: $0) } }
        guard let start = UInt64(first) else { return nil }
        if last.isEmpty { return .from(first: start, last: nil) }
        guard let end = UInt64(last), end >= start else { return nil }
        return .from(first: start, last: end)
    }

    /// GET/HEAD response headers, with `response-*` overrides; checksums only when asked
    /// for with `x-amz-checksum-mode: ENABLED` and the whole object is served.
    static func objectHeaders(_ info: ObjectInfo, _ s3: S3Request, whole: Bool = true) -> HTTPFields {
        // Every GET and HEAD comes here: fields appended (each name once), not set through
        // the subscript that looks each up first, and the query searched for `response-*`
        // parameters only when it has one.
        let overrides = s3.query.contains { $0.name.hasPrefix("response-") }
        func value(_ stored: String?, overriddenBy parameter: String) -> String? {
            (overrides ? s3.parameter(parameter) : nil) ?? stored
        }
        let a = info.attributes
        var headers = HTTPFields()
        headers.reserveCapacity(8)
        headers.append(HTTPField(name: .eTag, value: info.quotedETag))
        headers.append(HTTPField(name: .lastModified, value: HTTPDate.format(milliseconds: info.lastModifiedMilliseconds)))
        headers.append(HTTPField(name: .acceptRanges, value: "bytes"))
        headers.append(HTTPField(name: .contentType,
                                 value: value(a.contentType, overriddenBy: "response-content-type") ?? "binary/octet-stream"))
        if let versionID = info.versionID { headers.append(HTTPField(name: .xAmzVersionID, value: versionID)) }
        encryptionHeaders(a.serverSideEncryption, into: &headers)
        lockResponseHeaders(info.lock, into: &headers)
        if !info.tags.isEmpty { headers.append(HTTPField(name: .xAmzTaggingCount, value: String(info.tags.count))) }
        func add(_ name: HTTPField.Name, _ stored: String?, overriddenBy parameter: String) {
            if let value = value(stored, overriddenBy: parameter) { headers.append(HTTPField(name: name, value: value)) }
        }
        add(.contentEncoding, a.contentEncoding, overriddenBy: "response-content-encoding")
        add(.contentDisposition, a.contentDisposition, overriddenBy: "response-content-disposition")
        add(.contentLanguage, a.contentLanguage, overriddenBy: "response-content-language")
        add(.cacheControl, a.cacheControl, overriddenBy: "response-cache-control")
        add(.expires, a.expires, overriddenBy: "response-expires")
        for (name, value) in a.userMetadata {
            if let field = HTTPField.Name("x-amz-meta-" + name) { headers[field] = value }
        }
        if let storageClass = a.storageClass { headers.append(HTTPField(name: .xAmzStorageClass, value: storageClass)) }
        if let parts = info.partCount { headers.append(HTTPField(name: .xAmzMultipartPartsCount, value: String(parts))) }
        if whole, s3.headers[.xAmzChecksumMode]?.uppercased() == "ENABLED" {
            for (algorithm, value) in a.checksums {
                if let field = HTTPField.Name("x-amz-checksum-" + algorithm.lowercased()) { headers[field] = value }
            }
            if let (_, value) = a.checksums.first {
                headers[.xAmzChecksumType] = S3ChecksumType(storedValue: value).rawValue
            }
        }
        return headers
    }
}

extension Handlers {
    static let objectAttributeNames: Set<String> = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"]

    /// GetObjectAttributes (`GET /{bucket}/{key}?attributes`, `versionId` too): what
    /// `x-amz-object-attributes` names, from the index alone. ObjectParts lists the parts'
    /// sizes, paged by `x-amz-max-parts` and `x-amz-part-number-marker`; per-part checksums
    /// are not kept after Complete, so a part shows its number and size only.
    func objectAttributes(_ bucket: String, _ key: String, _ s3: S3Request) async throws -> Response {
        let wanted = Set((s3.header("x-amz-object-attributes") ?? "").split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
        guard !wanted.isEmpty else { throw S3Error.invalidArgument("x-amz-object-attributes names at least one attribute") }
        if let unknown = wanted.subtracting(Self.objectAttributeNames).sorted().first {
            throw S3Error.invalidArgument("Invalid attribute name specified: \(unknown)")
        }
        func count(_ header: String, _ fallback: Int) throws -> Int {
            guard let text = s3.header(header) else { return fallback }
            guard let value = Int(text), value >= 0 else { throw S3Error.invalidArgument("\(header) must be a non-negative integer") }
            return value
        }
        let maxParts = min(try count("x-amz-max-parts", Limits.maxListParts), Limits.maxListParts)
        let marker = try count("x-amz-part-number-marker", 0)
        let versionID = s3.parameter("versionId")
        let customerKey = try customerKey(s3, prefix: Self.customerPrefix)
        let (info, partSizes) = try await store.offLoop {
            try $0.objectAttributes(bucket: bucket, key: key, versionID: versionID, customerKey: customerKey)
        }
        var xml = XMLWriter()
        xml.element("GetObjectAttributesResponse", namespace: XMLWriter.s3Namespace) { xml in
            if wanted.contains("ETag") { xml.element("ETag", info.etag) }
            if wanted.contains("Checksum"), !info.attributes.checksums.isEmpty {
                xml.element("Checksum") { xml in
                    for (algorithm, value) in info.attributes.checksums { xml.element("Checksum" + algorithm, value) }
                    xml.element("ChecksumType", S3ChecksumType(storedValue: info.attributes.checksums[0].value).rawValue)
                }
            }
            if wanted.contains("ObjectParts"), !partSizes.isEmpty {
                let page = partSizes.enumerated().map { (number: $0.offset + 1, size: $0.element) }
                    .filter { $0.number > marker }.prefix(maxParts)
                let truncated = (page.last?.number ?? marker) < partSizes.count
                xml.element("ObjectParts") { xml in
                    xml.element("PartsCount", String(partSizes.count))   // botocore: TotalPartsCount
                    xml.element("PartNumberMarker", String(marker))
                    xml.element("NextPartNumberMarker", String(page.last?.number ?? marker))
                    xml.element("MaxParts", String(maxParts))
                    xml.element("IsTruncated", truncated ? "true" : "false")
                    for part in page {
                        xml.element("Part") { xml in
                            xml.element("PartNumber", String(part.number))
                            xml.element("Size", String(part.size))
                        }
                    }
                }
            }
            if wanted.contains("StorageClass") { xml.element("StorageClass", info.attributes.storageClass ?? "STANDARD") }
            if wanted.contains("ObjectSize") { xml.element("ObjectSize", String(info.size)) }
        }
        var response = xmlResponse(xml)
        response.headers[.lastModified] = HTTPDate.format(milliseconds: info.lastModifiedMilliseconds)
        if let versionID = info.versionID { response.headers[.xAmzVersionID] = versionID }
        return response
    }
}
