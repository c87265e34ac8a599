import Foundation
import StowageChecksums
import Testing
@testable import StowageS3

/// Decoding aws-chunked bodies: AWS's signed examples, boto3's unsigned-trailer bodies, any
/// split of the input, and every framing or signature failure.
@Suite struct AWSChunkedDecoderTests {
    struct Decoded {
        var payload: [UInt8] = []
        var trailers: [AWSChunkedDecoder.Trailer] = []
        var largestEmit = 0
    }

    /// Feeds `body` in pieces of the given sizes (cycled), then finishes.
    static func decode(_ body: [UInt8], _ decoder: AWSChunkedDecoder, pieces: [Int] = [Int.max]) throws -> Decoded {
        var decoder = decoder
        var decoded = Decoded()
        var offset = 0
        var piece = 0
        while offset < body.count {
            let end = offset + min(pieces[piece % pieces.count], body.count - offset)
            try body[offset..<end].withUnsafeBytes { bytes in
                try decoder.feed(bytes) { data in
                    decoded.payload += data
                    decoded.largestEmit = max(decoded.largestEmit, data.count)
                }
            }
            offset = end
            piece += 1
        }
        decoded.trailers = try decoder.finish()
        #expect(decoder.decodedByteCount == Int64(decoded.payload.count))
        return decoded
    }

    static func signedDecoder() throws -> AWSChunkedDecoder {
        let authentication = try AWSExample.verifyChunked(AWSExample.chunkedHeaders)
        return try AWSChunkedDecoder(authentication: authentication, decodedContentLength: 66560)
    }

    static func trailerDecoder(declared: String? = "x-amz-checksum-crc32c") throws -> AWSChunkedDecoder {
        let authentication = try AWSExample.verifyChunked(AWSExample.trailerHeaders)
        return try AWSChunkedDecoder(authentication: authentication, decodedContentLength: 66560,
                                     declaredTrailers: declared)
    }

    // MARK: AWS's signed examples

    @Test func signedExampleWhole() throws {
        let decoded = try Self.decode(AWSExample.signedBody(), Self.signedDecoder())
        #expect(decoded.payload == AWSExample.payload)
        #expect(decoded.trailers.isEmpty)
    }

    @Test func signedExampleOneByteAtATime() throws {
        let decoded = try Self.decode(AWSExample.signedBody(), Self.signedDecoder(), pieces: [1])
        #expect(decoded.payload == AWSExample.payload)
    }

    @Test(arguments: [1, 2, 3, 7, 42, 4096])
    func signedExampleRandomSplits(_ seed: UInt64) throws {
        var generator = SplitMix64(state: seed)
        let pieces = (0..<64).map { _ in Int.random(in: 1...9000, using: &generator) }
        let decoded = try Self.decode(AWSExample.signedBody(), Self.signedDecoder(), pieces: pieces)
        #expect(decoded.payload == AWSExample.payload)
    }

    /// Data is streamed through, never gathered: no emit is larger than the piece fed.
    @Test func chunkDataIsStreamedNotBuffered() throws {
        let decoded = try Self.decode(AWSExample.signedBody(), Self.signedDecoder(), pieces: [1000])
        #expect(decoded.largestEmit <= 1000)
    }

    @Test(arguments: [[Int.max], [1], [5, 3, 100, 7000]])
    func signedTrailerExample(_ pieces: [Int]) throws {
        let decoded = try Self.decode(AWSExample.signedTrailerBody(), Self.trailerDecoder(), pieces: pieces)
        #expect(decoded.payload == AWSExample.payload)
        #expect(decoded.trailers == [.init(name: "x-amz-checksum-crc32c", value: AWSExample.trailerChecksum)])
        #expect(S3Checksummer.digest(.crc32c, of: decoded.payload) == S3ChecksumAlgorithm.crc32c.digest(fromBase64: AWSExample.trailerChecksum))
    }

    /// AWS's page writes the trailer example with an empty line after the final chunk
    /// header and without the closing empty line; that form is accepted too.
    @Test(arguments: [[Int.max], [1]])
    func signedTrailerExampleAsPrinted(_ pieces: [Int]) throws {
        var body = AWSExample.signedTrailerBody(trailers: "")
        body.removeLast(2)
        body += Array("\r\nx-amz-checksum-crc32c:\(AWSExample.trailerChecksum)\r\nx-amz-trailer-signature:\(AWSExample.trailerSignature)".utf8)
        let decoded = try Self.decode(body, Self.trailerDecoder(), pieces: pieces)
        #expect(decoded.payload == AWSExample.payload)
        #expect(decoded.trailers.map(\.value) == [AWSExample.trailerChecksum])
    }

    // MARK: boto3's unsigned trailers

    struct Boto3Body: Sendable, CustomTestStringConvertible {
        let testDescription: String
        let payload: [UInt8]
        let algorithm: S3ChecksumAlgorithm
        let checksum: String

        /// The body exactly as boto3 1.43 framed it (captured on a loopback HTTPS server).
        var framed: [UInt8] {
            var body: [UInt8] = []
            if !payload.isEmpty {
                body += Array("\(String(payload.count, radix: 16))\r\n".utf8) + payload + Array("\r\n".utf8)
            }
            return body + Array("0\r\n\(algorithm.headerName):\(checksum)\r\n\r\n".utf8)
        }
    }

    static let boto3Bodies: [Boto3Body] = [
        Boto3Body(testDescription: "put_object hello", payload: Array("Hello, Stowage!\n".utf8), algorithm: .crc32,
                  checksum: "Q/rOTQ=="),
        Boto3Body(testDescription: "put_object empty", payload: [], algorithm: .crc32, checksum: "AAAAAA=="),
        Boto3Body(testDescription: "put_object abc", payload: Array("abc".utf8), algorithm: .crc32, checksum: "NSRBwg=="),
        Boto3Body(testDescription: "put_object 70000 digits",
                  payload: Array(String(repeating: "0123456789", count: 7000).utf8), algorithm: .crc32, checksum: "zAVx6w=="),
        Boto3Body(testDescription: "put_object SHA256", payload: [UInt8](repeating: UInt8(ascii: "x"), count: 70000),
                  algorithm: .sha256, checksum: "vKCfSnV9VXHH2fM0HUMB88ORwJCCaswaMBPGvLfAFyI="),
        Boto3Body(testDescription: "upload_fileobj",
                  payload: Array(repeating: Array(0...255) as [UInt8], count: 40).flatMap { $0 },
                  algorithm: .crc32, checksum: "u847nQ=="),
    ]

    /// The first bytes of two captures, pasted as received, pin the framing itself.
    @Test func boto3FramingAsCaptured() {
        #expect(Self.boto3Bodies[0].framed == Array("10\r\nHello, Stowage!\n\r\n0\r\nx-amz-checksum-crc32:Q/rOTQ==\r\n\r\n".utf8))
        #expect(Self.boto3Bodies[1].framed == Array("0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n".utf8))
    }

    @Test(arguments: boto3Bodies)
    func boto3UnsignedTrailer(_ body: Boto3Body) throws {
        for pieces in [[Int.max], [1], [13, 2, 999]] {
            let decoder = AWSChunkedDecoder(mode: .unsignedWithTrailer, decodedContentLength: Int64(body.payload.count),
                                            declaredTrailers: body.algorithm.headerName)
            let decoded = try Self.decode(body.framed, decoder, pieces: pieces)
            #expect(decoded.payload == body.payload)
            #expect(decoded.trailers == [.init(name: body.algorithm.headerName, value: body.checksum)])
            #expect(S3Checksummer.digest(body.algorithm, of: decoded.payload) == body.algorithm.digest(fromBase64: body.checksum))
        }
    }

    /// The decoder of a verified boto3 HTTPS request, from the captured request itself.
    @Test func decoderFromCapturedRequest() throws {
        let fixture = try #require(ClientRequestFixture.all.first { $0.name == "boto3 https PUT /bkt/big%20key?partNumber=3" })
        let authentication = try fixture.verify()
        let length = try AWSChunkedDecoder.decodedContentLength(header: fixture.header("x-amz-decoded-content-length"))
        let decoder = try AWSChunkedDecoder(authentication: authentication, decodedContentLength: length,
                                            declaredTrailers: fixture.header("x-amz-trailer"))
        let decoded = try Self.decode(Array(fixture.body!.utf8), decoder)
        #expect(decoded.payload == Array("part data".utf8))
        var copy = decoder
        try Array(fixture.body!.utf8).withUnsafeBytes { try copy.feed($0) { _ in } }
        try copy.finish()
        #expect(copy.trailer(named: "X-Amz-Checksum-CRC32") == "rNn68A==")
    }

    // MARK: Refusals

    struct Failure: Sendable, CustomTestStringConvertible {
        let testDescription: String
        let body: [UInt8]
        let mode: Mode
        let length: Int64
        let declared: String?
        let code: S3ProtocolError.Code

        enum Mode { case signed, signedTrailer, unsigned }

        /// An unsigned-trailer body.
        init(_ description: String, _ body: String, length: Int64 = 3, declared: String? = nil,
             _ code: S3ProtocolError.Code) {
            self.init(description, Array(body.utf8), .unsigned, length: length, declared: declared, code)
        }

        init(_ description: String, _ body: [UInt8], _ mode: Mode, length: Int64 = 66560,
             declared: String? = nil, _ code: S3ProtocolError.Code) {
            self.testDescription = description
            self.body = body
            self.mode = mode
            self.length = length
            self.declared = declared
            self.code = code
        }

        func decoder() throws -> AWSChunkedDecoder {
            switch mode {
            case .signed:
                return try AWSChunkedDecoder(authentication: AWSExample.verifyChunked(AWSExample.chunkedHeaders),
                                             decodedContentLength: length, declaredTrailers: declared)
            case .signedTrailer:
                return try AWSChunkedDecoder(authentication: AWSExample.verifyChunked(AWSExample.trailerHeaders),
                                             decodedContentLength: length, declaredTrailers: declared)
            case .unsigned:
                return AWSChunkedDecoder(mode: .unsignedWithTrailer, decodedContentLength: length, declaredTrailers: declared)
            }
        }
    }

    static func signedBody(replacing old: String, with new: String) -> [UInt8] {
        Array(String(decoding: AWSExample.signedBody(), as: UTF8.self).replacingOccurrences(of: old, with: new).utf8)
    }

    static func tamperedData() -> [UInt8] {
        var body = AWSExample.signedBody()
        body[100] = UInt8(ascii: "b")
        return body
    }

    static let trailerLine = "x-amz-checksum-crc32c:\(AWSExample.trailerChecksum)\r\n"
    static let trailerSignatureLine = "x-amz-trailer-signature:\(AWSExample.trailerSignature)\r\n"

    static let failures: [Failure] = [
        // Framing
        Failure("empty body", "", .incompleteBody),
        Failure("ends inside a chunk header", "3", .incompleteBody),
        Failure("ends inside chunk data", "3\r\nab", .incompleteBody),
        Failure("ends before the final chunk", "3\r\nabc\r\n", .incompleteBody),
        Failure("size is not hexadecimal", "xyz\r\nabc\r\n0\r\n\r\n", .invalidRequest),
        Failure("size is empty", "\r\nabc\r\n0\r\n\r\n", .invalidRequest),
        Failure("size has 17 digits", "00000000000000003\r\nabc\r\n0\r\n\r\n", .invalidRequest),
        Failure("size overflows Int64", "8000000000000000\r\nabc\r\n0\r\n\r\n", .invalidRequest),
        Failure("line ends with a bare LF", "3\nabc\r\n0\r\n\r\n", .invalidRequest),
        Failure("data longer than its size", "2\r\nabc\r\n0\r\n\r\n", length: 2, .invalidRequest),
        Failure("data shorter than its size", "4\r\nabc\r\n0\r\n\r\n", length: 4, .invalidRequest),
        Failure("data followed by CR only", "3\r\nabc\r0\r\n\r\n", .invalidRequest),
        Failure("bytes after the end", "3\r\nabc\r\n0\r\na:1\r\n\r\nextra", .invalidRequest),
        Failure("bytes after the end of a signed body", AWSExample.signedBody() + Array("0\r\n".utf8), .signed,
                .invalidRequest),
        Failure("chunk header too long", "3;" + String(repeating: "x", count: AWSChunkedDecoder.maxChunkHeaderBytes), .invalidRequest),
        // Lengths
        Failure("fewer bytes than x-amz-decoded-content-length", "3\r\nabc\r\n0\r\n\r\n", length: 4, .incompleteBody),
        Failure("more bytes than x-amz-decoded-content-length", "3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n", .incompleteBody),
        // Trailers
        Failure("trailer without a colon", "3\r\nabc\r\n0\r\nx-amz-checksum-crc32\r\n\r\n", .malformedTrailer),
        Failure("trailer with an empty name", "3\r\nabc\r\n0\r\n:value\r\n\r\n", .malformedTrailer),
        Failure("trailer sent twice", "3\r\nabc\r\n0\r\na:1\r\na:2\r\n\r\n", .malformedTrailer),
        Failure("trailer not declared", "3\r\nabc\r\n0\r\nx-amz-checksum-crc32:NSRBwg==\r\n\r\n",
                declared: "x-amz-checksum-sha256", .malformedTrailer),
        Failure("declared trailer missing", "3\r\nabc\r\n0\r\n\r\n", declared: "x-amz-checksum-crc32", .malformedTrailer),
        Failure("trailers too long", "3\r\nabc\r\n0\r\nx-a:" + String(repeating: "v", count: AWSChunkedDecoder.maxTrailerBytes),
                .malformedTrailer),
        Failure("trailer signature in an unsigned body",
                "3\r\nabc\r\n0\r\nx-amz-trailer-signature:\(AWSExample.trailerSignature)\r\n\r\n", .malformedTrailer),
        // Signatures
        Failure("chunk without chunk-signature", signedBody(replacing: ";chunk-signature=\(AWSExample.chunkSignatures[1])", with: ""),
                .signed, .invalidRequest),
        Failure("chunk-signature not 64 hex digits",
                signedBody(replacing: AWSExample.chunkSignatures[1], with: String(AWSExample.chunkSignatures[1].dropLast())),
                .signed, .invalidRequest),
        Failure("wrong chunk signature",
                signedBody(replacing: AWSExample.chunkSignatures[1], with: AWSExample.chunkSignatures[0]),
                .signed, .signatureDoesNotMatch),
        Failure("wrong final chunk signature",
                signedBody(replacing: AWSExample.chunkSignatures[2], with: AWSExample.chunkSignatures[1]),
                .signed, .signatureDoesNotMatch),
        Failure("tampered chunk data", tamperedData(), .signed, .signatureDoesNotMatch),
        Failure("trailers in a body without the TRAILER mode",
                Array(AWSExample.signedBody().dropLast(2)) + Array("x-amz-checksum-crc32c:sOO8/Q==\r\n\r\n".utf8),
                .signed, .malformedTrailer),
        Failure("tampered signed trailer",
                AWSExample.signedTrailerBody(trailers: "x-amz-checksum-crc32c:AAAAAA==\r\n" + trailerSignatureLine),
                .signedTrailer, declared: "x-amz-checksum-crc32c", .signatureDoesNotMatch),
        Failure("signed trailer without its signature", AWSExample.signedTrailerBody(trailers: trailerLine),
                .signedTrailer, .malformedTrailer),
        Failure("trailer after the trailer signature",
                AWSExample.signedTrailerBody(trailers: trailerSignatureLine + trailerLine), .signedTrailer, .malformedTrailer),
        Failure("trailer signature not hex",
                AWSExample.signedTrailerBody(trailers: trailerLine + "x-amz-trailer-signature:nothex\r\n"),
                .signedTrailer, .malformedTrailer),
    ]

    @Test(arguments: failures)
    func refusal(_ failure: Failure) throws {
        let decoder = try failure.decoder()
        for pieces in [[Int.max], [1]] {
            let error = protocolError { _ = try Self.decode(failure.body, decoder, pieces: pieces) }
            #expect(error?.code == failure.code)
            #expect(error?.message.isEmpty == false)
        }
    }

    /// Chunks replayed in another order break the chain even when each is genuine.
    @Test func reorderedChunksFail() throws {
        let body = String(decoding: AWSExample.signedBody(), as: UTF8.self)
        let first = "10000;chunk-signature=\(AWSExample.chunkSignatures[0])\r\n" + String(repeating: "a", count: 65536) + "\r\n"
        let second = "400;chunk-signature=\(AWSExample.chunkSignatures[1])\r\n" + String(repeating: "a", count: 1024) + "\r\n"
        let swapped = body.replacingOccurrences(of: first + second, with: second + first)
        let error = protocolError { _ = try Self.decode(Array(swapped.utf8), Self.signedDecoder()) }
        #expect(error?.code == .signatureDoesNotMatch)
    }

    // MARK: Limits and plumbing

    /// A chunk header of exactly `maxChunkHeaderBytes` (CR included) passes; extensions of
    /// an unsigned chunk are ignored.
    @Test func chunkHeaderAtTheLimit() throws {
        let padding = String(repeating: "x", count: AWSChunkedDecoder.maxChunkHeaderBytes - "3;\r".utf8.count)
        let body = Array("3;\(padding)\r\nabc\r\n0\r\n\r\n".utf8)
        let decoder = AWSChunkedDecoder(mode: .unsignedWithTrailer, decodedContentLength: 3)
        #expect(try Self.decode(body, decoder, pieces: [7]).payload == Array("abc".utf8))
    }

    @Test func trailersAtTheLimit() throws {
        let fixed = "x-a:\r\n\r\n".utf8.count
        let trailer = "x-a:" + String(repeating: "v", count: AWSChunkedDecoder.maxTrailerBytes - fixed) + "\r\n\r\n"
        let decoder = AWSChunkedDecoder(mode: .unsignedWithTrailer, decodedContentLength: 3)
        let decoded = try Self.decode(Array(("3\r\nabc\r\n0\r\n" + trailer).utf8), decoder)
        #expect(decoded.trailers.first?.value.count == AWSChunkedDecoder.maxTrailerBytes - fixed)
    }

    @Test func emitErrorsPassThrough() throws {
        struct DiskFull: Error {}
        var decoder = AWSChunkedDecoder(mode: .unsignedWithTrailer, decodedContentLength: 3)
        #expect(throws: DiskFull.self) {
            try Array("3\r\nabc\r\n".utf8).withUnsafeBytes { try decoder.feed($0) { _ in throw DiskFull() } }
        }
    }

    @Test func decoderNeedsAStreamingMode() throws {
        let fixture = try #require(ClientRequestFixture.all.first { $0.name == "boto3 http PUT /bkt/stream.bin" })
        let error = protocolError {
            _ = try AWSChunkedDecoder(authentication: fixture.verify(), decodedContentLength: 70000)
        }
        #expect(error?.code == .invalidRequest)
    }

    @Test(arguments: [
        (nil, S3ProtocolError.Code.missingContentLength), ("", .invalidArgument), ("-1", .invalidArgument),
        ("12a", .invalidArgument), ("99999999999999999999", .invalidArgument),
    ] as [(String?, S3ProtocolError.Code)])
    func decodedContentLengthHeader(_ value: String?, _ code: S3ProtocolError.Code) {
        let error = protocolError { _ = try AWSChunkedDecoder.decodedContentLength(header: value) }
        #expect(error?.code == code)
    }

    @Test func decodedContentLengthParses() throws {
        #expect(try AWSChunkedDecoder.decodedContentLength(header: "66560") == 66560)
        #expect(try AWSChunkedDecoder.decodedContentLength(header: "0") == 0)
    }
}
