import Foundation

/// The policy document of a POST Object form (base64 JSON): an expiration and the
/// conditions every form field must meet. S3's rules: each condition must hold, and every
/// field the form sends (less the exempt ones) must be named by some condition.
struct PostPolicy {
    enum Condition: Equatable {
        case equals(field: String, value: String)
        case startsWith(field: String, prefix: String)
        case contentLengthRange(min: UInt64, max: UInt64)
    }

    let expiration: Date
    let conditions: [Condition]

    /// Fields no condition needs to name (S3's list, and SigV2's two).
    static let exemptFields: Set<String> = ["x-amz-signature", "file", "policy", "signature", "awsaccesskeyid"]

    static func invalid(_ detail: String) -> S3Error {
        S3Error(.forbidden, "AccessDenied", "Invalid according to Policy: " + detail)
    }

    static func malformed(_ detail: String) -> S3Error {
        S3Error.invalidArgument("Invalid Policy: " + detail)
    }

    init(base64 text: String) throws(S3Error) {
        guard let data = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)),
              let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw Self.malformed("Invalid JSON.")
        }
        guard let expiration = root["expiration"] as? String, let date = Self.date(expiration) else {
            throw Self.malformed("Policy missing expiration or its format is invalid.")
        }
        guard let list = root["conditions"] as? [Any] else { throw Self.malformed("Policy missing conditions.") }
        self.expiration = date
        conditions = try list.map(Self.condition)
    }

    private static func date(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }

    private static func condition(_ item: Any) throws(S3Error) -> Condition {
        if let object = item as? [String: Any] {
            guard object.count == 1, let (name, value) = object.first, let text = value as? String else {
                throw malformed("Invalid Simple-Condition: a condition object names one field and a string.")
            }
            return .equals(field: name.lowercased(), value: text)
        }
        guard let array = item as? [Any], array.count == 3, let operation = (array[0] as? String)?.lowercased() else {
            throw malformed("Invalid Condition: a condition is an object or a 3-element array.")
        }
        if operation == "content-length-range" {
            guard let min = Self.integer(array[1]), let max = Self.integer(array[2]), min <= max else {
                throw malformed("Invalid content-length-range: two non-negative integers, min <= max.")
            }
            return .contentLengthRange(min: min, max: max)
        }
        guard let field = array[1] as? String, field.hasPrefix("$"), let value = array[2] as? String else {
            throw malformed("Invalid Condition: [\"\(operation)\", \"$field\", \"value\"].")
        }
        let name = String(field.dropFirst()).lowercased()
        switch operation {
        case "eq": return .equals(field: name, value: value)
        case "starts-with": return .startsWith(field: name, prefix: value)
        default: throw malformed("Invalid Condition operation: \(operation).")
        }
    }

    private static func integer(_ value: Any) -> UInt64? {
        if let number = value as? NSNumber, number.int64Value >= 0, number.doubleValue == Double(number.int64Value) {
            return UInt64(number.int64Value)
        }
        return (value as? String).flatMap { UInt64($0) }
    }

    /// The size the file must have, if the policy limits it.
    var contentLengthRange: ClosedRange<UInt64>? {
        for case .contentLengthRange(let min, let max) in conditions { return min...max }
        return nil
    }

    /// Checks expiration, every eq/starts-with condition against `fields` (names lowercase;
    /// the bucket is a field here) and that every field is covered.
    func check(_ fields: [String: String], now: Date) throws(S3Error) {
        guard now < expiration else { throw Self.invalid("Policy expired.") }
        var covered: Set<String> = []
        for condition in conditions {
            switch condition {
            case .equals(let field, let value):
                covered.insert(field)
                guard fields[field] == value else {
                    throw Self.invalid("Policy Condition failed: [\"eq\", \"$\(field)\", \"\(value)\"]")
                }
            case .startsWith(let field, let prefix):
                covered.insert(field)
                guard Self.startsWith(fields[field] ?? "", prefix, field: field) else {
                    throw Self.invalid("Policy Condition failed: [\"starts-with\", \"$\(field)\", \"\(prefix)\"]")
                }
            case .contentLengthRange:
                continue
            }
        }
        for name in fields.keys.sorted() where name != "bucket" && !Self.exemptFields.contains(name) && !name.hasPrefix("x-ignore-") {
            guard covered.contains(name) else { throw Self.invalid("Extra input fields: \(name)") }
        }
    }

    /// Content-Type may list several types separated by commas: each must start with the prefix.
    private static func startsWith(_ value: String, _ prefix: String, field: String) -> Bool {
        guard field == "content-type", value.contains(",") else { return value.hasPrefix(prefix) }
        return value.split(separator: ",").allSatisfy { $0.trimmingCharacters(in: .whitespaces).hasPrefix(prefix) }
    }
}
