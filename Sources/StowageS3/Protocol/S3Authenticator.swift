import Foundation

/// Authenticates a request with whichever signature it carries: SigV2 (`Authorization:
/// AWS …`, or `AWSAccessKeyId`/`Signature` in the query) goes to `SigV2Verifier`;
/// everything else — SigV4 in either form, anonymous and malformed requests, and both
/// versions at once — to `SigV4Verifier`, unchanged. Both answer a `SigV4Authentication`.
public struct S3Authenticator: Sendable {
    public let signatureV4: SigV4Verifier
    public let signatureV2: SigV2Verifier

    public init(credentials: S3Credentials) {
        signatureV4 = SigV4Verifier(credentials: credentials)
        signatureV2 = SigV2Verifier(credentials: credentials)
    }

    /// - Parameters:
    ///   - rawPath: the request target's path as received, percent-encoding intact.
    ///   - rawQuery: the request target after `?`, as received (empty when there is none).
    ///   - headers: every header as received, `host` among them.
    ///   - hostBucket: the bucket a virtual-hosted request names in its Host (SigV2 signs
    ///     it as the start of the resource); nil for path-style.
    public func verify(method: String, rawPath: String, rawQuery: String, headers: [(name: String, value: String)],
                       hostBucket: String?, now: Date) throws(S3ProtocolError) -> SigV4Authentication {
        let query = SigV4Query(rawQuery)
        let parsedHeaders = SigV4Headers(headers)
        guard let form = SigV2Verifier.form(headers: parsedHeaders, query: query) else {
            return try signatureV4.verify(method: method, rawPath: rawPath, query: query, headers: parsedHeaders, now: now)
        }
        return try signatureV2.verify(form, method: method, rawPath: rawPath, rawQuery: rawQuery, query: query,
                                      headers: parsedHeaders, hostBucket: hostBucket, now: now)
    }
}
