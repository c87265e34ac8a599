import Foundation
import HTTPTypes
import Hummingbird
import Stowage

/// Put/Get/DeleteBucketCors (`?cors`), the unauthenticated preflight (`OPTIONS`), and the
/// headers an actual cross-origin request's answer carries. CORS lets a browser read an
/// answer; it grants no access: every request but a preflight is authenticated as before.
extension Handlers {
    /// S3's limit on a CORS configuration document.
    static let maxCORSConfigurationBytes = 64 << 10
    static let corsVary = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"

    func bucketCors(_ bucket: String) async throws -> Response {
        let rules: [CORSRule]
        do {
            rules = try await store.offLoop { try $0.corsConfiguration(bucket) }
        } catch {
            guard error.code == .noSuchCORSConfiguration else { throw error }
            var refusal = S3Error(error)
            refusal.elements = [("BucketName", bucket)]
            throw refusal
        }
        var xml = XMLWriter()
        xml.element("CORSConfiguration", namespace: XMLWriter.s3Namespace) { xml in
            for rule in rules {
                xml.element("CORSRule") { xml in
                    for header in rule.allowedHeaders { xml.element("AllowedHeader", header) }
                    for method in rule.allowedMethods { xml.element("AllowedMethod", method) }
                    for origin in rule.allowedOrigins { xml.element("AllowedOrigin", origin) }
                    for header in rule.exposeHeaders { xml.element("ExposeHeader", header) }
                    if let id = rule.id { xml.element("ID", id) }
                    if let age = rule.maxAgeSeconds { xml.element("MaxAgeSeconds", String(age)) }
                }
            }
        }
        return xmlResponse(xml)
    }

    /// `<CORSConfiguration><CORSRule>…</CORSRule>…</CORSConfiguration>`, at most 64 KB. A
    /// document that does not fit the schema is MalformedXML; the engine refuses what S3
    /// answers InvalidRequest (a method not among the five, two `*` in an origin).
    func putBucketCors(_ bucket: String, _ s3: S3Request, auth: SigV4Authentication, body: RequestBody) async throws -> Response {
        guard let root = try await xmlBody(body, s3, auth: auth, limit: Self.maxCORSConfigurationBytes),
              root.name == "CORSConfiguration" else {
            throw S3Error.malformedXML("expected a CORSConfiguration element")
        }
        let rules = try root.all("CORSRule").map(Self.corsRule)
        guard (1...Limits.maxCORSRules).contains(rules.count) else {
            throw S3Error.malformedXML("a CORSConfiguration has 1 to \(Limits.maxCORSRules) CORSRule elements")
        }
        try await store.setCORSConfiguration(bucket, rules: rules)
        return Response(status: .ok)
    }

    func deleteBucketCors(_ bucket: String) async throws -> Response {
        try await store.deleteCORSConfiguration(bucket)
        return Response(status: .noContent)
    }

    /// One `<CORSRule>`: at least one AllowedOrigin and one AllowedMethod, any number of
    /// AllowedHeader and ExposeHeader, an optional ID and MaxAgeSeconds.
    static func corsRule(_ node: XMLNode) throws -> CORSRule {
        let texts = { (name: String) in node.all(name).map { $0.text.trimmingCharacters(in: .whitespacesAndNewlines) } }
        let origins = texts("AllowedOrigin"), methods = texts("AllowedMethod")
        guard !origins.isEmpty, !methods.isEmpty else {
            throw S3Error.malformedXML("a CORSRule has at least one AllowedOrigin and one AllowedMethod")
        }
        var maxAge: Int?
        if let text = texts("MaxAgeSeconds").first {
            guard let seconds = Int(text), seconds >= 0 else { throw S3Error.malformedXML("MaxAgeSeconds is a whole number of seconds") }
            maxAge = seconds
        }
        return CORSRule(id: texts("ID").first, allowedOrigins: origins, allowedMethods: methods,
                        allowedHeaders: texts("AllowedHeader"), exposeHeaders: texts("ExposeHeader"), maxAgeSeconds: maxAge)
    }

    // MARK: Preflight

    /// `OPTIONS /bucket[/key]` with `Origin` and `Access-Control-Request-Method` (and maybe
    /// `Access-Control-Request-Headers`), answered without authentication from the
    /// bucket's rules, with S3's answers: 400 without an origin or a valid method; 403
    /// `AccessForbidden` for a missing bucket, a bucket without rules, or no rule matching.
    func preflight(_ s3: S3Request) async throws -> Response {
        guard let origin = s3.header("origin") else {
            throw S3Error(.badRequest, "BadRequest", "Insufficient information. Origin request header needed.")
        }
        let method = s3.header("access-control-request-method")
        let forbidden = { (message: String, resourceType: String) -> S3Error in
            var error = S3Error(.forbidden, "AccessForbidden", "CORSResponse: " + message)
            error.elements = [("Method", method ?? "OPTIONS"), ("ResourceType", resourceType)]
            return error
        }
        guard let bucket = s3.bucket, let rules = try await rules(of: bucket) else {
            var exists = false
            if let bucket = s3.bucket { exists = try await bucketExists(bucket) }
            throw forbidden(exists ? "CORS is not enabled for this bucket." : "Bucket not found", "BUCKET")
        }
        guard let method, CORSRule.methods.contains(method) else {
            throw S3Error(.badRequest, "BadRequest", "Invalid Access-Control-Request-Method: \(method ?? "null")")
        }
        let requested = Self.requestedHeaders(s3.header("access-control-request-headers"))
        guard let rule = CORSRule.firstMatch(in: rules, origin: origin, method: method, requestHeaders: requested) else {
            throw forbidden("This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
                            s3.key == nil ? "BUCKET" : "OBJECT")
        }
        return Response(status: .ok, headers: Self.crossOriginHeaders(rule, origin: origin, allowedHeaders: requested),
                        body: ResponseBody())
    }

    /// The bucket's rules; nil without any, or for a name that cannot be a bucket.
    private func rules(of bucket: String) async throws -> [CORSRule]? {
        do {
            return try await store.offLoop { try $0.corsRules(bucket) }
        } catch {
            guard error.code == .invalidBucketName else { throw error }
            return nil
        }
    }

    private func bucketExists(_ bucket: String) async throws -> Bool {
        do {
            _ = try await store.offLoop { try $0.headBucket(bucket) }
            return true
        } catch {
            guard error.code == .noSuchBucket || error.code == .invalidBucketName else { throw error }
            return false
        }
    }

    /// `Access-Control-Request-Headers`: comma-separated names, compared and answered in
    /// lowercase, in the order requested.
    static func requestedHeaders(_ value: String?) -> [String] {
        (value ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty }
    }

    // MARK: Actual requests

    /// The CORS headers of an answer to a request from `origin` that `rule` matched: the
    /// origin (or `*` when only the rule's `*` matched it, and then no credentials), the
    /// rule's methods, exposed headers and max age, the allowed requested headers of a
    /// preflight, and `Vary`, so that a cache keeps answers to different origins apart.
    static func crossOriginHeaders(_ rule: CORSRule, origin: String, allowedHeaders: [String] = []) -> HTTPFields {
        var headers = HTTPFields()
        let wildcard = rule.matchingOrigin(origin) == "*"
        headers[.accessControlAllowOrigin] = wildcard ? "*" : origin
        if !wildcard { headers[.accessControlAllowCredentials] = "true" }
        headers[.accessControlAllowMethods] = rule.allowedMethods.joined(separator: ", ")
        if !allowedHeaders.isEmpty { headers[.accessControlAllowHeaders] = allowedHeaders.joined(separator: ", ") }
        if !rule.exposeHeaders.isEmpty { headers[.accessControlExposeHeaders] = rule.exposeHeaders.joined(separator: ", ") }
        if let age = rule.maxAgeSeconds { headers[.accessControlMaxAge] = String(age) }
        headers[.vary] = corsVary
        return headers
    }

    /// Adds the CORS headers to the answer of a request with an `Origin` header (an
    /// error's too, as S3 does) when a rule of its bucket matches the origin and the
    /// method — `Access-Control-Request-Method` when sent, as S3 takes it, else the
    /// request's. One index read; a failed read leaves the answer as it is.
    func addCrossOriginHeaders(to response: inout Response, bucket: String, origin: String, _ request: Request) async {
        let method = request.headers[.accessControlRequestMethod] ?? request.method.rawValue
        guard let rules = try? await rules(of: bucket),
              let rule = CORSRule.firstMatch(in: rules, origin: origin, method: method) else { return }
        for field in Self.crossOriginHeaders(rule, origin: origin) {
            response.headers[field.name] = field.value
        }
    }
}
