import Foundation

/// The objects as files, for a static HTTP server (nginx) that `--unsigned` then reads
/// back: `<directory>/<bucket>/<key>`, the same bytes a PUT would have sent.
public enum BenchFixtures {
    public static func write(_ configuration: BenchConfiguration, to directory: String) throws {
        let payload = BenchPayload(sizes: configuration.sizes, seed: configuration.seed)
        for slot in 0..<configuration.objects {
            let path = directory + "/" + configuration.bucket + "/" + configuration.objectKey(slot)
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
            let body = payload.body(ofSlot: slot)
            try Data(body.readableBytesView).write(to: URL(fileURLWithPath: path))
        }
    }
}
