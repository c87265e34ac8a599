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
        let lines = seed.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let headers = lines.dropFirst(3).map { line in
            let colon = line.firstIndex(of: ":")!
            return (name: String(line[..<colon]), value: String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces))
        }
        let verifier = SigV4Verifier(credentials: S3Credentials([FuzzTargets.exampleAccessKey: FuzzTargets.exampleSecret]))
        let granted = try verifier.verify(method: lines[0], rawPath: lines[1], rawQuery: "", headers: headers,
                                          now: FuzzTargets.exampleNow)
        #expect(granted.accessKey == FuzzTargets.exampleAccessKey, "AWS's GetObject example verifies")
        #expect(HTTPDate.parse("9223372036854775807-01-01T00:00:00Z") == nil, "a year that would overflow is no date")
    }
}
