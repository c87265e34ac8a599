import ArgumentParser

@main
struct StowageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stowage",
        abstract: "An S3-compatible object store whose RenameObject is one index transaction.",
        subcommands: [Serve.self, BenchMetadata.self, Move.self, Fsck.self, Compact.self, Headers.self])
}
