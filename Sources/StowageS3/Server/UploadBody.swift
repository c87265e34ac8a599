import HTTPTypes
import Hummingbird
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
    /// else Content-Length (S3 requires one on a PUT).
    static func decodedLength(_ s3: S3Request, _ auth: SigV4Authentication) throws -> UInt64 {
        if auth.payload.isAWSChunked {
            return UInt64(try AWSChunkedDecoder.decodedContentLength(header: s3.header("x-amz-decoded-content-length")))
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

    /// Feeds `body` to `writer`; returns checksums that arrived as trailers.
    static func stream(_ body: RequestBody, into writer: ObjectWriter, s3: S3Request,
                       auth: SigV4Authentication, decodedLength: UInt64) async throws -> [S3ChecksumAlgorithm: String] {
        guard auth.payload.isAWSChunked else {
            var verifier = auth.makePayloadVerifier()
            for try await buffer in body {
                if verifier != nil { buffer.withUnsafeReadableBytes { verifier!.update($0) } }
                try await writer.write(BufferChunk(buffer: buffer))
            }
            try verifier?.finish()
            return [:]
        }
        var decoder = try AWSChunkedDecoder(authentication: auth, decodedContentLength: Int64(decodedLength),
                                            declaredTrailers: s3.header("x-amz-trailer"))
        var decoded = ByteBuffer()
        for try await buffer in body {
            decoded.clear()
            try buffer.withUnsafeReadableBytes { bytes in
                try decoder.feed(bytes) { decoded.writeBytes($0) }
            }
            if decoded.readableBytes > 0 { try await writer.write(BufferChunk(buffer: decoded)) }
        }
        var trailing: [S3ChecksumAlgorithm: String] = [:]
        for trailer in try decoder.finish() {
            if let algorithm = S3ChecksumAlgorithm(headerName: trailer.name) { trailing[algorithm] = trailer.value }
        }
        return trailing
    }
}
