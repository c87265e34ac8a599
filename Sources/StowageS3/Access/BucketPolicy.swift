import Foundation

/// A bucket policy in IAM's policy language, parsed and checked once (PutBucketPolicy
/// refuses what does not parse, with what is wrong), evaluated per request.
///
/// Built: `Version`, `Id`, `Statement` (one or a list) with `Sid`, `Effect`, `Principal` /
/// `NotPrincipal` (`*`, `{"AWS": "*" | ARN | [..]}`; a user is
/// `arn:aws:iam::<account>:user/NAME`), `Action` / `NotAction` and `Resource` /
/// `NotResource` with `*` and `?` wildcards, and `Condition` with the String*, Numeric*,
/// Date*, Bool, IpAddress / NotIpAddress and Null operators, each also `…IfExists`.
struct BucketPolicy: Sendable {
    enum Effect: String, Sendable { case allow = "Allow", deny = "Deny" }

    /// `*` (everyone, anonymous included) or the names of users.
    enum Principals: Sendable, Equatable {
        case everyone
        case users(Set<String>)

        func contains(_ principal: Principal) -> Bool {
            switch (self, principal) {
            case (.everyone, _): true
            case (.users(let names), .user(let name)): names.contains(name)
            case (.users, .anonymous): false
            }
        }
    }

    struct Statement: Sendable {
        var sid: String?
        var effect: Effect
        var principals: Principals
        var principalNegated: Bool
        var actions: [String]
        var actionNegated: Bool
        var resources: [String]
        var resourceNegated: Bool
        var conditions: [Condition]
    }

    struct Condition: Sendable {
        var op: PolicyConditionOperator
        var ifExists: Bool
        var key: String
        var values: [String]
    }

    var statements: [Statement]

    /// Who asks: a user (by name) or nobody (an unsigned request).
    enum Principal: Sendable, Equatable {
        case user(String)
        case anonymous
    }

    /// What the evaluation needs of one request.
    struct Request {
        var principal: Principal
        /// `s3:GetObject`, …
        var action: String
        /// `arn:aws:s3:::bucket` or `arn:aws:s3:::bucket/key`.
        var resource: String
        /// Condition keys present on the request, lowercased names (`aws:sourceip`, …).
        var context: [String: [String]]
    }

    enum Decision: Equatable { case deny, allow, none }

    /// Explicit deny beats allow; no matching statement decides nothing.
    func decide(_ request: Request) -> Decision {
        var allowed = false
        for statement in statements where statement.applies(to: request) {
            if statement.effect == .deny { return .deny }
            allowed = true
        }
        return allowed ? .allow : .none
    }

    /// Public, as GetBucketPolicyStatus reports it: some Allow reaches everyone with no
    /// condition that narrows who.
    var isPublic: Bool {
        statements.contains { $0.effect == .allow && !$0.principalNegated && $0.principals == .everyone && $0.conditions.isEmpty }
    }
}

extension BucketPolicy.Statement {
    func applies(to request: BucketPolicy.Request) -> Bool {
        guard principals.contains(request.principal) != principalNegated,
              actions.contains(where: { PolicyWildcard.matches($0.lowercased(), request.action.lowercased()) }) != actionNegated,
              resources.contains(where: { PolicyWildcard.matches($0, request.resource) }) != resourceNegated else {
            return false
        }
        return conditions.allSatisfy { $0.holds(in: request.context) }
    }
}

/// `*` matches any run of characters, `?` one character.
enum PolicyWildcard {
    static func matches(_ pattern: String, _ text: String) -> Bool {
        let p = Array(pattern.unicodeScalars), t = Array(text.unicodeScalars)
        var pi = 0, ti = 0, star = -1, mark = 0
        while ti < t.count {
            if pi < p.count && (p[pi] == "?" || p[pi] == t[ti]) {
                pi += 1; ti += 1
            } else if pi < p.count && p[pi] == "*" {
                star = pi; mark = ti; pi += 1
            } else if star >= 0 {
                pi = star + 1; mark += 1; ti = mark
            } else {
                return false
            }
        }
        while pi < p.count && p[pi] == "*" { pi += 1 }
        return pi == p.count
    }
}
