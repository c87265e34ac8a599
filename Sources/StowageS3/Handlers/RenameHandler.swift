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
        let request = RenameRequest(bucket: bucket, source: s3.header("x-amz-rename-source") ?? "",
                                    destination: key, destinationConditions: destination,
                                    sourceConditions: source, clientToken: s3.header("x-amz-client-token"))
        let outcome = try await store.renameObject(request)
        logger.info("rename \(bucket)/\(request.source) → \(key)\(outcome.replayed ? " (replayed by client token)" : "")")
        return Response(status: .ok)
    }
}
