import Foundation
import Testing
@testable import StowageS3

/// Requests from real clients (boto3, aws CLI, s3cmd, rclone, botocore's signers): keys with
/// spaces, `+`, `~`, unicode and punctuation, several query parameters, presigned URLs,
/// signed, unsigned and streaming payloads. Each must verify, and each corruption of it
/// must fail with S3's error.
@Suite struct SigV4ClientRequestTests {
    static let fixtures = ClientRequestFixture.all
    static let headerFixtures = fixtures.filter { !$0.isPresigned }
    static let presignedFixtures = fixtures.filter(\.isPresigned)

    @Test(arguments: fixtures)
    func verifiesAsSent(_ fixture: ClientRequestFixture) throws {
        let result = try fixture.verify()
        #expect(result.accessKey == ClientRequestFixture.accessKey)
        #expect(result.isPresigned == fixture.isPresigned)
        let expectedPayload = fixture.header("x-amz-content-sha256").flatMap(S3PayloadMode.init(headerValue:)) ?? .unsigned
        #expect(result.payload == expectedPayload)
    }

    /// The body of a request that signed its SHA-256 checks out, and a changed one does not.
    @Test(arguments: fixtures.filter { $0.body != nil && !$0.isPresigned })
    func signedBodyVerifies(_ fixture: ClientRequestFixture) throws {
        let result = try fixture.verify()
        guard var verifier = result.makePayloadVerifier() else { return }
        var tampered = verifier
        Array(fixture.body!.utf8).withUnsafeBytes { verifier.update($0) }
        try verifier.finish()
        Array((fixture.body! + " ").utf8).withUnsafeBytes { tampered.update($0) }
        #expect(throws: S3ProtocolError.self) { try tampered.finish() }
    }

    @Test(arguments: fixtures)
    func wrongSecretFails(_ fixture: ClientRequestFixture) {
        let credentials = S3Credentials([ClientRequestFixture.accessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYSTOWAGF"])
        let error = protocolError { _ = try fixture.verify(credentials: credentials) }
        #expect(error?.code == .signatureDoesNotMatch)
        #expect(error?.status == 403)
    }

    @Test(arguments: fixtures)
    func unknownAccessKeyFails(_ fixture: ClientRequestFixture) {
        let credentials = S3Credentials(["AKIASOMEONEELSE00001": ClientRequestFixture.secretKey])
        let error = protocolError { _ = try fixture.verify(credentials: credentials) }
        #expect(error?.code == .invalidAccessKeyId)
        #expect(error?.status == 403)
    }

    /// The host is signed by every client: changing it breaks the signature.
    @Test(arguments: fixtures)
    func tamperedHeaderFails(_ fixture: ClientRequestFixture) {
        let error = protocolError { _ = try fixture.verify(headers: fixture.headers(setting: "Host", to: "evil.example")) }
        #expect(error?.code == .signatureDoesNotMatch)
    }

    @Test(arguments: fixtures)
    func tamperedPathFails(_ fixture: ClientRequestFixture) {
        let error = protocolError { _ = try fixture.verify(rawPath: fixture.rawPath + "x") }
        #expect(error?.code == .signatureDoesNotMatch)
    }

    @Test(arguments: fixtures)
    func addedQueryParameterFails(_ fixture: ClientRequestFixture) {
        let query = fixture.rawQuery.isEmpty ? "versionId=1" : fixture.rawQuery + "&versionId=1"
        let error = protocolError { _ = try fixture.verify(rawQuery: query) }
        #expect(error?.code == .signatureDoesNotMatch)
    }

    @Test(arguments: fixtures)
    func changedMethodFails(_ fixture: ClientRequestFixture) {
        let error = protocolError { _ = try fixture.verify(method: fixture.method == "GET" ? "DELETE" : "GET") }
        #expect(error?.code == .signatureDoesNotMatch)
    }

    /// S3 refuses `x-amz-*` headers that are not signed: one could be slipped into a
    /// captured request.
    @Test(arguments: fixtures)
    func unsignedAmzHeaderIsRefused(_ fixture: ClientRequestFixture) {
        let headers = fixture.headers(setting: "x-amz-copy-source", to: "/bkt/secret")
        let error = protocolError { _ = try fixture.verify(headers: headers) }
        #expect(error?.code == .accessDenied)
        #expect(error?.message.contains("x-amz-copy-source") == true)
    }

    /// Header names in another case and another order sign the same.
    @Test(arguments: fixtures)
    func headerCaseAndOrderDoNotMatter(_ fixture: ClientRequestFixture) throws {
        let shuffled = fixture.headers.reversed().map { (name: $0.name.uppercased(), value: $0.value) }
        _ = try fixture.verify(headers: shuffled)
    }

    /// Clients escape different bytes (`~`, `(`, `!`, `*`, `'`…); the server re-encodes, so
    /// a path escaped more or less than the signer did still verifies.
    @Test(arguments: fixtures)
    func pathEncodedDifferentlyStillVerifies(_ fixture: ClientRequestFixture) throws {
        _ = try fixture.verify(rawPath: Self.escapeEverything(fixture.rawPath))
        _ = try fixture.verify(rawPath: Self.unescapeUnreserved(fixture.rawPath))
    }

    @Test(arguments: headerFixtures)
    func clockSkewUpToFifteenMinutes(_ fixture: ClientRequestFixture) throws {
        let skew = TimeInterval(SigV4Verifier.maxClockSkewSeconds)
        _ = try fixture.verify(now: fixture.signedAt.addingTimeInterval(skew))
        _ = try fixture.verify(now: fixture.signedAt.addingTimeInterval(-skew))
        for now in [fixture.signedAt.addingTimeInterval(skew + 1), fixture.signedAt.addingTimeInterval(-skew - 1)] {
            let error = protocolError { _ = try fixture.verify(now: now) }
            #expect(error?.code == .requestTimeTooSkewed)
            #expect(error?.status == 403)
        }
    }

    @Test(arguments: presignedFixtures)
    func presignedURLExpires(_ fixture: ClientRequestFixture) throws {
        _ = try fixture.verify(now: fixture.signedAt.addingTimeInterval(fixture.expirySeconds))
        let error = protocolError { _ = try fixture.verify(now: fixture.signedAt.addingTimeInterval(fixture.expirySeconds + 1)) }
        #expect(error?.code == .accessDenied)
        #expect(error?.message == "Request has expired")
    }

    @Test(arguments: presignedFixtures)
    func presignedURLFromTheFutureIsRefused(_ fixture: ClientRequestFixture) throws {
        let skew = TimeInterval(SigV4Verifier.maxClockSkewSeconds)
        _ = try fixture.verify(now: fixture.signedAt.addingTimeInterval(-skew))
        let error = protocolError { _ = try fixture.verify(now: fixture.signedAt.addingTimeInterval(-skew - 1)) }
        #expect(error?.code == .accessDenied)
        #expect(error?.message == "Request is not valid yet")
    }

    @Test(arguments: presignedFixtures)
    func presignedSignatureIsChecked(_ fixture: ClientRequestFixture) {
        let query = fixture.rawQuery.replacingOccurrences(of: "X-Amz-Signature=", with: "X-Amz-Signature=0")
            .dropLast()
        let error = protocolError { _ = try fixture.verify(rawQuery: String(query)) }
        #expect(error?.code == .signatureDoesNotMatch)
    }

    /// Every byte but `/` as `%XX`, as an over-eager client might send it.
    static func escapeEverything(_ rawPath: String) -> String {
        let decoded = SigV4Encoding.decode(ArraySlice(rawPath.utf8), plusIsSpace: false)
        let digits = Array("0123456789abcdef")
        return decoded.map { $0 == UInt8(ascii: "/") ? "/" : "%\(digits[Int($0 >> 4)])\(digits[Int($0 & 15)])" }
            .joined()
    }

    /// `%XX` of unreserved and sub-delimiter bytes written plainly, as lax clients do.
    static func unescapeUnreserved(_ rawPath: String) -> String {
        var path = rawPath
        for (escaped, plain) in [("%7E", "~"), ("%28", "("), ("%29", ")"), ("%21", "!"), ("%2A", "*"), ("%27", "'"),
                                 ("%24", "$"), ("%40", "@"), ("%3A", ":"), ("%2C", ",")] {
            path = path.replacingOccurrences(of: escaped, with: plain)
        }
        return path
    }
}
