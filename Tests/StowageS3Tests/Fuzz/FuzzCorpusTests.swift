import Foundation
import Testing
@testable import StowageS3

/// Replays the fuzz corpus (`Tests/Fuzz/corpus/<target>/`, seeds and what `make fuzz`
/// found worth keeping) through the same entry points libFuzzer drives. A target that
/// crashes, traps or breaks one of its own checks fails the whole test run.
@Suite struct FuzzCorpusTests {
    static let corpus = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/corpus")

    @Test(arguments: FuzzTargets.names)
    func corpusReplays(target: String) throws {
        let directory = Self.corpus.appendingPathComponent(target)
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        #expect(files.count >= 3, "the \(target) corpus has \(files.count) inputs")
        for file in files {
            let bytes = try Data(contentsOf: directory.appendingPathComponent(file))
            bytes.withUnsafeBytes { FuzzTargets.run(target, $0) }
        }
    }

    /// The seeds that exercise the deep paths do reach them.
    @Test func seedsReachWhatTheyAreFor() throws {
        let seed = try String(contentsOf: Self.corpus.appendingPathComponent("sigv4/aws-get-object"), encoding: .utf8)
        let granted = try #require(try FuzzTargets.verifyExample(seed))
        #expect(granted.accessKey == FuzzTargets.exampleAccessKey, "AWS's GetObject example verifies")
        for name in ["aws-get-object", "aws-presigned-get", "aws-put-amz-headers", "botocore-subresources",
                     "botocore-virtual-host-root"] {
            let seed = try String(contentsOf: Self.corpus.appendingPathComponent("sigv2/\(name)"), encoding: .utf8)
            let granted = try #require(try FuzzTargets.verifySignatureV2Example(seed), "\(name)")
            #expect(granted.accessKey == FuzzTargets.exampleAccessKey, "SigV2 seed \(name) verifies")
        }
        #expect(HTTPDate.parse("9223372036854775807-01-01T00:00:00Z") == nil, "a year that would overflow is no date")
    }
}
