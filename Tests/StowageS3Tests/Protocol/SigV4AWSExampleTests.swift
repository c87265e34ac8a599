import Foundation
import Testing
@testable import StowageS3

/// AWS's published S3 SigV4 examples: each signature below is printed in the S3 API
/// reference, so passing means Stowage agrees with S3, not merely with itself.
@Suite struct SigV4AWSExampleTests {
    let verifier = SigV4Verifier(credentials: AWSExample.credentials)

    /// "Example: GET Object": the first 10 bytes of test.txt.
    @Test func getObjectWithRange() throws {
        let signature = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        let result = try verifier.verify(
            method: "GET", rawPath: "/test.txt", rawQuery: "",
            headers: [(name: "Host", value: "examplebucket.s3.amazonaws.com"),
                      (name: "Range", value: "bytes=0-9"),
                      (name: "x-amz-content-sha256", value: AWSExample.emptySHA256),
                      (name: "x-amz-date", value: "20130524T000000Z"),
                      AWSExample.authorization(signedHeaders: "host;range;x-amz-content-sha256;x-amz-date",
                                               signature: signature)],
            now: AWSExample.signedAt)
        #expect(result.accessKey == AWSExample.accessKey)
        #expect(result.payload == .sha256(hex: AWSExample.emptySHA256))
        #expect(result.signing?.seedSignature == signature)
        #expect(result.signing?.scope == "20130524/us-east-1/s3/aws4_request")
        #expect(result.signing?.timestamp == "20130524T000000Z")
        #expect(!result.isPresigned)
    }

    /// "Example: PUT Object": a key with `$`, a `Date` header, and a signed body.
    @Test func putObjectWithSignedBody() throws {
        let body = Array("Welcome to Amazon S3.".utf8)
        let bodySHA256 = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
        let result = try verifier.verify(
            method: "PUT", rawPath: "/test%24file.text", rawQuery: "",
            headers: [(name: "Host", value: "examplebucket.s3.amazonaws.com"),
                      (name: "Date", value: "Fri, 24 May 2013 00:00:00 GMT"),
                      (name: "x-amz-date", value: "20130524T000000Z"),
                      (name: "x-amz-storage-class", value: "REDUCED_REDUNDANCY"),
                      (name: "x-amz-content-sha256", value: bodySHA256),
                      AWSExample.authorization(signedHeaders: "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
                                               signature: "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")],
            now: AWSExample.signedAt)
        var payload = try #require(result.makePayloadVerifier())
        body.withUnsafeBytes { payload.update($0) }
        try payload.finish()
    }

    /// "Example: GET Bucket Lifecycle": a sub-resource without a value.
    @Test func getBucketLifecycle() throws {
        _ = try verifier.verify(
            method: "GET", rawPath: "/", rawQuery: "lifecycle",
            headers: [(name: "Host", value: "examplebucket.s3.amazonaws.com"),
                      (name: "x-amz-date", value: "20130524T000000Z"),
                      (name: "x-amz-content-sha256", value: AWSExample.emptySHA256),
                      AWSExample.authorization(signedHeaders: "host;x-amz-content-sha256;x-amz-date",
                                               signature: "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")],
            now: AWSExample.signedAt)
    }

    /// "Example: Get Bucket (List Objects)": two parameters, signed in sorted order.
    @Test func listObjects() throws {
        _ = try verifier.verify(
            method: "GET", rawPath: "/", rawQuery: "max-keys=2&prefix=J",
            headers: [(name: "Host", value: "examplebucket.s3.amazonaws.com"),
                      (name: "x-amz-date", value: "20130524T000000Z"),
                      (name: "x-amz-content-sha256", value: AWSExample.emptySHA256),
                      AWSExample.authorization(signedHeaders: "host;x-amz-content-sha256;x-amz-date",
                                               signature: "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")],
            now: AWSExample.signedAt)
    }

    static let presignedQuery = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"

    private func verifyPresigned(at now: Date) throws(S3ProtocolError) -> SigV4Authentication {
        try verifier.verify(method: "GET", rawPath: "/test.txt", rawQuery: Self.presignedQuery,
                            headers: [(name: "Host", value: "examplebucket.s3.amazonaws.com")], now: now)
    }

    /// "Query String Request Authentication": a URL valid for 86,400 seconds.
    @Test func presignedURL() throws {
        let result = try verifyPresigned(at: AWSExample.signedAt.addingTimeInterval(3600))
        #expect(result.isPresigned)
        #expect(result.payload == .unsigned)
        #expect(result.accessKey == AWSExample.accessKey)
        _ = try verifyPresigned(at: AWSExample.signedAt.addingTimeInterval(86400))
    }

    @Test func presignedURLExpires() {
        let error = protocolError { _ = try verifyPresigned(at: AWSExample.signedAt.addingTimeInterval(86401)) }
        #expect(error?.code == .accessDenied)
        #expect(error?.message == "Request has expired")
        #expect(error?.status == 403)
    }

    /// "Example: PUT Object" of the chunked-upload page: the seed signature of the chain.
    @Test func chunkedUploadSeed() throws {
        let result = try AWSExample.verifyChunked(AWSExample.chunkedHeaders)
        #expect(result.payload == .streamingSigned)
        #expect(result.signing?.seedSignature == AWSExample.chunkedSeedSignature)
    }

    /// The chunk signatures of the same example, computed from the signing context.
    @Test func chunkSignaturesChain() throws {
        let signing = try #require(try AWSExample.verifyChunked(AWSExample.chunkedHeaders).signing)
        var previous = signing.seedSignature
        for (size, published) in zip(AWSExample.chunkSizes, AWSExample.chunkSignatures) {
            let data = [UInt8](repeating: UInt8(ascii: "a"), count: size)
            previous = signing.chunkSignature(previous: previous, chunkSHA256: SigV4SigningContext.sha256Hex(data))
            #expect(previous == published)
        }
    }

    /// "Including Trailing Headers": seed, chunk and trailer signatures.
    @Test func trailerUploadSignatures() throws {
        let result = try AWSExample.verifyChunked(AWSExample.trailerHeaders)
        #expect(result.payload == .streamingSignedWithTrailer)
        let signing = try #require(result.signing)
        #expect(signing.seedSignature == AWSExample.trailerSeedSignature)
        var previous = signing.seedSignature
        for (size, published) in zip(AWSExample.chunkSizes, AWSExample.trailerChunkSignatures) {
            let data = [UInt8](repeating: UInt8(ascii: "a"), count: size)
            previous = signing.chunkSignature(previous: previous, chunkSHA256: SigV4SigningContext.sha256Hex(data))
            #expect(previous == published)
        }
        let trailers = Array("x-amz-checksum-crc32c:\(AWSExample.trailerChecksum)\n".utf8)
        #expect(signing.trailerSignature(previous: previous, trailersSHA256: SigV4SigningContext.sha256Hex(trailers))
            == AWSExample.trailerSignature)
    }
}
