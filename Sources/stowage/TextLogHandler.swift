import Logging

/// `--log-format text` (the default): swift-log's `StreamLogHandler` on standard error,
/// with the same lines, but metadata set on a logger is only rendered when a record is
/// written. `StreamLogHandler` renders its metadata again on every change, and the server
/// sets a request's id and access key on every request, logged or not (perf: about 2 % of
/// a 4 KiB GET load's CPU at `--log-level warning`).
struct TextLogHandler: LogHandler {
    private var stream: StreamLogHandler
    var metadata: Logger.Metadata = [:]

    init(label: String) {
        stream = StreamLogHandler.standardError(label: label)
    }

    var logLevel: Logger.Level {
        get { stream.logLevel }
        set { stream.logLevel = newValue }
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { stream.metadataProvider }
        set { stream.metadataProvider = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var event = event
        if !metadata.isEmpty {
            event.metadata = metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 })
        }
        stream.log(event: event)
    }
}
