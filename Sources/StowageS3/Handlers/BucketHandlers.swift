import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Stowage
import StowageChecksums

/// The handlers: each parses its request, calls the engine, renders the answer.
struct Handlers {
    let store: ObjectStore
    let region: String
    let logger: Logger
    /// The request came over TLS.
    var secure = false
    /// The user that signed the request; nil: the administrator.
    var user: String?
    /// The connection's event loop, which a long response body waits on now and then
    /// (`ResponsePacing`) so that what it has written cannot pile up unsent.
    var connectionLoop: (any EventLoop)?

    /// Largest XML request body read into memory (DeleteObjects with 1000 long keys fits).
    static let maxXMLBodyBytes = 2 << 20
    static let owner = (id: WirePromises.ownerID, displayName: WirePromises.ownerID)

    func xmlResponse(_ writer: XMLWriter, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/xml"],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: writer.document)))
    }

    /// Reads a small XML body whole (bounded, its integrity checked), or answers MalformedXML.
    /// `checksumsOfBody` false: the `x-amz-checksum-*` headers are not the body's
    /// (CompleteMultipartUpload's are the object's).
    func xmlBody(_ body: RequestBody, _ s3: S3Request, auth: SigV4Authentication, limit: Int = Self.maxXMLBodyBytes,
                 checksumsOfBody: Bool = true) async throws -> XMLNode? {
        let data = try await Self.smallBody(body, s3, auth: auth, limit: limit, checksumsOfBody: checksumsOfBody)
        guard !data.isEmpty else { return nil }
        guard let node = XMLNode.parse(data) else {
            throw S3Error.malformedXML("not well-formed")
        }
        return node
    }

    /// A small body read whole, up to `limit` bytes, checked against the SHA-256 its
    /// request signed, its Content-MD5 and any `x-amz-checksum-*` header (BadDigest).
    /// aws-chunked framing is refused: no SDK frames a small XML body so.
    static func smallBody(_ body: RequestBody, _ s3: S3Request, auth: SigV4Authentication, limit: Int,
                          checksumsOfBody: Bool = true) async throws -> Data {
        guard !auth.payload.isAWSChunked else {
            throw S3Error(.badRequest, "InvalidRequest", "This operation does not take an aws-chunked body")
        }
        var verifier = auth.makePayloadVerifier()
        var data = Data()
        for try await piece in body {
            guard data.count + piece.readableBytes <= limit else {
                throw S3Error(.badRequest, "MaxMessageLengthExceeded", "Your request was too big: the limit is \(limit) bytes")
            }
            piece.withUnsafeReadableBytes { bytes in
                verifier?.update(bytes)
                data.append(contentsOf: bytes)
            }
        }
        try verifier?.finish()
        let bytes = [UInt8](data)
        if let md5 = try contentMD5(s3) {
            var digest = MD5Digest()
            bytes.withUnsafeBytes { digest.update($0) }
            guard digest.finalize() == md5 else {
                throw S3Error(.badRequest, "BadDigest", "The Content-MD5 you specified did not match what we received.")
            }
        }
        for (algorithm, expected) in checksumsOfBody ? try UploadBody.checksums(s3).expected : [:]
        where algorithm.digest(fromBase64: expected) != S3Checksummer.digest(algorithm, of: bytes) {
            throw S3Error(.badRequest, "BadDigest", "The \(algorithm.headerName) you specified did not match the calculated checksum.")
        }
        return data
    }

    /// ListBuckets, with `prefix`, `bucket-region` and pages of `max-buckets` (1 to
    /// 10,000) continued by `continuation-token` (the last name of the page before, base64).
    func listBuckets(_ s3: S3Request) async throws -> Response {
        let prefix = s3.parameter("prefix") ?? ""
        var maxBuckets = Limits.maxListBuckets
        if let text = s3.parameter("max-buckets") {
            guard let value = Int(text), (1...Limits.maxListBuckets).contains(value) else {
                throw S3Error.invalidArgument("max-buckets must be an integer from 1 to \(Limits.maxListBuckets)")
            }
            maxBuckets = value
        }
        var after: String?
        if let token = s3.parameter("continuation-token") {
            guard let data = Data(base64Encoded: token), let name = String(data: data, encoding: .utf8) else {
                throw S3Error.invalidArgument("The continuation token provided is incorrect")
            }
            after = name
        }
        // Every bucket is in this server's region.
        let inRegion = s3.parameter("bucket-region").map { $0 == region } ?? true
        // A user sees the buckets it owns; the administrator sees every bucket.
        let matching = try await store.offLoop { try $0.listBuckets() }.filter { bucket in
            inRegion && (user == nil || bucket.owner == user) && bucket.name.hasPrefix(prefix) && (after.map { $0.utf8.lexicographicallyPrecedes(bucket.name.utf8) } ?? true)
        }
        let page = matching.prefix(maxBuckets)
        let truncated = matching.count > page.count
        var xml = XMLWriter()
        xml.element("ListAllMyBucketsResult", namespace: XMLWriter.s3Namespace) { xml in
            xml.element("Owner") { xml in
                xml.element("ID", user ?? Self.owner.id)
                xml.element("DisplayName", user ?? Self.owner.displayName)
            }
            xml.element("Buckets") { xml in
                for bucket in page {
                    xml.element("Bucket") { xml in
                        xml.element("Name", bucket.name)
                        xml.element("CreationDate", HTTPDate.iso8601(milliseconds: bucket.createdMilliseconds))
                        xml.element("BucketRegion", region)
                    }
                }
            }
            if truncated, let last = page.last {
                xml.element("ContinuationToken", Data(last.name.utf8).base64EncodedString())
            }
            if s3.parameter("prefix") != nil { xml.element("Prefix", prefix) }
        }
        return xmlResponse(xml)
    }

    /// CreateBucket; an optional CreateBucketConfiguration must name this server's region
    /// and ask for nothing else (directory buckets, tags at creation are not built).
    /// The region whose CreateBucket keeps S3's original, idempotent answer.
    static let legacyRegion = "us-east-1"

    func createBucket(_ bucket: String, _ s3: S3Request, auth: SigV4Authentication, body: RequestBody) async throws -> Response {
        if let configuration = try await xmlBody(body, s3, auth: auth) {
            guard configuration.name == "CreateBucketConfiguration" else {
                throw S3Error.malformedXML("expected CreateBucketConfiguration")
            }
            for child in configuration.children where child.name != "LocationConstraint" {
                throw S3Error.notImplemented("CreateBucketConfiguration with \(child.name)")
            }
            if let location = configuration.child("LocationConstraint")?.text, !location.isEmpty, location != region {
                throw S3Error(.badRequest, "IllegalLocationConstraintException",
                              "The \(location) location constraint is incompatible for the region specific endpoint this request was sent to (\(region)).")
            }
        }
        let objectLock = s3.header("x-amz-bucket-object-lock-enabled")?.lowercased() == "true"
        let (ownership, acl) = try await createBucketAccess(s3)
        do {
            try await store.createBucket(bucket, objectLock: objectLock, owner: user, ownership: ownership, acl: acl)
        } catch {
            // us-east-1 answers a CreateBucket of a bucket its caller owns with 200 and
            // changes nothing; every other region with 409 BucketAlreadyOwnedByYou.
            guard error.code == .bucketAlreadyExists, region == Self.legacyRegion else { throw error }
        }
        return Response(status: .ok, headers: [.location: "/" + bucket])
    }

    func headBucket(_ bucket: String) async throws -> Response {
        _ = try await store.offLoop { try $0.headBucket(bucket) }
        return Response(status: .ok, headers: [HTTPField.Name("x-amz-bucket-region")!: region])
    }

    func deleteBucket(_ bucket: String) async throws -> Response {
        try await store.deleteBucket(bucket)
        return Response(status: .noContent)
    }

    func bucketLocation(_ bucket: String) async throws -> Response {
        _ = try await store.offLoop { try $0.headBucket(bucket) }
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

    /// GetBucketVersioning: an empty configuration until versioning was first set; then
    /// its Status (and MfaDelete Disabled: MFA delete is not built).
    func bucketVersioning(_ bucket: String) async throws -> Response {
        let state = try await store.offLoop { try $0.bucketVersioning(bucket) }
        var xml = XMLWriter()
        if let status = state.status {
            xml.element("VersioningConfiguration", namespace: XMLWriter.s3Namespace) { xml in
                xml.element("Status", status)
                xml.element("MfaDelete", "Disabled")
            }
        } else {
            xml.emptyElement("VersioningConfiguration", namespace: XMLWriter.s3Namespace)
        }
        return xmlResponse(xml)
    }

    /// PutBucketVersioning: `<VersioningConfiguration><Status>Enabled|Suspended</Status>
    /// [<MfaDelete>Disabled</MfaDelete>]</VersioningConfiguration>`. MFA delete is refused
    /// (501): no MFA device can be checked here, and accepting it would promise a protection
    /// not kept. A body without a Status changes nothing.
    func putBucketVersioning(_ bucket: String, _ s3: S3Request, auth: SigV4Authentication, body: RequestBody) async throws -> Response {
        guard let root = try await xmlBody(body, s3, auth: auth), root.name == "VersioningConfiguration" else {
            throw S3Error.malformedXML("expected a VersioningConfiguration element")
        }
        if let mfa = root.child("MfaDelete")?.text.trimmingCharacters(in: .whitespaces) {
            switch mfa {
            case "Disabled": break
            case "Enabled": throw S3Error.notImplemented("MFA delete (MfaDelete Enabled): no MFA device can be verified by this server")
            default: throw S3Error.malformedXML("MfaDelete is Enabled or Disabled")
            }
        }
        if s3.header("x-amz-mfa") != nil {
            throw S3Error.notImplemented("x-amz-mfa: MFA delete is not built")
        }
        guard let status = root.child("Status")?.text.trimmingCharacters(in: .whitespaces) else {
            _ = try await store.offLoop { try $0.headBucket(bucket) }
            return Response(status: .ok)
        }
        guard status == "Enabled" || status == "Suspended" else {
            throw S3Error.malformedXML("Status is Enabled or Suspended")
        }
        try await store.setBucketVersioning(bucket, enabled: status == "Enabled")
        return Response(status: .ok)
    }
}
