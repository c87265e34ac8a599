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
        let policy = try PolicyParser.parse(Array(data), bucket: bucket)
        if policy.isPublic, try await store.offLoop({ try $0.publicAccessBlock(bucket) })?.blockPublicPolicy == true {
            throw S3Error(.forbidden, "AccessDenied", "Access Denied: the bucket's PublicAccessBlock blocks public policies (BlockPublicPolicy)")
        }
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

/// Put/Get/DeletePublicAccessBlock (`?publicAccessBlock`, bucket level). BlockPublicPolicy
/// refuses a public PutBucketPolicy (403); RestrictPublicBuckets makes a public policy grant
/// nothing to unsigned requests. BlockPublicAcls and IgnorePublicAcls are kept trivially:
/// no public ACL can be set (public canned ACLs and grants are refused, 501).
extension Handlers {
    static let publicAccessBlockFields = ["BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"]

    func putPublicAccessBlock(_ bucket: String, _ s3: S3Request, auth: SigV4Authentication, body: RequestBody) async throws -> Response {
        guard let root = try await xmlBody(body, s3, auth: auth), root.name == "PublicAccessBlockConfiguration" else {
            throw S3Error.malformedXML("expected a PublicAccessBlockConfiguration element")
        }
        var values: [String: Bool] = [:]
        for child in root.children {
            guard Self.publicAccessBlockFields.contains(child.name) else {
                throw S3Error.malformedXML("unknown element \(child.name) in PublicAccessBlockConfiguration")
            }
            switch child.text.trimmingCharacters(in: .whitespaces).lowercased() {
            case "true": values[child.name] = true
            case "false": values[child.name] = false
            default: throw S3Error.malformedXML("\(child.name) is true or false")
            }
        }
        let block = PublicAccessBlock(blockPublicAcls: values["BlockPublicAcls"] ?? false,
                                      ignorePublicAcls: values["IgnorePublicAcls"] ?? false,
                                      blockPublicPolicy: values["BlockPublicPolicy"] ?? false,
                                      restrictPublicBuckets: values["RestrictPublicBuckets"] ?? false)
        try await store.setPublicAccessBlock(bucket, block)
        return Response(status: .ok)
    }

    func publicAccessBlock(_ bucket: String) async throws -> Response {
        guard let block = try await store.offLoop({ try $0.publicAccessBlock(bucket) }) else {
            throw S3Error(.notFound, "NoSuchPublicAccessBlockConfiguration", "The public access block configuration was not found")
        }
        var xml = XMLWriter()
        xml.element("PublicAccessBlockConfiguration", namespace: XMLWriter.s3Namespace) { xml in
            for (name, value) in zip(Self.publicAccessBlockFields, [block.blockPublicAcls, block.ignorePublicAcls,
                                                                    block.blockPublicPolicy, block.restrictPublicBuckets]) {
                xml.element(name, value ? "true" : "false")
            }
        }
        return xmlResponse(xml)
    }

    func deletePublicAccessBlock(_ bucket: String) async throws -> Response {
        try await store.setPublicAccessBlock(bucket, nil)
        return Response(status: .noContent)
    }
}
