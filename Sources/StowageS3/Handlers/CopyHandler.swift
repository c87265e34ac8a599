import Foundation
import HTTPTypes
import Hummingbird
import Stowage
import StowageChecksums

extension Handlers {
    /// CopyObject: a new key on the same blob; answers CopyObjectResult.
    func copyObject(_ bucket: String, _ key: String, _ s3: S3Request, source: String) async throws -> Response {
        let (sourceBucket, sourceKey, sourceVersionID) = try Self.copySource(source)
        let directiveText = s3.header("x-amz-metadata-directive") ?? "COPY"
        guard let directive = CopyRequest.MetadataDirective(rawValue: directiveText) else {
            throw S3Error.invalidArgument("Unknown metadata directive \(directiveText)")
        }
        var request = CopyRequest(sourceBucket: sourceBucket, sourceKey: sourceKey, bucket: bucket, key: key,
                                  directive: directive, attributes: try Self.attributes(s3),
                                  sourceConditions: Self.copySourceConditions(s3), conditions: Self.writeConditions(s3),
                                  checksumAlgorithm: try s3.header("x-amz-checksum-algorithm").map { name in
                                      guard let algorithm = S3ChecksumAlgorithm(wireName: name) else {
                                          throw S3Error.invalidArgument("Checksum algorithm \(name) is not supported")
                                      }
                                      return algorithm.wireName
                                  })
        request.sourceVersionID = sourceVersionID
        request.lock = try Self.lockHeaders(s3)
        request.acl = try await writeACL(s3, bucket: bucket)
        (request.encryption, request.customerKey) = try writeEncryption(s3)
        request.sourceCustomerKey = try customerKey(s3, prefix: Self.copySourceCustomerPrefix)
        switch s3.header("x-amz-tagging-directive") ?? "COPY" {
        case "COPY": request.tags = nil
        case "REPLACE": request.tags = try Self.taggingHeader(s3) ?? []
        case let other: throw S3Error.invalidArgument("Unknown tagging directive \(other)")
        }
        let result = try await store.copyObject(request)
        let info = result.object
        var xml = XMLWriter()
        xml.element("CopyObjectResult", namespace: XMLWriter.s3Namespace) { xml in
            xml.element("ETag", info.quotedETag)
            xml.element("LastModified", HTTPDate.iso8601(milliseconds: info.lastModifiedMilliseconds))
            for (algorithm, value) in info.attributes.checksums { xml.element("Checksum" + algorithm, value) }
        }
        var response = xmlResponse(xml)
        if let versionID = info.versionID { response.headers[.xAmzVersionID] = versionID }
        if let versionID = result.sourceVersionID { response.headers[.xAmzCopySourceVersionID] = versionID }
        Self.encryptionHeaders(info.attributes.serverSideEncryption, into: &response.headers)
        return response
    }

    /// `x-amz-copy-source`: `bucket/key` or `/bucket/key`, URL-encoded, optionally with
    /// `?versionId=ID` (that version of the source).
    static func copySource(_ header: String) throws -> (bucket: String, key: String, versionID: String?) {
        var value = header
        var versionID: String?
        if let question = value.firstIndex(of: "?") {
            let query = value[value.index(after: question)...]
            guard query.hasPrefix("versionId="), query.count > "versionId=".count else {
                throw S3Error.invalidArgument("x-amz-copy-source takes only ?versionId=ID after the key")
            }
            versionID = PercentDecoding.string(String(query.dropFirst("versionId=".count)))
            value = String(value[..<question])
        }
        let decoded = PercentDecoding.string(value) ?? value
        let trimmed = decoded.hasPrefix("/") ? String(decoded.dropFirst()) : decoded
        guard let slash = trimmed.firstIndex(of: "/"), slash != trimmed.startIndex,
              trimmed.index(after: slash) != trimmed.endIndex else {
            throw S3Error.invalidArgument("Copy Source must mention the source bucket and key: sourcebucket/sourcekey")
        }
        return (String(trimmed[..<slash]), String(trimmed[trimmed.index(after: slash)...]), versionID)
    }

    static func copySourceConditions(_ s3: S3Request) -> ObjectConditions {
        ObjectConditions(
            ifMatch: s3.header("x-amz-copy-source-if-match").map(ETagCondition.init(header:)),
            ifNoneMatch: s3.header("x-amz-copy-source-if-none-match").map(ETagCondition.init(header:)),
            ifModifiedSince: s3.header("x-amz-copy-source-if-modified-since").flatMap(HTTPDate.parse),
            ifUnmodifiedSince: s3.header("x-amz-copy-source-if-unmodified-since").flatMap(HTTPDate.parse))
    }
}
