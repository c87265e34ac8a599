import ArgumentParser
import Foundation
import StowageBench

/// `stowage bench`: a load generator for any S3 endpoint (Sources/StowageBench).
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Load any S3 endpoint with SigV4-signed requests over keep-alive connections, checking every answer.",
        discussion: """
            Operations: put, get, get-range, head, delete, list, copy, multipart, rename-object, \
            rename-prefix; --mix get=70,put=20,delete=10 weighs them. Every GET body is compared with the \
            bytes the object was written with (size and content); a wrong answer counts as a `verify` \
            error, and any error makes the exit status 1.
            """)

    @Option(help: "The S3 endpoint (http only).")
    var endpoint = "http://127.0.0.1:9000"

    @Option(help: "The bucket (created if missing).")
    var bucket = "bench"

    @Option(help: "Prefix of every key the bench writes.")
    var keyPrefix = "bench/"

    @Option(help: "Access key (default: $AWS_ACCESS_KEY_ID).")
    var accessKey: String?

    @Option(help: "Secret key (default: $AWS_SECRET_ACCESS_KEY).")
    var secretKey: String?

    @Option(help: "Region signed for (default: $AWS_REGION or us-east-1).")
    var region: String?

    @Option(help: "One operation, or weights: get=70,put=20,delete=10.")
    var mix = "get"

    @Option(help: "Object size, or a uniform range: 4KiB, 1MiB, 4KiB-1MiB.")
    var objSize = "4KiB"

    @Option(help: "Objects (each connection owns objects/concurrency of them; a mix of get, get-range and head may share fewer among more connections).")
    var objects = 1000

    @Option(help: "Concurrent keep-alive connections, one request in flight on each.")
    var concurrency = 16

    @Option(help: "Measured seconds.")
    var duration = 10.0

    @Option(help: "Measured operations in all, instead of --duration.")
    var count: Int?

    @Option(help: "Seconds of load before the measurement, not counted.")
    var warmup = 2.0

    @Option(help: "Bytes per ranged GET (get-range).")
    var rangeSize = "4KiB"

    @Option(help: "Part size of multipart uploads.")
    var partSize = "5MiB"

    @Option(help: "Objects under each prefix that rename-prefix moves.")
    var prefixObjects = 4

    @Option(help: "max-keys of each list.")
    var listMaxKeys = 100

    @Option(help: "Event-loop threads (default: min(concurrency, cores)).")
    var threads = 0

    @Option(help: "Seed of the payload bytes and of the choices.")
    var seed: UInt64 = 1

    @Flag(help: "Do not PUT the objects before the run (they are there from an earlier run with the same sizes and seed).")
    var noSetup = false

    @Flag(help: "Send no Authorization: GET files from a plain HTTP server (see --write-files).")
    var unsigned = false

    @Flag(help: "Sign with presigned URLs (SigV4 in the query), one per object and method, sent again while valid: put, get, get-range, head and delete only.")
    var presigned = false

    @Option(help: "Write the objects as files under this directory (<dir>/<bucket>/<key>) for a static server, and exit.")
    var writeFiles: String?

    @Flag(help: "Print the report as JSON.")
    var json = false

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let configuration: BenchConfiguration
        do throws(BenchUsageError) {
            let parsedMix = try OperationMix(parsing: mix)
            let sizes = try SizeDistribution(parsing: objSize)
            let rangeBytes = try ByteSize.parse(rangeSize)
            let partBytes = try ByteSize.parse(partSize)
            let keys = (access: accessKey ?? environment["AWS_ACCESS_KEY_ID"] ?? "",
                        secret: secretKey ?? environment["AWS_SECRET_ACCESS_KEY"] ?? "")
            let region = region ?? environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"] ?? "us-east-1"
            configuration = try BenchConfiguration(
                endpoint: endpoint, bucket: bucket, keyPrefix: keyPrefix, accessKey: keys.access, secretKey: keys.secret,
                region: region, unsigned: unsigned, presigned: presigned, mix: parsedMix, sizes: sizes, objects: objects, concurrency: concurrency,
                durationSeconds: duration, count: count, warmupSeconds: warmup, rangeBytes: rangeBytes, partBytes: partBytes,
                prefixObjects: prefixObjects, listMaxKeys: listMaxKeys, setup: !noSetup, createBucket: !noSetup,
                threads: threads, seed: seed)
        } catch {
            throw ValidationError(error.description)
        }
        if let writeFiles {
            try BenchFixtures.write(configuration, to: writeFiles)
            return
        }
        if !configuration.unsigned, configuration.accessKey.isEmpty || configuration.secretKey.isEmpty {
            throw ValidationError("no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or --access-key and --secret-key")
        }
        let live = !json && isatty(STDOUT_FILENO) != 0
        let report: BenchReport
        do {
            let progress: (@Sendable (String) -> Void)? = live ? Self.progressLine : nil
            report = try await BenchRunner.run(configuration, progress: progress)
        } catch let failure as BenchFailure {
            FileHandle.standardError.write(Data("stowage bench: \(failure)\n".utf8))
            throw ExitCode(2)
        }
        if live { FileHandle.standardOutput.write(Data("\r\u{1B}[K".utf8)) }
        print(json ? report.json() : report.text())
        if report.errorCount > 0 { throw ExitCode(1) }
    }

    /// Rewrites the terminal's current line.
    @Sendable static func progressLine(_ line: String) {
        FileHandle.standardOutput.write(Data(("\r\u{1B}[K" + line).utf8))
    }
}
