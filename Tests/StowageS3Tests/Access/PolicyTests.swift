import Testing
@testable import StowageS3

/// The bucket-policy language: wildcards, CIDR ranges, the evaluation order (a Deny beats
/// any Allow), principals, negations, and the condition operators with IfExists and Null.
@Suite struct PolicyTests {
    static func parse(_ json: String) throws -> BucketPolicy {
        try PolicyParser.parse(Array(json.utf8), bucket: "bkt")
    }

    static func ask(_ policy: BucketPolicy, _ principal: BucketPolicy.Principal = .user("bob"), _ action: String = "s3:GetObject",
                    _ resource: String = "arn:aws:s3:::bkt/k", _ context: [String: [String]] = [:]) -> BucketPolicy.Decision {
        policy.decide(BucketPolicy.Request(principal: principal, action: action, resource: resource, context: context))
    }

    /// The cache answers the policy its text parses to, per bucket (a resource outside the
    /// bucket is malformed for one bucket and fine for another), never a stale one, and
    /// keeps at most its capacity.
    @Test func policyCacheParsesEachTextOnceAndNeverServesAStaleOne() throws {
        let cache = PolicyCache(capacity: 2)
        let reads = Array(#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bkt/*"}}"#.utf8)
        let denies = Array(#"{"Statement": {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bkt/*"}}"#.utf8)
        #expect(Self.ask(try cache.parsed(reads, bucket: "bkt")) == .allow)
        #expect(Self.ask(try cache.parsed(reads, bucket: "bkt")) == .allow)
        #expect(cache.count == 1)
        #expect(Self.ask(try cache.parsed(denies, bucket: "bkt")) == .deny)
        #expect(throws: S3Error.self) { _ = try cache.parsed(reads, bucket: "other") }
        #expect(cache.count == 2)
        let users = Array(#"{"Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bkt/*"}}"#.utf8)
        #expect(Self.ask(try cache.parsed(users, bucket: nil)) == .allow)
        #expect(cache.count == 1, "full: dropped, then the new entry kept")
    }

    @Test func usersPoliciesHaveNoPrincipalAndReachAnyBucket() throws {
        let policy = try PolicyParser.parse(Array("""
            {"Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::other/*"}}
            """.utf8), bucket: nil)
        #expect(Self.ask(policy, .user("bob"), "s3:GetObject", "arn:aws:s3:::other/k") == .allow)
        #expect(throws: S3Error.self) {
            _ = try PolicyParser.parse(Array("""
                {"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}}
                """.utf8), bucket: nil)
        }
        #expect(throws: S3Error.self) {
            _ = try Self.parse(#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::other/*"}}"#)
        }
    }

    @Test(arguments: [("*", "", true), ("*", "anything", true), ("a*c", "abbbc", true), ("a*c", "abbbd", false),
                      ("a?c", "abc", true), ("a?c", "ac", false), ("s3:Get*", "s3:GetObject", true),
                      ("arn:aws:s3:::bkt/*", "arn:aws:s3:::bkt", false), ("*a*b*", "xxaxxbxx", true), ("", "", true)])
    func wildcards(pattern: String, text: String, matches: Bool) {
        #expect(PolicyWildcard.matches(pattern, text) == matches)
    }

    @Test func addressRanges() throws {
        let v4 = try #require(PolicyCIDR("192.168.1.0/24"))
        #expect(v4.contains("192.168.1.77") && !v4.contains("192.168.2.1") && !v4.contains("::1"))
        #expect(try #require(PolicyCIDR("10.1.2.3")).contains("10.1.2.3"))
        #expect(try #require(PolicyCIDR("2001:db8::/32")).contains("2001:db8:1::5"))
        #expect(PolicyCIDR("10.0.0.0/33") == nil && PolicyCIDR("banana") == nil)
    }

    @Test func denyBeatsAllowAndNothingDecidesNothing() throws {
        let policy = try Self.parse("""
            {"Statement": [
              {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::bkt/*"},
              {"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::1:user/bob"}, "Action": "s3:DeleteObject",
               "Resource": "arn:aws:s3:::bkt/keep/*"}]}
            """)
        #expect(Self.ask(policy) == .allow)
        #expect(Self.ask(policy, .anonymous) == .allow)
        #expect(Self.ask(policy, .user("bob"), "s3:DeleteObject", "arn:aws:s3:::bkt/keep/x") == .deny)
        #expect(Self.ask(policy, .user("eve"), "s3:DeleteObject", "arn:aws:s3:::bkt/keep/x") == .allow)
        #expect(Self.ask(policy, .user("bob"), "s3:ListBucket", "arn:aws:s3:::bkt") == .none)
        #expect(policy.isPublic)
    }

    @Test func negationsAndConditions() throws {
        let policy = try Self.parse("""
            {"Statement": [{"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::1:user/eve"}, "NotAction": "s3:Delete*",
              "Resource": "arn:aws:s3:::bkt/*",
              "Condition": {"StringEqualsIfExists": {"s3:x-amz-server-side-encryption": "AES256"},
                            "Null": {"aws:username": "false"}, "NumericGreaterThan": {"s3:max-keys": 5}}}]}
            """)
        let context: [String: [String]] = ["aws:username": ["bob"], "s3:max-keys": ["6"]]
        #expect(Self.ask(policy, .user("bob"), "s3:GetObject", "arn:aws:s3:::bkt/k", context) == .allow)
        #expect(Self.ask(policy, .user("eve"), "s3:GetObject", "arn:aws:s3:::bkt/k", context) == .none, "NotPrincipal")
        #expect(Self.ask(policy, .user("bob"), "s3:DeleteObject", "arn:aws:s3:::bkt/k", context) == .none, "NotAction")
        #expect(Self.ask(policy, .user("bob"), "s3:GetObject", "arn:aws:s3:::bkt/k", ["s3:max-keys": ["6"]]) == .none, "Null")
        #expect(Self.ask(policy, .user("bob"), "s3:GetObject", "arn:aws:s3:::bkt/k",
                         context.merging(["s3:x-amz-server-side-encryption": ["aws:kms"]]) { $1 }) == .none, "IfExists present")
        #expect(Self.ask(policy, .user("bob"), "s3:GetObject", "arn:aws:s3:::bkt/k", ["aws:username": ["bob"], "s3:max-keys": ["5"]]) == .none)
        #expect(!policy.isPublic)
    }

    @Test(arguments: [
        ("[]", "valid JSON"),
        (#"{"Statement": {"Effect": "Maybe", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}}"#, "Effect"),
        (#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}}"#, "Resource"),
        (#"{"Version": "2099-01-01", "Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}}"#, "Version"),
        (#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*", "Condition": {"DateLessThan": {"aws:CurrentTime": "soon"}}}}"#, "date"),
        (#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": 7, "Resource": "*"}}"#, "Action"),
    ])
    func malformed(json: String, why: String) {
        #expect {
            _ = try Self.parse(json)
        } throws: { error in
            guard let error = error as? S3Error else { return false }
            return error.code == "MalformedPolicy" && error.message.contains(why)
        }
    }
}
