import Foundation
import HTTPTypes
import Hummingbird
import Stowage

/// Put/Get/DeleteBucketPolicy (`?policy`) and GetBucketPolicyStatus (`?policyStatus`).
/// The policy is checked whole at Put (`PolicyParser`: MalformedPolicy naming what is
/// wrong) and kept as sent; `Authorization` evaluates it on every request to the bucket.
extension Handlers {
    func putBucketPolicy(_ bucket: String, _ s3: S3Request, auth: SigV4Authentication, body: RequestBody) async throws -> Response {
        let data = try await Self.smallBody(body, s3, auth: auth, limit: PolicyParser.maxBytes + 1)
        guard !data.isEmpty else { throw PolicyParser.malformed("The policy is empty") }
        _ = try PolicyParser.parse(Array(data), bucket: bucket)
        try await store.setBucketPolicy(bucket, Array(data))
        return Response(status: .noContent)
    }

    func bucketPolicy(_ bucket: String) async throws -> Response {
        guard let text = try await store.offLoop({ try $0.bucketPolicy(bucket) }) else {
            throw S3Error(.notFound, "NoSuchBucketPolicy", "The bucket policy does not exist")
        }
        return Response(status: .ok, headers: [.contentType: "application/json"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: text)))
    }

    func deleteBucketPolicy(_ bucket: String) async throws -> Response {
        try await store.setBucketPolicy(bucket, nil)
        return Response(status: .noContent)
    }

    func bucketPolicyStatus(_ bucket: String) async throws -> Response {
        guard let text = try await store.offLoop({ try $0.bucketPolicy(bucket) }) else {
            throw S3Error(.notFound, "NoSuchBucketPolicy", "The bucket policy does not exist")
        }
        let policy = try PolicyParser.parse(text, bucket: bucket)
        var xml = XMLWriter()
        xml.element("PolicyStatus", namespace: XMLWriter.s3Namespace) { xml in
            xml.element("IsPublic", policy.isPublic ? "true" : "false")
        }
        return xmlResponse(xml)
    }
}
