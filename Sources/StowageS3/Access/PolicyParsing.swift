import Foundation

/// The condition operators built, and how each compares a request's values with the
/// policy's. A multi-valued key holds when any request value matches any policy value
/// (the negated operators: when none does).
enum PolicyConditionOperator: String, Sendable, CaseIterable {
    case stringEquals = "StringEquals", stringNotEquals = "StringNotEquals"
    case stringEqualsIgnoreCase = "StringEqualsIgnoreCase", stringNotEqualsIgnoreCase = "StringNotEqualsIgnoreCase"
    case stringLike = "StringLike", stringNotLike = "StringNotLike"
    case numericEquals = "NumericEquals", numericNotEquals = "NumericNotEquals"
    case numericLessThan = "NumericLessThan", numericLessThanEquals = "NumericLessThanEquals"
    case numericGreaterThan = "NumericGreaterThan", numericGreaterThanEquals = "NumericGreaterThanEquals"
    case dateEquals = "DateEquals", dateNotEquals = "DateNotEquals"
    case dateLessThan = "DateLessThan", dateLessThanEquals = "DateLessThanEquals"
    case dateGreaterThan = "DateGreaterThan", dateGreaterThanEquals = "DateGreaterThanEquals"
    case bool = "Bool"
    case ipAddress = "IpAddress", notIpAddress = "NotIpAddress"
    case null = "Null"

    var isNegated: Bool {
        switch self {
        case .stringNotEquals, .stringNotEqualsIgnoreCase, .stringNotLike, .numericNotEquals, .dateNotEquals, .notIpAddress: true
        default: false
        }
    }

    /// Whether one request value matches one policy value (before negation).
    func matches(_ actual: String, _ expected: String) -> Bool {
        switch self {
        case .stringEquals, .stringNotEquals: return actual == expected
        case .stringEqualsIgnoreCase, .stringNotEqualsIgnoreCase: return actual.lowercased() == expected.lowercased()
        case .stringLike, .stringNotLike: return PolicyWildcard.matches(expected, actual)
        case .numericEquals, .numericNotEquals, .numericLessThan, .numericLessThanEquals, .numericGreaterThan,
             .numericGreaterThanEquals:
            guard let a = Double(actual), let e = Double(expected) else { return false }
            return compare(a, e)
        case .dateEquals, .dateNotEquals, .dateLessThan, .dateLessThanEquals, .dateGreaterThan, .dateGreaterThanEquals:
            guard let a = Self.date(actual), let e = Self.date(expected) else { return false }
            return compare(a, e)
        case .bool: return actual.lowercased() == expected.lowercased()
        case .ipAddress, .notIpAddress: return PolicyCIDR(expected)?.contains(actual) ?? false
        case .null: return false   // handled by the caller: presence, not value
        }
    }

    private func compare(_ a: Double, _ e: Double) -> Bool {
        switch self {
        case .numericEquals, .numericNotEquals, .dateEquals, .dateNotEquals: a == e
        case .numericLessThan, .dateLessThan: a < e
        case .numericLessThanEquals, .dateLessThanEquals: a <= e
        case .numericGreaterThan, .dateGreaterThan: a > e
        default: a >= e
        }
    }

    /// ISO 8601 (with or without fractional seconds) or epoch seconds.
    static func date(_ text: String) -> Double? {
        if let seconds = Double(text) { return seconds }
        let formatter = ISO8601DateFormatter()
        if let date = formatter.date(from: text) { return date.timeIntervalSince1970 }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)?.timeIntervalSince1970
    }
}

extension BucketPolicy.Condition {
    func holds(in context: [String: [String]]) -> Bool {
        let actual = context[key.lowercased()]
        if op == .null {
            // Null: true asks that the key be absent.
            return values.contains { $0.lowercased() == (actual == nil ? "true" : "false") }
        }
        guard let actual, !actual.isEmpty else { return ifExists }
        let any = actual.contains { value in values.contains { op.matches(value, $0) } }
        return op.isNegated ? !any : any
    }
}

/// An IPv4 or IPv6 address range in CIDR notation (a bare address is a /32 or /128).
struct PolicyCIDR {
    let bytes: [UInt8]
    let prefix: Int

    init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1)
        guard let address = Self.parse(String(parts[0])) else { return nil }
        let bits = address.count * 8
        if parts.count == 2 {
            guard let prefix = Int(parts[1]), (0...bits).contains(prefix) else { return nil }
            self.prefix = prefix
        } else {
            prefix = bits
        }
        bytes = address
    }

    func contains(_ text: String) -> Bool {
        guard let address = Self.parse(text), address.count == bytes.count else { return false }
        for bit in 0..<prefix where (address[bit / 8] ^ bytes[bit / 8]) & (0x80 >> UInt8(bit % 8)) != 0 { return false }
        return true
    }

    static func parse(_ text: String) -> [UInt8]? {
        var v4 = in_addr(), v6 = in6_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: v4) { Array($0) } }
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: v6) { Array($0) } }
        return nil
    }
}

/// A JSON value as the policy language needs it (booleans told from numbers).
enum JSONValue: Decodable {
    case string(String), number(Double), bool(Bool), array([JSONValue]), object([String: JSONValue]), null

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    var string: String? { if case .string(let s) = self { s } else { nil } }
    var object: [String: JSONValue]? { if case .object(let o) = self { o } else { nil } }
    var array: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
}

/// PutBucketPolicy's parser: JSON (at most 20 KB, as S3), every element checked, every
/// mistake named in `MalformedPolicy`'s message.
enum PolicyParser {
    static let maxBytes = 20 * 1024

    /// `bucket`: a bucket policy's bucket (its statements name principals and resources of
    /// that bucket); nil: a user's policy (no principal — it is the user's — and resources
    /// in any bucket).
    static func parse(_ data: [UInt8], bucket: String?) throws(S3Error) -> BucketPolicy {
        guard data.count <= maxBytes else { throw malformed("Policies must be at most 20 KB") }
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(data)), let root = value.object else {
            throw malformed("Policies must be valid JSON and the first byte must be '{'")
        }
        for key in root.keys where !["Version", "Id", "Statement"].contains(key) {
            throw malformed("Unknown field \(key)")
        }
        if let version = root["Version"] {
            guard let text = version.string, ["2012-10-17", "2008-10-17"].contains(text) else {
                throw malformed("The policy's Version must be 2012-10-17 or 2008-10-17")
            }
        }
        let list: [JSONValue]
        switch root["Statement"] {
        case .array(let many)?: list = many
        case .object(let one)?: list = [.object(one)]
        default: throw malformed("Missing required field Statement")
        }
        guard !list.isEmpty else { throw malformed("Statement must not be empty") }
        let statements = try list.enumerated().map { (n, item) throws(S3Error) -> BucketPolicy.Statement in
            guard let fields = item.object else { throw malformed("Statement \(n + 1) is not an object") }
            return try statement(fields, number: n + 1, bucket: bucket)
        }
        return BucketPolicy(statements: statements)
    }

    private static func statement(_ fields: [String: JSONValue], number: Int, bucket: String?) throws(S3Error) -> BucketPolicy.Statement {
        let known: Set<String> = ["Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource",
                                  "NotResource", "Condition"]
        for key in fields.keys where !known.contains(key) { throw malformed("Statement \(number): unknown field \(key)") }
        guard let effectText = fields["Effect"]?.string, let effect = BucketPolicy.Effect(rawValue: effectText) else {
            throw malformed("Statement \(number): Effect must be Allow or Deny")
        }
        var (principals, principalNegated) = (BucketPolicy.Principals.everyone, false)
        if bucket != nil {
            (principals, principalNegated) = try pair(fields, "Principal", "NotPrincipal", number) { (value: JSONValue) throws(S3Error) in
                try self.principals(value, number)
            }
        } else if fields["Principal"] != nil || fields["NotPrincipal"] != nil {
            throw malformed("Statement \(number): a user's policy has no Principal (it is the user's)")
        }
        let (actions, actionNegated) = try pair(fields, "Action", "NotAction", number) { (value: JSONValue) throws(S3Error) in
            try strings(value, "Action", number)
        }
        for action in actions where !(action == "*" || action.lowercased().hasPrefix("s3:")) {
            throw malformed("Statement \(number): Action \(action) is not an s3: action")
        }
        let (resources, resourceNegated) = try pair(fields, "Resource", "NotResource", number) { (value: JSONValue) throws(S3Error) in
            try strings(value, "Resource", number)
        }
        for resource in resources {
            guard resource.hasPrefix("arn:aws:s3:::") || resource == "*" else {
                throw malformed("Statement \(number): Resource \(resource) is not an arn:aws:s3::: ARN")
            }
            guard let bucket else { continue }
            let covers = PolicyWildcard.matches(resource, "arn:aws:s3:::" + bucket)
                || resource.hasPrefix("arn:aws:s3:::" + bucket + "/") || resource == "*"
            guard covers || resourceNegated else {
                throw malformed("Policy has invalid resource: \(resource) is not in the bucket \(bucket)")
            }
        }
        var conditions: [BucketPolicy.Condition] = []
        if let value = fields["Condition"] {
            guard let blocks = value.object else { throw malformed("Statement \(number): Condition must be an object") }
            for (name, body) in blocks {
                var operatorName = name
                let ifExists = name.hasSuffix("IfExists")
                if ifExists { operatorName.removeLast("IfExists".count) }
                guard let op = PolicyConditionOperator(rawValue: operatorName) else {
                    throw malformed("Statement \(number): the condition operator \(name) is not supported")
                }
                guard let keys = body.object, !keys.isEmpty else {
                    throw malformed("Statement \(number): \(name) must map condition keys to values")
                }
                for (key, values) in keys {
                    guard key.contains(":") else { throw malformed("Statement \(number): condition key \(key) has no service prefix") }
                    let list = try conditionValues(values, key, number)
                    if op == .ipAddress || op == .notIpAddress, let bad = list.first(where: { PolicyCIDR($0) == nil }) {
                        throw malformed("Statement \(number): \(bad) is not an IP address range")
                    }
                    if op.rawValue.hasPrefix("Date"), let bad = list.first(where: { PolicyConditionOperator.date($0) == nil }) {
                        throw malformed("Statement \(number): \(bad) is not a date")
                    }
                    if op.rawValue.hasPrefix("Numeric"), let bad = list.first(where: { Double($0) == nil }) {
                        throw malformed("Statement \(number): \(bad) is not a number")
                    }
                    conditions.append(BucketPolicy.Condition(op: op, ifExists: ifExists, key: key, values: list))
                }
            }
        }
        return BucketPolicy.Statement(sid: fields["Sid"]?.string, effect: effect, principals: principals,
                                      principalNegated: principalNegated, actions: actions, actionNegated: actionNegated,
                                      resources: resources, resourceNegated: resourceNegated, conditions: conditions)
    }

    /// Exactly one of `name` and `not`.
    private static func pair<T>(_ fields: [String: JSONValue], _ name: String, _ not: String, _ number: Int,
                                _ parse: (JSONValue) throws(S3Error) -> T) throws(S3Error) -> (T, Bool) {
        switch (fields[name], fields[not]) {
        case (let value?, nil): return (try parse(value), false)
        case (nil, let value?): return (try parse(value), true)
        case (nil, nil): throw malformed("Statement \(number): missing required field \(name)")
        default: throw malformed("Statement \(number): \(name) and \(not) cannot both be given")
        }
    }

    private static func strings(_ value: JSONValue, _ field: String, _ number: Int) throws(S3Error) -> [String] {
        if let one = value.string { return [one] }
        let many = value.array?.compactMap(\.string) ?? []
        guard !many.isEmpty, many.count == value.array?.count else {
            throw malformed("Statement \(number): \(field) must be a string or a list of strings")
        }
        return many
    }

    private static func conditionValues(_ value: JSONValue, _ key: String, _ number: Int) throws(S3Error) -> [String] {
        func text(_ item: JSONValue) throws(S3Error) -> String {
            switch item {
            case .string(let string): return string
            case .bool(let flag): return flag ? "true" : "false"
            case .number(let value): return value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
            default: throw malformed("Statement \(number): the values of \(key) must be strings, numbers or booleans")
            }
        }
        if let many = value.array { return try many.map { (item: JSONValue) throws(S3Error) in try text(item) } }
        return [try text(value)]
    }

    private static func principals(_ value: JSONValue, _ number: Int) throws(S3Error) -> BucketPolicy.Principals {
        if let star = value.string {
            guard star == "*" else { throw malformed("Statement \(number): Principal must be \"*\" or {\"AWS\": …}") }
            return .everyone
        }
        guard let map = value.object, map.count == 1, let aws = map["AWS"] else {
            throw malformed("Statement \(number): Principal must be \"*\" or {\"AWS\": …} (no other principal kinds here)")
        }
        let names = try strings(aws, "Principal", number)
        if names.contains("*") { return .everyone }
        var users = Set<String>()
        for name in names {
            // arn:aws:iam::<account>:user/NAME
            guard name.hasPrefix("arn:aws:iam::"), let range = name.range(of: ":user/") else {
                throw malformed("Statement \(number): invalid principal \(name): a user is arn:aws:iam::<account>:user/NAME")
            }
            users.insert(String(name[range.upperBound...]))
        }
        return .users(users)
    }

    static func malformed(_ why: String) -> S3Error {
        S3Error(.badRequest, "MalformedPolicy", why)
    }
}
