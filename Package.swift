// swift-tools-version:6.1
import PackageDescription
import class Foundation.ProcessInfo

let package = Package(
    name: "Stowage",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Stowage", targets: ["Stowage"]),
        .library(name: "StowageS3", targets: ["StowageS3"]),
        .executable(name: "stowage", targets: ["stowage"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
    ],
    targets: [
        .systemLibrary(name: "CLMDB", path: "CSources/CLMDB", pkgConfig: "lmdb",
                       providers: [.apt(["liblmdb-dev"])]),
        .systemLibrary(name: "CXXHash", path: "CSources/CXXHash", pkgConfig: "libxxhash",
                       providers: [.apt(["libxxhash-dev"])]),
        .systemLibrary(name: "CISAL", path: "CSources/CISAL", pkgConfig: "libisal",
                       providers: [.apt(["libisal-dev"])]),
        // librados (Debian ships no librados.pc: the module map links it by name).
        .systemLibrary(name: "CRados", path: "CSources/CRados", providers: [.apt(["librados-dev"])]),
        // MD5's block function on up to eight streams at once in SIMD lanes (the ETag).
        // Optimized in debug builds too: the tests push megabytes through it.
        .target(name: "CStowageMD5", path: "CSources/CStowageMD5", cSettings: [.unsafeFlags(["-O2"])]),
        // Checksums: XXH3 for the engine's chunks, MD5 and the S3 wire checksums.
        .target(name: "StowageChecksums",
                dependencies: ["CXXHash", "CISAL", "CStowageMD5", .product(name: "Crypto", package: "swift-crypto")]),
        // The engine: LMDB index, extent store, object store; and its cluster backends
        // (Cluster/: the etcd index over etcd's JSON gateway, RADOS bytes). No S3 in here.
        .target(name: "Stowage",
                dependencies: ["CLMDB", "CRados", "StowageChecksums", .product(name: "Logging", package: "swift-log"),
                               .product(name: "Crypto", package: "swift-crypto"),
                               .product(name: "_CryptoExtras", package: "swift-crypto"),
                               .product(name: "AsyncHTTPClient", package: "async-http-client"),
                               .product(name: "Metrics", package: "swift-metrics"),
                               .product(name: "NIOCore", package: "swift-nio"),
                               .product(name: "NIOPosix", package: "swift-nio")]),
        // The S3 wire: Hummingbird routes, SigV4, aws-chunked, XML.
        .target(name: "StowageS3",
                dependencies: ["Stowage", "StowageChecksums",
                               .product(name: "Hummingbird", package: "hummingbird"),
                               .product(name: "HummingbirdCore", package: "hummingbird"),
                               .product(name: "NIOSSL", package: "swift-nio-ssl"),
                               .product(name: "HTTPTypes", package: "swift-http-types"),
                               .product(name: "NIOCore", package: "swift-nio"),
                               .product(name: "NIOHTTP1", package: "swift-nio"),
                               .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                               .product(name: "Crypto", package: "swift-crypto"),
                               .product(name: "Logging", package: "swift-log"),
                               .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                               .product(name: "Metrics", package: "swift-metrics"),
                               .product(name: "Prometheus", package: "swift-prometheus")]),
        // `stowage bench`: a load generator for any S3 endpoint, on SwiftNIO.
        .target(name: "StowageBench",
                dependencies: [.product(name: "NIOCore", package: "swift-nio"),
                               .product(name: "NIOPosix", package: "swift-nio"),
                               .product(name: "NIOHTTP1", package: "swift-nio"),
                               .product(name: "Crypto", package: "swift-crypto")]),
        .executableTarget(name: "stowage",
                          dependencies: ["StowageS3", "Stowage", "StowageBench", "StowageChecksums",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser"),
                                         .product(name: "NIOCore", package: "swift-nio"),
                                         .product(name: "NIOPosix", package: "swift-nio"),
                                         .product(name: "NIOHTTP1", package: "swift-nio"),
                                         .product(name: "Metrics", package: "swift-metrics"),
                                         .product(name: "Prometheus", package: "swift-prometheus"),
                                         .product(name: "Yams", package: "Yams")]),
        .testTarget(name: "StowageChecksumsTests",
                    dependencies: ["StowageChecksums", "CStowageMD5", .product(name: "Crypto", package: "swift-crypto")]),
        .testTarget(name: "StowageBenchTests", dependencies: ["StowageBench", "StowageS3"]),
        .testTarget(name: "StowageTests", dependencies: ["Stowage", "StowageChecksums"]),
        .testTarget(name: "StowageS3Tests",
                    dependencies: ["StowageS3", "Stowage", "StowageChecksums", .product(name: "HummingbirdTesting", package: "hummingbird"),
                                   .product(name: "NIOPosix", package: "swift-nio")]),
    ]
)

// The engine micro-benchmarks (ordo-one/package-benchmark), only when asked for, so that
// `make test` neither resolves nor builds the benchmark package. `make bench` runs
// `STOWAGE_BENCHMARKS=1 swift package --scratch-path .build-bench benchmark`.
if ProcessInfo.processInfo.environment["STOWAGE_BENCHMARKS"] != nil {
    package.dependencies.append(
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]))
    package.targets.append(
        .executableTarget(name: "StowageEngine",
                          dependencies: ["Stowage", "StowageChecksums", .product(name: "Benchmark", package: "benchmark")],
                          path: "Benchmarks/StowageEngine",
                          plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]))
}

// The libFuzzer harness (issue 7), only when asked for: `make fuzz` builds it with
// `-sanitize=fuzzer` in its own folder. The corpus replay in the tests needs none of it.
if ProcessInfo.processInfo.environment["STOWAGE_FUZZ"] != nil {
    package.targets.append(.executableTarget(name: "StowageFuzz", dependencies: ["StowageS3"], path: "Tests/Fuzz/Harness"))
}
