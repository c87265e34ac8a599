import ArgumentParser
import Foundation
import Logging
import Stowage
import StowageS3

/// `serve`'s settings once every layer is applied (`Settings`) and every value checked:
/// what `run()` starts from, and what `--check-config` prints.
struct ServeSettings {
    var data = "./data"
    var address = "127.0.0.1"
    var port = 9000
    var credentials: [String: String] = [:]
    var isDevelopment = false
    var region = "us-east-1"
    var domain = "localhost"
    var durability = Durability.strict
    var logLevel = Logger.Level.info
    var logFormat = "text"
    var slowRequestMs = 1000
    var tls: ReloadableTLS?
    var masterKey: MasterKey?
    var metricsToken: String?
    var shutdownDelay = 0
    var compaction = CompactionOptions()
    var compactionInterval = 60
    var segmentSize: UInt64?
    var lifecycleInterval = 600
    var lifecycleDaySeconds = 86_400
    var cluster: ClusterConfiguration?
    /// The resolution, with its record of sources and mistakes.
    var layers: Settings

    /// Resolves and checks everything; `layers.problems` lists what is wrong.
    init(_ serve: Serve) {
        var layers = Settings(configPath: serve.config ?? ProcessInfo.processInfo.environment["STOWAGE_CONFIG"])
        data = layers.value("data", flag: serve.data, default: data)
        address = layers.value("address", flag: serve.address, default: address)
        port = layers.value("port", flag: serve.port, default: port)
        layers.require((0...65_535).contains(port), "port", "must be 0 to 65535")
        region = layers.value("region", flag: serve.region, default: region)
        layers.require(!region.isEmpty, "region", "must not be empty")
        domain = layers.value("domain", flag: serve.domain, default: domain)
        let durabilityName = layers.value("durability", flag: serve.durability, default: durability.rawValue)
        if let mode = Durability(rawValue: durabilityName) { durability = mode } else {
            layers.problem("durability", "'\(durabilityName)' must be strict or relaxed")
        }
        let levelName = layers.value("log-level", flag: serve.logLevel, default: logLevel.rawValue)
        if let level = Logger.Level(rawValue: levelName) { logLevel = level } else {
            layers.problem("log-level", "'\(levelName)' must be one of trace, debug, info, notice, warning, error, critical")
        }
        logFormat = layers.value("log-format", flag: serve.logFormat, default: logFormat)
        layers.require(["text", "json"].contains(logFormat), "log-format", "'\(logFormat)' must be text or json")
        slowRequestMs = layers.value("slow-request-ms", flag: serve.slowRequestMs, default: slowRequestMs)
        layers.require(slowRequestMs >= 0, "slow-request-ms", "must be 0 or more")
        shutdownDelay = layers.value("shutdown-delay", flag: serve.shutdownDelay, default: shutdownDelay)
        layers.require((0...3600).contains(shutdownDelay), "shutdown-delay", "must be 0 to 3600 seconds")
        metricsToken = layers.value("metrics-token", flag: serve.metricsToken)
        if let token = metricsToken {
            layers.require(!token.isEmpty && !token.contains(where: \.isWhitespace), "metrics-token", "must be non-empty, without spaces")
        }
        tls = Self.loadTLS(&layers, serve)
        masterKey = Self.loadMasterKey(&layers, serve)
        (credentials, isDevelopment) = Self.loadCredentials(&layers, serve)
        compaction = serve.compaction.options(&layers)
        compactionInterval = layers.value("compaction-interval", flag: serve.compactionInterval, default: compactionInterval)
        layers.require(compactionInterval >= 0, "compaction-interval", "must be 0 or more")
        segmentSize = layers.value("segment-size", flag: serve.segmentSize)
        if let segmentSize {
            layers.require((1...(1 << 20)).contains(segmentSize), "segment-size", "must be 1 to 1048576 MiB")
        }
        lifecycleInterval = layers.value("lifecycle-interval", flag: serve.lifecycleInterval, default: lifecycleInterval)
        layers.require(lifecycleInterval >= 0, "lifecycle-interval", "must be 0 or more")
        lifecycleDaySeconds = layers.value("lifecycle-day-seconds", flag: serve.lifecycleDaySeconds, default: lifecycleDaySeconds)
        layers.require(lifecycleDaySeconds >= 1, "lifecycle-day-seconds", "must be at least 1")
        cluster = serve.cluster.configuration(&layers)
        if cluster == nil {
            let parent = (data as NSString).deletingLastPathComponent
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: data, isDirectory: &isDirectory) {
                layers.require(isDirectory.boolValue, "data", "\(data) exists and is not a directory")
            } else {
                layers.require(parent.isEmpty || FileManager.default.fileExists(atPath: parent), "data",
                               "cannot create \(data): \(parent) does not exist")
            }
        }
        self.layers = layers
    }

    /// `master-key-file` or `master-key` (not both): 32 bytes, raw, hex or base64.
    private static func loadMasterKey(_ layers: inout Settings, _ serve: Serve) -> MasterKey? {
        let path = layers.value("master-key-file", flag: serve.masterKeyFile)
        let text = layers.value("master-key", flag: serve.masterKey)
        switch (path, text) {
        case (nil, nil):
            return nil
        case (_?, _?):
            layers.problem("master-key", "give master-key-file or master-key, not both")
            return nil
        case (let path?, nil):
            guard let bytes = FileManager.default.contents(atPath: path) else {
                layers.problem("master-key-file", "cannot read \(path)")
                return nil
            }
            guard let key = MasterKey(text: Array(bytes)) else {
                layers.problem("master-key-file", "\(path) must hold 32 bytes: raw, as 64 hex digits or as base64")
                return nil
            }
            return key
        case (nil, let text?):
            guard let key = MasterKey(text: Array(text.utf8)) else {
                layers.problem("master-key", "must be 32 bytes as 64 hex digits or as base64")
                return nil
            }
            return key
        }
    }

    private static func loadTLS(_ layers: inout Settings, _ serve: Serve) -> ReloadableTLS? {
        let certificate = layers.value("tls-cert", flag: serve.tlsCert)
        let key = layers.value("tls-key", flag: serve.tlsKey)
        switch (certificate, key) {
        case (nil, nil): return nil
        case let (certificate?, key?):
            do { return try ReloadableTLS(certificatePath: certificate, keyPath: key) } catch {
                layers.problem("tls-cert", "cannot use \(certificate) with the key \(key): \(error)")
                return nil
            }
        default:
            layers.problem(certificate == nil ? "tls-key" : "tls-cert", "tls-cert and tls-key go together")
            return nil
        }
    }

    /// The access-key/secret-key pair, the credentials file's pairs and the configuration
    /// file's `credentials` list, together; with none, the development pair.
    private static func loadCredentials(_ layers: inout Settings, _ serve: Serve) -> ([String: String], isDevelopment: Bool) {
        var pairs: [String: String] = [:]
        let access = layers.value("access-key", flag: serve.accessKey)
        let secret = layers.value("secret-key", flag: serve.secretKey)
        switch (access, secret) {
        case let (access?, secret?): pairs[access] = secret
        case (nil, nil): break
        case (_?, nil): layers.problem("access-key", "an access key needs a secret key (--secret-key or STOWAGE_SECRET_KEY)")
        case (nil, _?): layers.problem("secret-key", "a secret key needs an access key (--access-key or STOWAGE_ACCESS_KEY)")
        }
        if let path = layers.value("credentials-file", flag: serve.credentialsFile) {
            do {
                for (access, secret) in try readCredentialsFile(path) { pairs[access] = secret }
            } catch {
                layers.problem("credentials-file", "\(error)")
            }
        }
        for pair in layers.fileCredentials() { pairs[pair.access] = pair.secret }
        if pairs.isEmpty { return ([Serve.developmentAccessKey: Serve.developmentSecretKey], true) }
        return (pairs, false)
    }

    /// One `ACCESS_KEY SECRET_KEY` pair per line; `#` starts a comment.
    private static func readCredentialsFile(_ path: String) throws -> [(String, String)] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ValidationError("cannot read \(path): \(error.localizedDescription)")
        }
        var pairs: [(String, String)] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let content = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0]
            let fields = content.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == ":" })
            if fields.isEmpty { continue }
            guard fields.count == 2 else { throw ValidationError("\(path):\(number + 1): expected 'ACCESS_KEY SECRET_KEY'") }
            pairs.append((String(fields[0]), String(fields[1])))
        }
        return pairs
    }
}
