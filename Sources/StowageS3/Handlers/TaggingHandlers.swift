import Foundation
import HTTPTypes
import Hummingbird
import Stowage

/// Object tagging (`?tagging` on an object, by `versionId` too), bucket tagging (`?tagging`
/// on a bucket), the `x-amz-tagging` header of writes and `x-amz-tagging-count` on reads.
extension Handlers {
    func objectTagging(_ bucket: String, _ key: String, _ s3: S3Request) async throws -> Response {
        let versionID = s3.parameter("versionId")
        let (tags, shown) = try await store.offLoop { try $0.objectTagging(bucket: bucket, key: key, versionID: versionID) }
        var response = xmlResponse(Self.taggingDocument(tags))
        if let shown { response.headers[.xAmzVersionID] = shown }
        return response
    }

    func putObjectTagging(_ bucket: String, _ key: String, _ s3: S3Request, auth: SigV4Authentication,
                          body: RequestBody) async throws -> Response {
        let tags = try Self.tagSet(try await xmlBody(body, s3, auth: auth))
        let shown = try await store.setObjectTagging(bucket: bucket, key: key, versionID: s3.parameter("versionId"), tags: tags)
        return Response(status: .ok, headers: shown.map { [.xAmzVersionID: $0] } ?? [:])
    }

    func deleteObjectTagging(_ bucket: String, _ key: String, _ s3: S3Request) async throws -> Response {
        let shown = try await store.setObjectTagging(bucket: bucket, key: key, versionID: s3.parameter("versionId"), tags: [])
        return Response(status: .noContent, headers: shown.map { [.xAmzVersionID: $0] } ?? [:])
    }

    func bucketTagging(_ bucket: String) async throws -> Response {
        let tags = try await store.offLoop { try $0.bucketTagging(bucket) }
        return xmlResponse(Self.taggingDocument(tags))
    }

    func putBucketTagging(_ bucket: String, _ s3: S3Request, auth: SigV4Authentication, body: RequestBody) async throws -> Response {
        let tags = try Self.tagSet(try await xmlBody(body, s3, auth: auth))
        guard !tags.isEmpty else { throw S3Error.malformedXML("a bucket's TagSet has at least one Tag") }
        try await store.setBucketTagging(bucket, tags: tags)
        return Response(status: .noContent)
    }

    func deleteBucketTagging(_ bucket: String) async throws -> Response {
        try await store.setBucketTagging(bucket, tags: [])
        return Response(status: .noContent)
    }

    static func taggingDocument(_ tags: [ObjectTag]) -> XMLWriter {
        var xml = XMLWriter()
        xml.element("Tagging", namespace: XMLWriter.s3Namespace) { xml in
            xml.element("TagSet") { xml in
                for tag in tags {
                    xml.element("Tag") { xml in
                        xml.element("Key", tag.key)
                        xml.element("Value", tag.value)
                    }
                }
            }
        }
        return xml
    }

    /// `<Tagging><TagSet><Tag><Key/><Value/></Tag>…</TagSet></Tagging>`.
    static func tagSet(_ root: XMLNode?) throws -> [ObjectTag] {
        guard let root, root.name == "Tagging", let set = root.child("TagSet") else {
            throw S3Error.malformedXML("expected <Tagging><TagSet>…</TagSet></Tagging>")
        }
        return try set.all("Tag").map { tag in
            guard let key = tag.child("Key")?.text, let value = tag.child("Value")?.text else {
                throw S3Error.malformedXML("a Tag has a Key and a Value")
            }
            return ObjectTag(key: key, value: value)
        }
    }

    /// `x-amz-tagging`: URL query form, `k1=v1&k2=v2`, each part URL-encoded.
    static func taggingHeader(_ s3: S3Request) throws -> [ObjectTag]? {
        guard let header = s3.header("x-amz-tagging") else { return nil }
        return try header.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) throws -> String {
                guard let decoded = PercentDecoding.string(text, plusIsSpace: true) else {
                    throw S3Error.invalidArgument("x-amz-tagging is not valid URL encoding")
                }
                return decoded
            }
            return ObjectTag(key: try decode(parts[0]), value: parts.count > 1 ? try decode(parts[1]) : "")
        }
    }
}
