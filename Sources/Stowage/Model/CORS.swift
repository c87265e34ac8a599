/// One rule of a bucket's CORS configuration (PutBucketCors), and how a cross-origin
/// request is matched against a bucket's rules: S3 takes the first rule whose origin,
/// method and (for a preflight) every requested header match.
///
/// Matching, as S3 answers it: an `AllowedOrigin` or `AllowedHeader` holds at most one
/// `*`, which stands for any run of characters, the empty one too; a pattern is anchored at
/// both ends. Origins and header names compare without regard to ASCII case (browsers send
/// both lowercase; a rule written `https://Example.com` still matches). Methods compare
/// exactly: S3 takes the five in uppercase only.
public struct CORSRule: Sendable, Equatable {
    /// The methods a rule may allow, in the order of the record's method codes (1…5).
    public static let methods = ["GET", "PUT", "POST", "DELETE", "HEAD"]
    /// S3's limit on a rule's ID.
    public static let maxIDLength = 255

    public var id: String?
    public var allowedOrigins: [String]
    public var allowedMethods: [String]
    public var allowedHeaders: [String]
    public var exposeHeaders: [String]
    public var maxAgeSeconds: Int?

    public init(id: String? = nil, allowedOrigins: [String], allowedMethods: [String], allowedHeaders: [String] = [],
                exposeHeaders: [String] = [], maxAgeSeconds: Int? = nil) {
        self.id = id
        self.allowedOrigins = allowedOrigins
        self.allowedMethods = allowedMethods
        self.allowedHeaders = allowedHeaders
        self.exposeHeaders = exposeHeaders
        self.maxAgeSeconds = maxAgeSeconds
    }

    /// The first rule that lets `origin` send `method` with every one of `requestHeaders`
    /// (a preflight's `Access-Control-Request-Headers`; none for an actual request, whose
    /// headers S3 does not check). Nil: the request is not a permitted cross-origin one.
    public static func firstMatch(in rules: [CORSRule], origin: String, method: String,
                                  requestHeaders: [String] = []) -> CORSRule? {
        rules.first { $0.matches(origin: origin, method: method, requestHeaders: requestHeaders) }
    }

    public func matches(origin: String, method: String, requestHeaders: [String]) -> Bool {
        matchingOrigin(origin) != nil && allowedMethods.contains(method)
            && requestHeaders.allSatisfy { header in
                allowedHeaders.contains { Self.wildcardMatches(pattern: $0, header) }
            }
    }

    /// The first of the rule's origin patterns that matches `origin`.
    public func matchingOrigin(_ origin: String) -> String? {
        allowedOrigins.first { Self.wildcardMatches(pattern: $0, origin) }
    }

    /// `pattern` with at most one `*` against `text`, anchored at both ends, ASCII case
    /// ignored. A pattern with more `*` (refused at PutBucketCors) matches only itself.
    static func wildcardMatches(pattern: String, _ text: String) -> Bool {
        let pattern = Array(pattern.lowercased().utf8), text = Array(text.lowercased().utf8)
        guard let star = pattern.firstIndex(of: UInt8(ascii: "*")),
              pattern[(star + 1)...].firstIndex(of: UInt8(ascii: "*")) == nil else { return pattern == text }
        let head = pattern[..<star], tail = pattern[(star + 1)...]
        return text.count >= head.count + tail.count && text.starts(with: head) && text.reversed().starts(with: tail.reversed())
    }

    /// Whether `text` holds at most one `*` (S3's rule for origins and allowed headers).
    public static func hasAtMostOneWildcard(_ text: String) -> Bool {
        text.utf8.lazy.filter { $0 == UInt8(ascii: "*") }.count <= 1
    }
}

extension Limits {
    /// Rules in one CORS configuration (S3's limit).
    public static let maxCORSRules = 100
}

extension Validation {
    /// PutBucketCors' checks, S3's error for each: 1 to 100 rules, each with an origin and
    /// a method; only the five methods; at most one `*` per origin and allowed header; an
    /// ID of at most 255 characters; a MaxAgeSeconds not negative.
    public static func checkCORSRules(_ rules: [CORSRule]) throws(StoreError) {
        guard (1...Limits.maxCORSRules).contains(rules.count) else {
            throw StoreError(.invalidArgument, "A CORS configuration has 1 to \(Limits.maxCORSRules) rules")
        }
        for rule in rules {
            guard !rule.allowedOrigins.isEmpty, !rule.allowedMethods.isEmpty else {
                throw StoreError(.invalidArgument, "Each CORSRule must identify at least one origin and one method")
            }
            if let method = rule.allowedMethods.first(where: { !CORSRule.methods.contains($0) }) {
                throw StoreError(.invalidRequest, "Found unsupported HTTP method in CORS config. Unsupported method is \(method)")
            }
            if let origin = rule.allowedOrigins.first(where: { !CORSRule.hasAtMostOneWildcard($0) }) {
                throw StoreError(.invalidRequest, "AllowedOrigin \"\(origin)\" can not have more than one wildcard.")
            }
            if let header = rule.allowedHeaders.first(where: { !CORSRule.hasAtMostOneWildcard($0) }) {
                throw StoreError(.invalidRequest, "AllowedHeader \"\(header)\" can not have more than one wildcard.")
            }
            if let id = rule.id, id.count > CORSRule.maxIDLength {
                throw StoreError(.invalidArgument, "ID length should not exceed allowed limit of \(CORSRule.maxIDLength)")
            }
            if let age = rule.maxAgeSeconds, age < 0 {
                throw StoreError(.invalidArgument, "MaxAgeSeconds must not be negative")
            }
        }
    }
}
