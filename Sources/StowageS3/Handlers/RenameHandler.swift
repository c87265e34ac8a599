import HTTPTypes
import Hummingbird
import Stowage

extension Handlers {
    /// RenameObject: `PUT /{bucket}/{key}?renameObject` with `x-amz-rename-source`, the
    /// eight conditions and `x-amz-client-token` (S3-SEMANTICS.md). The engine does the
    /// rest, in its evaluation order.
    func renameObject(_ bucket: String, _ key: String, _ s3: S3Request) async throws -> Response {
        let destination = Self.readConditions(s3)
        let source = ObjectConditions(
            ifMatch: s3.header("x-amz-rename-source-if-match").map(ETagCondition.init(header:)),
            ifNoneMatch: s3.header("x-amz-rename-source-if-none-match").map(ETagCondition.init(header:)),
            ifModifiedSince: s3.header("x-amz-rename-source-if-modified-since").flatMap(HTTPDate.parse),
            ifUnmodifiedSince: s3.header("x-amz-rename-source-if-unmodified-since").flatMap(HTTPDate.parse))
        guard let header = s3.header("x-amz-rename-source"), !header.isEmpty else {
            throw S3Error.invalidArgument("x-amz-rename-source is required and must not be empty")
        }
        let (sourceKey, fallback) = Self.renameSourceKeys(header, bucket: bucket)
        let request = RenameRequest(bucket: bucket, source: sourceKey, fallbackSource: fallback,
                                    destination: key, destinationConditions: destination,
                                    sourceConditions: source, clientToken: s3.header("x-amz-client-token"))
        let outcome = try await store.renameObject(request)
        logger.info("rename \(bucket)/\(request.source) → \(key)\(outcome.replayed ? " (replayed by client token)" : "")")
        return Response(status: .ok)
    }

    /// The keys an `x-amz-rename-source` value names (S3-SEMANTICS.md, "Source format"):
    /// percent-decoded with path rules (`+` stays `+`; a value that does not decode is
    /// kept raw), one leading `/` stripped; and, tried only when that key does not exist,
    /// the rest after `<bucket>/`. Another bucket's name is never read as a cross-bucket
    /// request: it is part of a key.
    static func renameSourceKeys(_ raw: String, bucket: String) -> (key: String, fallback: String?) {
        var value = PercentDecoding.string(raw) ?? raw
        if value.hasPrefix("/") { value.removeFirst() }
        let bucketPrefix = bucket + "/"
        guard value.hasPrefix(bucketPrefix), value.count > bucketPrefix.count else { return (value, nil) }
        return (value, String(value.dropFirst(bucketPrefix.count)))
    }
}
