import ArgumentParser
import Stowage

@main
struct StowageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stowage",
        abstract: "An S3-compatible object store whose RenameObject is one index transaction.",
        version: StowageVersion.current,
        subcommands: [Serve.self, Admin.self, Bench.self, BenchMetadata.self, Move.self, Fsck.self, Compact.self, Headers.self,
                      HTTPFloorCommand.self])
}
