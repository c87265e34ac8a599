import ArgumentParser
import Foundation
import StowageS3

/// `stowage headers`: what the server does with every request header and query
/// parameter of the S3 operations it answers (the `WirePromises` table).
struct Headers: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "headers",
        abstract: "Print which request headers and query parameters are honoured and which are refused.")

    @Flag(help: "Print the table as JSON.")
    var json = false

    func run() throws {
        if json {
            let rows = WirePromises.rules.map(Self.row)
            let data = try JSONSerialization.data(withJSONObject: rows, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        for rule in WirePromises.rules {
            let name = rule.location == .query ? "?" + rule.name : rule.name + (rule.isPrefix ? "*" : "")
            let operations = rule.operations.map { $0.map(\.rawValue).sorted().joined(separator: ",") } ?? "all"
            let verdict: String
            switch rule.disposition {
            case .honoured: verdict = "honoured"
            case .honouredValues(let values, let otherwise):
                verdict = "honoured for \(values.map { $0.isEmpty ? "\"\"" : $0 }.joined(separator: "|")), else \(otherwise.status.code) \(otherwise.code)"
            case .refused(let refusal): verdict = "refused \(refusal.status.code) \(refusal.code)"
            }
            print("\(name)\t\(operations)\t\(verdict)\t\(rule.note)")
        }
    }

    static func row(_ rule: WirePromises.Rule) -> [String: Any] {
        var row: [String: Any] = [
            "name": rule.name, "location": rule.location.rawValue, "prefix": rule.isPrefix, "note": rule.note,
            "operations": rule.operations.map { $0.map(\.rawValue).sorted() } as Any? ?? NSNull(),
        ]
        func refusal(_ refusal: WirePromises.Refusal) -> [String: Any] {
            ["status": Int(refusal.status.code), "code": refusal.code, "message": refusal.message]
        }
        switch rule.disposition {
        case .honoured:
            row["disposition"] = "honoured"
        case .honouredValues(let values, let otherwise):
            row["disposition"] = "values"
            row["values"] = values
            row["refusal"] = refusal(otherwise)
        case .refused(let refused):
            row["disposition"] = "refused"
            row["refusal"] = refusal(refused)
        }
        return row
    }
}
