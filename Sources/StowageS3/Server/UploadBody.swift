import HTTPTypes
import Hummingbird
import NIOHTTP1
import Stowage
import StowageChecksums

/// A `ByteBuffer` lent to the engine's writer.
struct BufferChunk: ByteChunk {
    let buffer: ByteBuffer
    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try buffer.withUnsafeReadableBytes(body)
    }
}

/// Streams a request body into an `ObjectWriter`, undoing the payload's protection on
/// the way: a signed SHA-256 is checked, aws-chunked framing is decoded (chunk signatures
/// verified) and its trailing checksums returned. Nothing commits until the whole body
/// has passed every check (the writer commits in `finish`).
enum UploadBody {
    /// The body's length after decoding: `x-amz-decoded-content-length` for aws-chunked,
    /// else Content-Length; nil for an HTTP body sent with `Transfer-Encoding: chunked` and
    /// no Content-Length, which is streamed and stored whatever its length (up to the
    /// writer's limits) — S3 itself answers 411 there, but clients that stream from a pipe
    /// send exactly that, and the length is known once the last chunk has arrived.
    static func decodedLength(_ s3: S3Request, _ auth: SigV4Authentication) throws -> UInt64? {
        if auth.payload.isAWSChunked {
            return UInt64(try AWSChunkedDecoder.decodedContentLength(header: s3.header("x-amz-decoded-content-length")))
        }
        if s3.headers[.contentLength] == nil, let coding = s3.headers[.transferEncoding],
           coding.lowercased().split(separator: ",").last?.trimmingCharacters(in: .whitespaces) == "chunked" {
            return nil
        }
        guard let text = s3.headers[.contentLength] else {
            throw S3Error(.lengthRequired, "MissingContentLength", "You must provide the Content-Length HTTP header.")
        }
        guard let length = UInt64(text) else { throw S3Error.invalidArgument("Content-Length is not a number") }
        return length
    }

    /// Checksum algorithms the client asked the server to compute, and the values it sent
    /// in headers.
    static func checksums(_ s3: S3Request) throws -> (compute: [S3ChecksumAlgorithm], expected: [S3ChecksumAlgorithm: String]) {
        var compute: [S3ChecksumAlgorithm] = []
        var expected: [S3ChecksumAlgorithm: String] = [:]
        for algorithm in S3ChecksumAlgorithm.allCases {
            if let value = s3.header(algorithm.headerName) {
                guard algorithm.digest(fromBase64: value) != nil else {
                    throw S3Error(.badRequest, "InvalidRequest", "Value for \(algorithm.headerName) header is invalid.")
                }
                expected[algorithm] = value
            }
        }
        for name in ["x-amz-sdk-checksum-algorithm", "x-amz-checksum-algorithm"] {
            if let value = s3.header(name) {
                guard let algorithm = S3ChecksumAlgorithm(wireName: value) else {
                    throw S3Error.invalidArgument("Checksum algorithm \(value) is not supported")
                }
                compute.append(algorithm)
            }
        }
        if let trailer = s3.header("x-amz-trailer") {
            for name in trailer.split(separator: ",") {
                guard let algorithm = S3ChecksumAlgorithm(headerName: name.trimmingCharacters(in: .whitespaces)) else {
                    throw S3Error.invalidArgument("Trailer \(name) is not supported")
                }
                compute.append(algorithm)
            }
        }
        return (compute, expected)
    }

    /// Feeds `body` to `writer`; returns checksums that arrived as trailers. A body the
    /// client ends early (it half-closes before `Content-Length` bytes) is `IncompleteBody`,
    /// as S3 answers it — the HTTP parser reports it as an unexpected end of stream.
    static func stream(_ body: RequestBody, into writer: ObjectWriter, s3: S3Request,
                       auth: SigV4Authentication, decodedLength: UInt64?) async throws -> [S3ChecksumAlgorithm: String] {
        do {
            return try await streamBody(body, into: writer, s3: s3, auth: auth, decodedLength: decodedLength)
        } catch let error as HTTPParserError where error == .invalidEOFState {
            throw S3Error(.badRequest, "IncompleteBody",
                          "You did not provide the number of bytes specified by the Content-Length HTTP header.")
        }
    }

    private static func streamBody(_ body: RequestBody, into writer: ObjectWriter, s3: S3Request,
                                   auth: SigV4Authentication, decodedLength: UInt64?) async throws -> [S3ChecksumAlgorithm: String] {
        guard auth.payload.isAWSChunked, let decodedLength else {
            let verifier = PayloadHash(auth.makePayloadVerifier())
            for try await buffer in body {
                verifier.update(buffer)
                try await writer.write(BufferChunk(buffer: buffer))
            }
            try verifier.finish()
            return [:]
        }
        let decoder = ChunkedBody(try AWSChunkedDecoder(authentication: auth, decodedContentLength: Int64(decodedLength),
                                                        declaredTrailers: s3.header("x-amz-trailer")))
        for try await buffer in body {
            let decoded = try decoder.decode(buffer)
            if decoded.readableBytes > 0 { try await writer.write(BufferChunk(buffer: decoded)) }
        }
        var trailing: [S3ChecksumAlgorithm: String] = [:]
        for trailer in try decoder.finish() {
            if let algorithm = S3ChecksumAlgorithm(headerName: trailer.name) { trailing[algorithm] = trailer.value }
        }
        return trailing
    }
}

// The decoder and the payload hash live in small reference boxes so that no `inout` value
// is captured by a closure inside the async loops above: the Swift 6.3 optimizer crashes
// (signal 11 while splitting the coroutine) on that form in release builds.
// `@unchecked Sendable`: each box is used by the one task streaming its request.

private final class PayloadHash: @unchecked Sendable {
    private var verifier: SignedPayloadVerifier?
    init(_ verifier: SignedPayloadVerifier?) { self.verifier = verifier }

    func update(_ buffer: ByteBuffer) {
        guard verifier != nil else { return }
        buffer.withUnsafeReadableBytes { verifier!.update($0) }
    }

    func finish() throws { try verifier?.finish() }
}

private final class ChunkedBody: @unchecked Sendable {
    private var decoder: AWSChunkedDecoder
    init(_ decoder: AWSChunkedDecoder) { self.decoder = decoder }

    func decode(_ buffer: ByteBuffer) throws -> ByteBuffer {
        var decoded = ByteBuffer()
        try buffer.withUnsafeReadableBytes { bytes in
            try decoder.feed(bytes) { decoded.writeBytes($0) }
        }
        return decoded
    }

    func finish() throws -> [AWSChunkedDecoder.Trailer] { try decoder.finish() }
}
