import Foundation
import HTTPTypes
import Hummingbird
import Stowage

/// POST Object: a browser form upload to `POST /bucket`. The fields before the `file` part
/// are read (at most `maxPreDataBytes`), the form's signature and policy checked, the key
/// authorized as a PutObject by the signer (or anonymously), and then the file is streamed
/// into the writer. Fields after the file are ignored, as S3 ignores them.
extension Handlers {
    static let maxPostPreDataBytes = 20 << 10

    /// The `x-amz-*` fields the server honours besides `x-amz-meta-*`; any other is refused, as are the unbuilt ones.
    static let postAmzFields: Set<String> = [
        "x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature", "x-amz-server-side-encryption",
    ]
    static let postUnbuiltFields: Set<String> = ["tagging", "content-md5", "x-amz-security-token", "x-amz-storage-class",
                                                 "x-amz-website-redirect-location", "x-amz-checksum-algorithm"]

    /// Who the form is from: the key that signed it (nil: unsigned, anonymous).
    struct PostSigner {
        let credentials: S3Credentials
        let keys: AccessKeyCache
    }

    func postObject(_ bucket: String, _ s3: S3Request, body: RequestBody, signer: PostSigner,
                    caller: Authorization.Caller) async throws -> Response {
        guard let boundary = s3.headers[.contentType].flatMap(MultipartFormReader<RequestBody.AsyncIterator>.boundary) else {
            throw S3Error(.preconditionFailed, "PreconditionFailed", "Bucket POST must be of the enclosure-type multipart/form-data")
        }
        var form = MultipartFormReader(boundary: boundary, chunks: body.makeAsyncIterator())
        var fields: [String: String] = [:]
        var preData = 0
        var file: MultipartFormReader<RequestBody.AsyncIterator>.Part?
        let tooMuch = S3Error(.badRequest, "MaxPostPreDataLengthExceeded",
                              "Your POST request fields preceding the upload file were too large.")
        while let part = try await form.nextPart() {
            if part.name.lowercased() == "file" {
                file = part
                break
            }
            let value = try await form.content(limit: Self.maxPostPreDataBytes - preData, tooLong: tooMuch)
            preData += value.count + part.name.utf8.count
            guard preData <= Self.maxPostPreDataBytes else { throw tooMuch }
            guard fields[part.name.lowercased()] == nil else {
                throw S3Error.invalidArgument("Form field \(part.name) appears more than once.")
            }
            fields[part.name.lowercased()] = String(decoding: value, as: UTF8.self)
        }
        guard let file else { throw S3Error.invalidArgument("POST requires exactly one file upload per request.") }
        fields["bucket"] = bucket
        var caller = caller
        caller.principal = try await Self.postPrincipal(fields, signer: signer)
        guard var key = fields["key"], !key.isEmpty else {
            throw S3Error.invalidArgument("Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.")
        }
        key = key.replacingOccurrences(of: "${filename}", with: file.filename ?? "")
        fields["key"] = key   // conditions on the key see it with the file name in it, as S3 does
        var policy: PostPolicy?
        if let text = fields["policy"] {
            let parsed = try PostPolicy(base64: text)
            try parsed.check(fields, now: Date())
            policy = parsed
        }
        try Self.refuseUnbuiltFields(fields)
        key = try Self.validKey(key)
        try await Authorization.check(.putObject, s3.addressing(key: key), caller: caller, store: store)
        var request = PutRequest(bucket: bucket, key: key, attributes: Self.postAttributes(fields))
        var uploader: String?
        if case .user(let name)? = caller.principal { uploader = name }
        request.acl = try await writeACL(canned: fields["acl"], grants: nil, bucket: bucket, writer: uploader)
        if let algorithm = fields["x-amz-server-side-encryption"] {
            guard algorithm == "AES256" else { throw S3Error.notImplemented("POST Object with x-amz-server-side-encryption \(algorithm)") }
            request.encryption = .s3
        }
        let writer = try await store.offLoop { [request] in try $0.beginPut(request) }
        let info: ObjectInfo
        do {
            let range = policy?.contentLengthRange
            var size: UInt64 = 0
            while let piece = try await form.nextContent() {
                size += UInt64(piece.count)
                if let range, size > range.upperBound {
                    throw S3Error(.badRequest, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
                }
                var buffer = ByteBufferAllocator().buffer(capacity: piece.count)
                buffer.writeBytes(piece)
                try await writer.write(BufferChunk(buffer: buffer))
            }
            if let range, size < range.lowerBound {
                throw S3Error(.badRequest, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size")
            }
            info = try await writer.finish()
        } catch {
            await writer.abort()
            throw error
        }
        return Self.postResponse(bucket: bucket, key: key, info: info, fields: fields, s3: s3)
    }

    /// The principal of a signed form (nil: the administrator), or anonymous for an unsigned one.
    static func postPrincipal(_ fields: [String: String], signer: PostSigner) async throws -> BucketPolicy.Principal? {
        let accessKey: String
        if let signature = fields["x-amz-signature"] {
            guard fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256" else {
                throw S3Error.invalidArgument("Bucket POST with x-amz-signature must have x-amz-algorithm AWS4-HMAC-SHA256.")
            }
            let scope = (fields["x-amz-credential"] ?? "").split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            guard scope.count == 5, scope[3] == "s3", scope[4] == "aws4_request", scope[1].count == 8, fields["x-amz-date"] != nil else {
                throw S3Error.invalidArgument("Bucket POST x-amz-credential must be KEY/YYYYMMDD/REGION/s3/aws4_request, with x-amz-date.")
            }
            accessKey = scope[0]
            let secret = try await Self.secret(accessKey, signer: signer)
            let policy = try Self.signedPolicy(fields)
            var signingKey = Array("AWS4\(secret)".utf8)
            for element in scope[1...4] { signingKey = SigV4SigningContext.hmac(key: signingKey, Array(element.utf8)) }
            let expected = SigV4Encoding.lowercaseHex(SigV4SigningContext.hmac(key: signingKey, Array(policy.utf8)))
            guard Self.constantTimeEqual(expected, signature.lowercased()) else { throw Self.postSignatureMismatch }
        } else if let signature = fields["signature"] {
            guard let key = fields["awsaccesskeyid"] else {
                throw S3Error.invalidArgument("Bucket POST must contain a field named 'AWSAccessKeyId'.  If it is specified, please check the order of the fields.")
            }
            accessKey = key
            let secret = try await Self.secret(accessKey, signer: signer)
            let expected = SigV2Verifier.signature(secret: secret, of: try Self.signedPolicy(fields))
            guard Self.constantTimeEqual(expected, signature) else { throw Self.postSignatureMismatch }
        } else {
            if fields["policy"] != nil || fields["awsaccesskeyid"] != nil || fields["x-amz-credential"] != nil {
                throw S3Error.invalidArgument("Bucket POST with a policy must be signed (x-amz-signature or signature).")
            }
            return .anonymous
        }
        if signer.credentials.isAdministrator(accessKey) { return nil }
        guard let user = signer.credentials.user(of: accessKey) else { throw Self.postUnknownKey }
        return .user(user)
    }

    private static func validKey(_ key: String) throws(S3Error) -> String {
        do { return try Validation.key(fromBytes: Array(key.utf8)) } catch { throw S3Error(error) }
    }

    private static var postSignatureMismatch: S3Error {
        S3Error(.forbidden, "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
    }

    private static var postUnknownKey: S3Error {
        S3Error(.forbidden, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.")
    }

    private static func secret(_ accessKey: String, signer: PostSigner) async throws -> String {
        if !accessKey.isEmpty && !signer.credentials.isAdministrator(accessKey) { try await signer.keys.load(accessKey) }
        guard let secret = signer.credentials.secretKey(for: accessKey) else { throw postUnknownKey }
        return secret
    }

    private static func signedPolicy(_ fields: [String: String]) throws(S3Error) -> String {
        guard let policy = fields["policy"], !policy.isEmpty else {
            throw S3Error.invalidArgument("Bucket POST must contain a field named 'policy'.  If it is specified, please check the order of the fields.")
        }
        return policy
    }

    private static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let (x, y) = (Array(a.utf8), Array(b.utf8))
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// Refuses a field whose promise the server does not keep (501), never ignoring it.
    static func refuseUnbuiltFields(_ fields: [String: String]) throws(S3Error) {
        for name in fields.keys.sorted() {
            if postUnbuiltFields.contains(name) { throw S3Error.notImplemented("POST Object with the field \(name)") }
            if name.hasPrefix("x-amz-") && !name.hasPrefix("x-amz-meta-") && !postAmzFields.contains(name) {
                throw S3Error.notImplemented("POST Object with the field \(name)")
            }
        }
    }

    static func postAttributes(_ fields: [String: String]) -> ObjectAttributes {
        var attributes = ObjectAttributes()
        attributes.contentType = fields["content-type"]
        attributes.contentEncoding = fields["content-encoding"]
        attributes.contentDisposition = fields["content-disposition"]
        attributes.contentLanguage = fields["content-language"]
        attributes.cacheControl = fields["cache-control"]
        attributes.expires = fields["expires"]
        for (name, value) in fields.sorted(by: { $0.key < $1.key }) where name.hasPrefix("x-amz-meta-") {
            attributes.userMetadata.append((String(name.dropFirst("x-amz-meta-".count)), value))
        }
        return attributes
    }

    /// 303 to `success_action_redirect` (or `redirect`), else `success_action_status`: 200 or
    /// 201 (with PostResponse XML), 204 for anything else.
    static func postResponse(bucket: String, key: String, info: ObjectInfo, fields: [String: String], s3: S3Request) -> Response {
        var headers: HTTPFields = [.eTag: info.quotedETag]
        if let versionID = info.versionID { headers[.xAmzVersionID] = versionID }
        encryptionHeaders(info.attributes.serverSideEncryption, into: &headers)
        let host = s3.headers[.host] ?? "localhost"
        let location = "http://\(host)/\(urlEncode(bucket))/\(SigV4Signer.uriEncode(key, keepingSlash: true))"
        headers[.location] = location
        if let target = fields["success_action_redirect"] ?? fields["redirect"], var url = URLComponents(string: target),
           url.scheme != nil {
            url.queryItems = (url.queryItems ?? []) + [URLQueryItem(name: "bucket", value: bucket),
                                                       URLQueryItem(name: "key", value: key),
                                                       URLQueryItem(name: "etag", value: info.quotedETag)]
            headers[.location] = url.string ?? target
            return Response(status: .seeOther, headers: headers)
        }
        switch fields["success_action_status"] {
        case "200": return Response(status: .ok, headers: headers)
        case "201":
            var xml = XMLWriter()
            xml.element("PostResponse") { xml in
                xml.element("Location", location)
                xml.element("Bucket", bucket)
                xml.element("Key", key)
                xml.element("ETag", info.quotedETag)
            }
            headers[.contentType] = "application/xml"
            return Response(status: .created, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: xml.document)))
        default: return Response(status: .noContent, headers: headers)
        }
    }
}
