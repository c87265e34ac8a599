import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// A run: connect, create the bucket, PUT the objects the mix reads, warm up, measure.
public enum BenchRunner {
    /// Runs the load; `progress` (if given) is called about once a second with a one-line
    /// status while the load runs.
    public static func run(_ configuration: BenchConfiguration,
                           progress: (@Sendable (String) -> Void)? = nil) async throws -> BenchReport {
        let shared = BenchShared(configuration: configuration,
                                 payload: BenchPayload(sizes: configuration.sizes, seed: configuration.seed,
                                                       partBytes: configuration.mix.operations.contains(.multipart)
                                                           ? configuration.partBytes : nil))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: configuration.threads)
        do {
            let report = try await load(shared, try await connect(shared, group), progress)
            try await group.shutdownGracefully()  // closes the connections
            return report
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    /// A connection's handler, usable from its event loop only (it reconnects by itself,
    /// so it outlives its first channel).
    typealias Connection = NIOLoopBound<BenchConnection>

    static func connect(_ shared: BenchShared, _ group: MultiThreadedEventLoopGroup) async throws -> [Connection] {
        let configuration = shared.configuration
        var connections: [Connection] = []
        for index in 0..<configuration.concurrency {
            let bootstrap = ClientBootstrap(group: group)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connectTimeout(.seconds(10))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(BenchConnection(shared: shared, index: index, eventLoop: channel.eventLoop))
                    }
                }
            let channel: Channel
            do {
                channel = try await bootstrap.connect(host: configuration.host, port: configuration.port).get()
            } catch {
                throw BenchFailure("cannot connect to \(configuration.host):\(configuration.port): \(error)")
            }
            connections.append(try await channel.eventLoop.submit {
                Connection(try channel.pipeline.syncOperations.handler(type: BenchConnection.self), eventLoop: channel.eventLoop)
            }.get())
        }
        return connections
    }

    /// Runs `body` with a connection's handler, on its event loop.
    static func with<Result: Sendable>(_ connection: Connection,
                                       _ body: @escaping @Sendable (BenchConnection, EventLoopPromise<Result>) -> Void) async throws -> Result {
        try await connection.eventLoop.flatSubmit {
            let promise = connection.eventLoop.makePromise(of: Result.self)
            body(connection.value, promise)
            return promise.futureResult
        }.get()
    }

    static func load(_ shared: BenchShared, _ channels: [Connection],
                     _ progress: (@Sendable (String) -> Void)?) async throws -> BenchReport {
        let configuration = shared.configuration
        if configuration.createBucket, let error = try await with(channels[0], { $0.createBucket($1) }) {
            throw BenchFailure("cannot create bucket \(configuration.bucket): \(error)")
        }
        if configuration.setup {
            let started = NIODeadline.now()
            var failures: [String: Int] = [:]
            for result in try await all(channels, { connection, promise in connection.setUp(promise) }) {
                failures.merge(result.setupErrors, uniquingKeysWith: +)
            }
            guard failures.isEmpty else {
                throw BenchFailure("set-up PUTs failed: \(failures.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", "))")
            }
            progress?("set-up: \(configuration.objects) objects in \(String(format: "%.1f", Double((NIODeadline.now() - started).nanoseconds) / 1e9)) s")
        }
        let start = NIODeadline.now().uptimeNanoseconds
        let measureStart = start + UInt64(configuration.warmupSeconds * 1e9)
        let measureEnd = configuration.count != nil ? UInt64.max : measureStart + UInt64(configuration.durationSeconds * 1e9)
        let window = BenchWindow(measureStartNanoseconds: measureStart, measureEndNanoseconds: measureEnd)
        let ticker = progress.map { report in
            Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    let now = NIODeadline.now().uptimeNanoseconds
                    if now < measureStart {
                        report("warm-up \(String(format: "%.0f", Double(measureStart - now) / 1e9)) s left")
                    } else {
                        let seconds = Double(now - measureStart) / 1e9
                        let done = shared.completed.load(ordering: .relaxed)
                        report(String(format: "%6.1f s  %9d ops  %10.0f ops/s  %d errors", seconds, done,
                                      Double(done) / max(seconds, 1e-9), shared.failed.load(ordering: .relaxed)))
                    }
                }
            }
        }
        defer { ticker?.cancel() }
        // The CPU time is taken at the start of the measured window, by a task that sleeps
        // through the warm-up.
        let cpuTask = Task { () -> CPUTime in
            let wait = Int64(measureStart) - Int64(NIODeadline.now().uptimeNanoseconds)
            if wait > 0 { try? await Task.sleep(for: .nanoseconds(wait)) }
            return CPUTime.now()
        }
        let results = try await all(channels) { connection, promise in connection.run(window, promise) }
        let cpu = CPUTime.now() - (await cpuTask.value)
        var stats = Array(repeating: OperationStats(), count: BenchOperation.allCases.count)
        var lastEnd = measureStart
        for result in results {
            for index in stats.indices { stats[index].merge(result.stats[index]) }
            lastEnd = max(lastEnd, result.lastEndNanoseconds)
        }
        let elapsed = configuration.count != nil ? Double(lastEnd - measureStart) / 1e9 : configuration.durationSeconds
        return BenchReport(configuration: configuration, elapsedSeconds: elapsed, cpu: cpu,
                           operations: zip(BenchOperation.allCases, stats).filter { $0.1.operations > 0 }.map { ($0.0, $0.1) })
    }

    static func all<Result: Sendable>(_ channels: [Connection],
                                      _ body: @escaping @Sendable (BenchConnection, EventLoopPromise<Result>) -> Void) async throws -> [Result] {
        try await withThrowingTaskGroup(of: Result.self) { group in
            for channel in channels { group.addTask { try await with(channel, body) } }
            var results: [Result] = []
            for try await result in group { results.append(result) }
            return results
        }
    }
}

/// A run that could not be made (no connection, no bucket, a failed set-up).
public struct BenchFailure: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// The process's CPU time (getrusage), user and system.
public struct CPUTime: Sendable {
    public var userSeconds: Double
    public var systemSeconds: Double

    public static func now() -> CPUTime {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return CPUTime(userSeconds: Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6,
                       systemSeconds: Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6)
    }

    static func - (a: CPUTime, b: CPUTime) -> CPUTime {
        CPUTime(userSeconds: a.userSeconds - b.userSeconds, systemSeconds: a.systemSeconds - b.systemSeconds)
    }
}
