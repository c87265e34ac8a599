import Testing
@testable import Stowage

/// A bucket's CORS rules: how a cross-origin request is matched (PutBucketCors' evaluation
/// rules, S3's answers as recorded), what PutBucketCors refuses, the `meta` record
/// (docs/ARCHITECTURE.md §2) and its life with the bucket.
@Suite struct CORSTests {
    struct Match: Sendable, CustomTestStringConvertible {
        let pattern: String
        let text: String
        let matches: Bool
        var testDescription: String { "\(pattern) ~ \(text): \(matches)" }
        init(_ pattern: String, _ text: String, _ matches: Bool) { (self.pattern, self.text, self.matches) = (pattern, text, matches) }
    }

    /// One `*` stands for any run, the empty one too; anchored at both ends; ASCII case
    /// ignored (ceph s3-tests' `test_cors_origin_response` rows, and S3's recorded answers).
    static let wildcardRows: [Match] = [
        Match("*", "https://anything.example:8443", true),
        Match("*", "", true),
        Match("https://app.example.com", "https://app.example.com", true),
        Match("https://app.example.com", "http://app.example.com", false),
        Match("https://app.example.com", "https://app.example.com:443", false),
        Match("https://app.example.com", "https://app.example.com/", false),
        Match("https://APP.example.com", "https://app.example.com", true),
        Match("http://*.origin.com", "http://test.origin.com", true),
        Match("http://*.origin.com", "http://a.b.origin.com", true),
        Match("http://*.origin.com", "http://origin.com", false),
        Match("http://*.origin.com", "http://test.origin.com/", false),
        Match("*suffix", "foo.suffix", true),
        Match("*suffix", "foo.suffix.get", false),
        Match("start*end", "startend", true),
        Match("start*end", "start12end", true),
        Match("start*end", "0start12end", false),
        Match("start*end", "startxen", false),
        Match("prefix*", "prefix.suffix", true),
        Match("prefix*", "bla.prefix", false),
        Match("x-amz-*", "x-amz-meta-a", true),
        Match("x-amz-*", "X-Amz-Date", true),
        Match("x-amz-*", "content-type", false),
        Match("ab*ba", "aba", false),
        Match("a*b*c", "a*b*c", true),
        Match("a*b*c", "axbxc", false),
    ]

    @Test(arguments: wildcardRows)
    func wildcards(_ row: Match) {
        #expect(CORSRule.wildcardMatches(pattern: row.pattern, row.text) == row.matches)
    }

    static let rules = [
        CORSRule(id: "app", allowedOrigins: ["https://app.example.com"], allowedMethods: ["GET", "PUT"],
                 allowedHeaders: ["content-type", "x-amz-*"], exposeHeaders: ["ETag"], maxAgeSeconds: 600),
        CORSRule(id: "sub", allowedOrigins: ["https://*.example.com"], allowedMethods: ["GET"]),
        CORSRule(id: "any", allowedOrigins: ["*"], allowedMethods: ["HEAD"], allowedHeaders: ["*"]),
    ]

    @Test func firstMatchingRuleWins() {
        let match = { (origin: String, method: String, headers: [String]) in
            CORSRule.firstMatch(in: Self.rules, origin: origin, method: method, requestHeaders: headers)?.id
        }
        #expect(match("https://app.example.com", "GET", []) == "app", "the first of two matching rules")
        #expect(match("https://app.example.com", "PUT", ["content-type", "x-amz-date"]) == "app")
        #expect(match("https://app.example.com", "PUT", ["x-custom"]) == nil, "one header not allowed refuses them all")
        #expect(match("https://app.example.com", "GET", ["x-custom"]) == nil, "rule 2 allows no header")
        #expect(match("https://docs.example.com", "GET", []) == "sub")
        #expect(match("https://docs.example.com", "PUT", []) == nil, "the method decides too")
        #expect(match("https://docs.example.com", "HEAD", ["x-anything"]) == "any")
        #expect(match("https://elsewhere.test", "GET", []) == nil)
        #expect(match("https://elsewhere.test", "DELETE", []) == nil)
        #expect(match("https://app.example.com", "get", []) == nil, "methods compare exactly")
    }

    @Test func theOriginPatternThatMatched() {
        let rule = CORSRule(allowedOrigins: ["https://a.test", "*"], allowedMethods: ["GET"])
        #expect(rule.matchingOrigin("https://a.test") == "https://a.test")
        #expect(rule.matchingOrigin("https://b.test") == "*")
    }

    struct Refusal: Sendable, CustomTestStringConvertible {
        let name: String
        let rules: [CORSRule]
        let code: StoreError.Code
        var testDescription: String { name }
    }

    static let refusals: [Refusal] = [
        Refusal(name: "no rule", rules: [], code: .invalidArgument),
        Refusal(name: "101 rules", rules: Array(repeating: CORSRule(allowedOrigins: ["*"], allowedMethods: ["GET"]), count: 101),
                code: .invalidArgument),
        Refusal(name: "no origin", rules: [CORSRule(allowedOrigins: [], allowedMethods: ["GET"])], code: .invalidArgument),
        Refusal(name: "no method", rules: [CORSRule(allowedOrigins: ["*"], allowedMethods: [])], code: .invalidArgument),
        Refusal(name: "OPTIONS", rules: [CORSRule(allowedOrigins: ["*"], allowedMethods: ["GET", "OPTIONS"])], code: .invalidRequest),
        Refusal(name: "lowercase get", rules: [CORSRule(allowedOrigins: ["*"], allowedMethods: ["get"])], code: .invalidRequest),
        Refusal(name: "two * in an origin", rules: [CORSRule(allowedOrigins: ["*example*.com"], allowedMethods: ["GET"])],
                code: .invalidRequest),
        Refusal(name: "two * in a header", rules: [CORSRule(allowedOrigins: ["*"], allowedMethods: ["GET"], allowedHeaders: ["x-*-*"])],
                code: .invalidRequest),
        Refusal(name: "ID of 256", rules: [CORSRule(id: String(repeating: "i", count: 256), allowedOrigins: ["*"], allowedMethods: ["GET"])],
                code: .invalidArgument),
        Refusal(name: "negative max age", rules: [CORSRule(allowedOrigins: ["*"], allowedMethods: ["GET"], maxAgeSeconds: -1)],
                code: .invalidArgument),
    ]

    @Test(arguments: refusals)
    func putRefuses(_ refusal: Refusal) async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("web")
            await expectStoreError(refusal.code) { try await store.setCORSConfiguration("web", rules: refusal.rules) }
            #expect(try store.corsRules("web") == nil, "nothing stored")
        }
    }

    @Test func limitsAtTheirEdges() async throws {
        try await withTemporaryStore { store, _ in
            try await store.createBucket("web")
            let hundred = (0..<Limits.maxCORSRules).map {
                CORSRule(id: String(repeating: "i", count: CORSRule.maxIDLength - String($0).count) + String($0),
                         allowedOrigins: ["https://*.example.com"], allowedMethods: CORSRule.methods,
                         allowedHeaders: ["*"], maxAgeSeconds: 0)
            }
            try await store.setCORSConfiguration("web", rules: hundred)
            #expect(try store.corsConfiguration("web") == hundred)
        }
    }

    @Test func recordRoundTripsAndItsSize() throws {
        let minimal = CORSRecord(rules: [CORSRule(allowedOrigins: ["*"], allowedMethods: ["GET"])])
        // version, rule count, absent ID, 1 origin, 1 method code, no headers, no exposed, max age
        #expect(minimal.encoded().count == 1 + 4 + 1 + (4 + 4 + 1) + (4 + 1) + 4 + 4 + (1 + 8))
        #expect(minimal.encoded().first == CORSRecord.version)
        let full = CORSRecord(rules: Self.rules + [CORSRule(id: "", allowedOrigins: [""], allowedMethods: CORSRule.methods.reversed(),
                                                            exposeHeaders: ["x-amz-request-id", "ETag"], maxAgeSeconds: 0)])
        #expect(try full.encoded().withUnsafeBytes { try CORSRecord(decoding: $0) } == full)
        for cut in [1, 5, full.encoded().count - 1] {
            #expect(throws: RecordError.self) { try Array(full.encoded().prefix(cut)).withUnsafeBytes { try CORSRecord(decoding: $0) } }
        }
        var unknownMethod = minimal.encoded()
        unknownMethod[1 + 4 + 1 + 9 + 4] = 6
        #expect(throws: RecordError.self) { try unknownMethod.withUnsafeBytes { try CORSRecord(decoding: $0) } }
        #expect(throws: RecordError.self) { try (minimal.encoded() + [0]).withUnsafeBytes { try CORSRecord(decoding: $0) } }
    }

    @Test func putGetDeleteAndGoneWithTheBucket() async throws {
        try await withTemporaryStore { store, _ in
            await expectStoreError(.noSuchBucket) { try await store.setCORSConfiguration("web", rules: Self.rules) }
            try await store.createBucket("web")
            await expectStoreError(.noSuchCORSConfiguration) { _ = try store.corsConfiguration("web") }
            #expect(try store.corsRules("web") == nil)
            try await store.setCORSConfiguration("web", rules: Self.rules)
            #expect(try store.corsConfiguration("web") == Self.rules)
            #expect(try store.corsRules("web") == Self.rules)
            try await store.setCORSConfiguration("web", rules: [Self.rules[2]])
            #expect(try store.corsConfiguration("web") == [Self.rules[2]], "a put replaces the rules")
            try await store.deleteCORSConfiguration("web")
            try await store.deleteCORSConfiguration("web")
            await expectStoreError(.noSuchCORSConfiguration) { _ = try store.corsConfiguration("web") }

            try await store.setCORSConfiguration("web", rules: Self.rules)
            try await store.deleteBucket("web")
            #expect(try store.corsRules("web") == nil)
            try await store.createBucket("web")
            await expectStoreError(.noSuchCORSConfiguration) { _ = try store.corsConfiguration("web") }
        }
    }
}
