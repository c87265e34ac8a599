import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Stowage

/// The handlers: each parses its request, calls the engine, renders the answer.
struct Handlers {
    let store: ObjectStore
    let region: String
    let logger: Logger

    /// Largest XML request body read into memory (DeleteObjects with 1000 long keys fits).
    static let maxXMLBodyBytes = 2 << 20
    static let owner = (id: "stowage", displayName: "stowage")

    func xmlResponse(_ writer: XMLWriter, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/xml"],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: writer.document)))
    }

    /// Reads a small XML body whole (bounded), or answers MalformedXML.
    func xmlBody(_ body: RequestBody) async throws -> XMLNode? {
        var buffer = ByteBuffer()
        for try await piece in body {
            guard buffer.readableBytes + piece.readableBytes <= Self.maxXMLBodyBytes else {
                throw S3Error.malformedXML("the request body is larger than \(Self.maxXMLBodyBytes) bytes")
            }
            buffer.writeImmutableBuffer(piece)
        }
        guard buffer.readableBytes > 0 else { return nil }
        guard let node = XMLNode.parse(Data(buffer.readableBytesView)) else {
            throw S3Error.malformedXML("not well-formed")
        }
        return node
    }

    func listBuckets() throws -> Response {
        let buckets = try store.listBuckets()
        var xml = XMLWriter()
        xml.element("ListAllMyBucketsResult", namespace: XMLWriter.s3Namespace) { xml in
            xml.element("Owner") { xml in
                xml.element("ID", Self.owner.id)
                xml.element("DisplayName", Self.owner.displayName)
            }
            xml.element("Buckets") { xml in
                for bucket in buckets {
                    xml.element("Bucket") { xml in
                        xml.element("Name", bucket.name)
                        xml.element("CreationDate", HTTPDate.iso8601(milliseconds: bucket.createdMilliseconds))
                    }
                }
            }
        }
        return xmlResponse(xml)
    }

    /// CreateBucket; an optional CreateBucketConfiguration must name this server's region.
    func createBucket(_ bucket: String, body: RequestBody) async throws -> Response {
        if let configuration = try await xmlBody(body) {
            guard configuration.name == "CreateBucketConfiguration" else {
                throw S3Error.malformedXML("expected CreateBucketConfiguration")
            }
            if let location = configuration.child("LocationConstraint")?.text, !location.isEmpty, location != region {
                throw S3Error(.badRequest, "IllegalLocationConstraintException",
                              "The \(location) location constraint is incompatible for the region specific endpoint this request was sent to (\(region)).")
            }
        }
        try await store.createBucket(bucket)
        return Response(status: .ok, headers: [.location: "/" + bucket])
    }

    func headBucket(_ bucket: String) throws -> Response {
        _ = try store.headBucket(bucket)
        return Response(status: .ok, headers: [HTTPField.Name("x-amz-bucket-region")!: region])
    }

    func deleteBucket(_ bucket: String) async throws -> Response {
        try await store.deleteBucket(bucket)
        return Response(status: .noContent)
    }

    func bucketLocation(_ bucket: String) throws -> Response {
        _ = try store.headBucket(bucket)
        var xml = XMLWriter()
        if region == "us-east-1" {
            xml.emptyElement("LocationConstraint", namespace: XMLWriter.s3Namespace)
        } else {
            xml.element("LocationConstraint", namespace: XMLWriter.s3Namespace) { xml in
                xml.document += XMLWriter.escape(region)
            }
        }
        return xmlResponse(xml)
    }

    /// Versioning is never on: renames need it off. An empty configuration says "never enabled".
    func bucketVersioning(_ bucket: String) throws -> Response {
        _ = try store.headBucket(bucket)
        var xml = XMLWriter()
        xml.emptyElement("VersioningConfiguration", namespace: XMLWriter.s3Namespace)
        return xmlResponse(xml)
    }
}
