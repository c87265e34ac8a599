import ArgumentParser
import Foundation
import Yams

/// Where a `serve` setting comes from, first found wins: a command-line flag, the
/// environment (`STOWAGE_` and the flag's name in capitals, `-` as `_`: `STOWAGE_PORT`),
/// the configuration file (`--config FILE`, YAML, whose keys are the flags' names), then
/// the built-in default. Every mistake is collected, not only the first, so that
/// `serve --check-config` can explain them all at once.
struct Settings {
    enum Source: CustomStringConvertible {
        case flag, environment(String), file(path: String, line: Int), builtIn

        var description: String {
            switch self {
            case .flag: return "flag"
            case .environment(let name): return "environment \(name)"
            case .file(let path, let line): return "\(path) line \(line)"
            case .builtIn: return "default"
            }
        }
    }

    /// The file's top-level keys: the schema (unknown keys are mistakes, with the nearest
    /// known name suggested).
    static let keys: [String: SettingKind] = [
        "data": .path, "address": .text, "port": .integer, "access-key": .text, "secret-key": .secret,
        "credentials": .credentialList, "credentials-file": .path, "region": .text, "domain": .text,
        "durability": .text, "log-level": .text, "log-format": .text, "slow-request-ms": .integer,
        "tls-cert": .path, "tls-key": .path, "master-key-file": .path, "master-key": .secret, "metrics-token": .secret, "shutdown-delay": .integer,
        "compaction-threshold": .number, "compaction-rate": .integer, "compaction-interval": .integer,
        "segment-size": .integer, "lifecycle-interval": .integer, "lifecycle-day-seconds": .integer, "etcd": .textList, "etcd-prefix": .text, "etcd-max-txn-ops": .integer,
        "etcd-timeout-ms": .integer, "ceph-conf": .path, "rados-pool": .text, "deletion-grace": .integer,
    ]

    private let file: ConfigFile?
    private let environment: [String: String]
    private(set) var problems: [String] = []
    /// What each setting resolved to, and from where: `--check-config` prints it.
    private(set) var effective: [(name: String, value: String, source: Source)] = []

    init(configPath: String?, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
        guard let configPath else {
            file = nil
            return
        }
        do {
            file = try ConfigFile(path: configPath)
            problems += file?.problems ?? []
        } catch let error as ConfigurationError {
            file = nil
            problems += error.problems
        } catch {
            file = nil
            problems.append("\(configPath): \(error)")
        }
    }

    static func environmentName(_ name: String) -> String {
        "STOWAGE_" + name.uppercased().replacingOccurrences(of: "-", with: "_")
    }

    /// The setting from the first layer that has it; nil when none has (and on a mistake,
    /// which is recorded).
    mutating func value<T: SettingValue>(_ name: String, flag: T?) -> T? {
        value(name, flag: flag).map(\.value)
    }

    mutating func value<T: SettingValue>(_ name: String, flag: T?, default builtIn: T) -> T {
        if let found: (value: T, source: Source) = value(name, flag: flag) { return found.value }
        record(name, builtIn, .builtIn)
        return builtIn
    }

    private mutating func value<T: SettingValue>(_ name: String, flag: T?) -> (value: T, source: Source)? {
        assert(Self.keys[name] != nil, "\(name) is not in Settings.keys")
        if let flag {
            record(name, flag, .flag)
            return (flag, .flag)
        }
        let variable = Self.environmentName(name)
        if let text = environment[variable] {
            guard let parsed = T(setting: text) else {
                problems.append("\(variable)=\(text): \(name) must be \(T.kindName)")
                return nil
            }
            record(name, parsed, .environment(variable))
            return (parsed, .environment(variable))
        }
        guard let entry = file?.entries[name] else { return nil }
        let source = Source.file(path: entry.path, line: entry.line)
        guard var parsed = T(yaml: entry.node) else {
            problems.append("\(entry.path) line \(entry.line): \(name) must be \(T.kindName), not \(ConfigFile.describe(entry.node))")
            return nil
        }
        if Self.keys[name] == .path, let path = parsed as? String {
            parsed = ConfigFile.resolve(path, against: entry.path) as! T
        }
        record(name, parsed, source)
        return (parsed, source)
    }

    /// Where `name`'s value came from, for a mistake's message.
    func source(of name: String) -> Source {
        effective.last(where: { $0.name == name })?.source ?? .builtIn
    }

    /// Records a mistake in `name`'s value unless `condition` holds.
    mutating func require(_ condition: Bool, _ name: String, _ message: @autoclosure () -> String) {
        if !condition { problem(name, message()) }
    }

    mutating func problem(_ name: String, _ message: String) {
        problems.append("\(name) (\(source(of: name))): \(message)")
    }

    mutating func problem(_ message: String) {
        problems.append(message)
    }

    /// The file's credential pairs (`credentials: [{access-key: …, secret-key: …}]`).
    mutating func fileCredentials() -> [(access: String, secret: String)] {
        guard let entry = file?.entries["credentials"] else { return [] }
        guard let list = entry.node.sequence else {
            problems.append("\(entry.path) line \(entry.line): credentials must be a list of {access-key, secret-key} pairs")
            return []
        }
        var pairs: [(access: String, secret: String)] = []
        for item in list {
            let line = (item.mark?.line ?? entry.line)
            guard let mapping = item.mapping,
                  let access = mapping["access-key"]?.string, !access.isEmpty,
                  let secret = mapping["secret-key"]?.string, !secret.isEmpty,
                  mapping.count == 2 else {
                problems.append("\(entry.path) line \(line): each credential is exactly {access-key: KEY, secret-key: SECRET}")
                continue
            }
            pairs.append((access, secret))
        }
        effective.append(("credentials", "\(pairs.count) pair(s)", .file(path: entry.path, line: entry.line)))
        return pairs
    }

    private mutating func record<T: SettingValue>(_ name: String, _ value: T, _ source: Source) {
        let shown = Self.keys[name] == .secret ? "(secret, \(value.settingText.count) characters)" : value.settingText
        effective.append((name, shown, source))
    }

    /// Throws every mistake at once, one per line.
    func check() throws {
        guard !problems.isEmpty else { return }
        throw ConfigurationError(problems)
    }

    /// The effective configuration, one `name: value (source)` line each.
    func report() -> String {
        var seen = Set<String>()
        var lines: [String] = []
        for entry in effective.reversed() where seen.insert(entry.name).inserted {
            lines.append("\(entry.name): \(entry.value)  (\(entry.source))")
        }
        return lines.reversed().joined(separator: "\n")
    }
}

/// Every mistake of a configuration, one per line (printed without the usage text a
/// `ValidationError` brings).
struct ConfigurationError: Error, CustomStringConvertible {
    let problems: [String]
    init(_ problems: [String]) { self.problems = problems }

    var description: String {
        "the configuration has \(problems.count) mistake(s):\n" + problems.map { "  - " + $0 }.joined(separator: "\n")
    }
}

enum SettingKind: Equatable { case text, secret, path, integer, number, textList, credentialList }

/// A type a setting can have, read from the environment or from a YAML node.
protocol SettingValue {
    static var kindName: String { get }
    init?(setting text: String)
    init?(yaml node: Node)
    var settingText: String { get }
}

extension String: SettingValue {
    static var kindName: String { "a string" }
    init?(setting text: String) { self = text }
    init?(yaml node: Node) {
        guard let scalar = node.scalar else { return nil }
        self = scalar.string
    }
    var settingText: String { self }
}

extension Int: SettingValue {
    static var kindName: String { "an integer" }
    init?(setting text: String) { self.init(text.trimmingCharacters(in: .whitespaces)) }
    init?(yaml node: Node) {
        guard let value = node.int else { return nil }
        self = value
    }
    var settingText: String { String(self) }
}

extension UInt64: SettingValue {
    static var kindName: String { "a non-negative integer" }
    init?(setting text: String) { self.init(text.trimmingCharacters(in: .whitespaces)) }
    init?(yaml node: Node) {
        guard let value = node.int, value >= 0 else { return nil }
        self = UInt64(value)
    }
    var settingText: String { String(self) }
}

extension Double: SettingValue {
    static var kindName: String { "a number" }
    init?(setting text: String) { self.init(text.trimmingCharacters(in: .whitespaces)) }
    init?(yaml node: Node) {
        guard let value = node.float, value.isFinite else { return nil }
        self = value
    }
    var settingText: String { String(self) }
}

/// A list: comma-separated in a flag or the environment, a YAML list (or one
/// comma-separated string) in the file.
extension Array: SettingValue where Element == String {
    static var kindName: String { "a list of strings" }
    init?(setting text: String) {
        self = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
    init?(yaml node: Node) {
        if let scalar = node.scalar {
            self.init(setting: scalar.string)
            return
        }
        guard let list = node.sequence else { return nil }
        var items: [String] = []
        for item in list {
            guard let scalar = item.scalar else { return nil }
            items.append(scalar.string)
        }
        self = items
    }
    var settingText: String { joined(separator: ",") }
}

/// A YAML configuration file: one mapping whose keys are `serve`'s flag names.
struct ConfigFile {
    struct Entry {
        let path: String
        let line: Int
        let node: Node
    }

    let path: String
    let entries: [String: Entry]
    /// Unknown keys and the like, each with its line.
    let problems: [String]

    init(path: String) throws {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ConfigurationError(["cannot read the configuration file \(path): \(error.localizedDescription)"])
        }
        self.path = path
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch let error as YamlError {
            throw ConfigurationError(["\(path) is not valid YAML: \(error)"])
        }
        guard let root else {
            (entries, problems) = ([:], [])
            return
        }
        guard let mapping = root.mapping else {
            throw ConfigurationError(["\(path) must be a mapping of settings (name: value), not \(Self.describe(root))"])
        }
        var entries: [String: Entry] = [:]
        var problems: [String] = []
        for (key, value) in mapping {
            let line = key.mark?.line ?? 0
            guard let name = key.scalar?.string else {
                problems.append("\(path) line \(line): a setting's name must be a string")
                continue
            }
            guard Settings.keys[name] != nil else {
                let hint = Self.nearest(to: name).map { " (did you mean \($0)?)" } ?? ""
                problems.append("\(path) line \(line): unknown setting '\(name)'\(hint)")
                continue
            }
            entries[name] = Entry(path: path, line: line, node: value)
        }
        (self.entries, self.problems) = (entries, problems)
    }

    /// A relative path in the file is relative to the file's directory.
    static func resolve(_ path: String, against file: String) -> String {
        guard !path.hasPrefix("/"), !path.isEmpty else { return path }
        let directory = (file as NSString).deletingLastPathComponent
        return directory.isEmpty ? path : ((directory as NSString).appendingPathComponent(path) as NSString).standardizingPath
    }

    static func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar): return "'\(scalar.string)'"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    /// The known setting nearest to a misspelt one (edit distance at most 3).
    static func nearest(to name: String) -> String? {
        let scored = Settings.keys.keys.map { ($0, editDistance(Array(name), Array($0))) }
        guard let best = scored.min(by: { $0.1 < $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }), best.1 <= 3 else { return nil }
        return best.0
    }

    private static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        var previous = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(b.count, 1) where !b.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
