import Crypto

/// Decodes a `Content-Encoding: aws-chunked` body incrementally: feed it the bytes as they
/// arrive, split anywhere; it emits the payload and checks the framing, the chunk signature
/// chain (signed modes), the trailing headers and the decoded length.
///
///     <hex size>[;chunk-signature=<sig>]\r\n<data>\r\n      … repeated
///     0[;chunk-signature=<sig>]\r\n                            the final chunk
///     <name>:<value>\r\n                                       trailers (TRAILER modes)
///     x-amz-trailer-signature:<sig>\r\n                        (signed TRAILER mode)
///     \r\n
///
/// (AWS's published TRAILER example also has an empty line after the final chunk header and
/// no closing empty line; both forms are accepted.)
///
/// Memory is bounded: one chunk header line (`maxChunkHeaderBytes`) or the trailers
/// (`maxTrailerBytes`); chunk data goes straight from the fed buffer to `emit`, hashed on
/// the way. So data is emitted *before* its chunk's signature is checked (at the chunk's
/// end): the caller must treat emitted bytes as provisional until `finish()` returns, and
/// discard them when anything throws.
///
/// `@unchecked Sendable`: swift-crypto's `SHA256` is not declared `Sendable` on Linux but is
/// a copy-on-write value (mutations copy a shared context first).
public struct AWSChunkedDecoder: @unchecked Sendable {
    public enum Mode: Sendable {
        /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`
        case signed(SigV4SigningContext)
        /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`
        case signedWithTrailer(SigV4SigningContext)
        /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`
        case unsignedWithTrailer
    }

    /// A trailing header: lowercase name, trimmed value.
    public struct Trailer: Sendable, Equatable {
        public let name: String
        public let value: String
    }

    /// Longest chunk header line accepted, CR included. A signed one is about 90 bytes
    /// (16 hex digits, `;chunk-signature=`, 64 hex digits); the rest is room for extensions.
    public static let maxChunkHeaderBytes = 4096
    /// Most bytes of trailing headers accepted, all lines together with their CRLFs.
    public static let maxTrailerBytes = 16 * 1024
    /// A chunk size is at most 16 hex digits (and must fit an `Int64`).
    static let maxChunkSizeDigits = 16
    static let chunkSignaturePrefix = "chunk-signature="
    static let trailerSignatureName = "x-amz-trailer-signature"
    static let signatureHexLength = 64

    public let mode: Mode
    /// `x-amz-decoded-content-length`: the payload must be exactly this long.
    public let decodedContentLength: Int64
    /// Payload bytes emitted so far.
    public private(set) var decodedByteCount: Int64 = 0
    /// The trailing headers in the order sent. They are checked (signature, `x-amz-trailer`)
    /// only by the end of the body: trust them once `finish()` has returned.
    public private(set) var trailers: [Trailer] = []

    private enum State {
        case chunkHeader
        case chunkData(remaining: Int64)
        case chunkDataEnd(carriageReturnSeen: Bool)
        case trailer
        case done
    }

    private let declaredTrailers: Set<String>?
    private var state = State.chunkHeader
    /// The line being read (chunk header or trailer), without its LF.
    private var line: [UInt8] = []
    private var trailerBytes = 0
    /// Sizes announced by chunk headers so far; never above `decodedContentLength`.
    private var announcedBytes: Int64 = 0
    private var chunkNumber = 0
    /// Signed modes: the signature chain and the running hash of the current chunk.
    private var previousSignature: String
    private var claimedSignature = ""
    private var chunkHasher = SHA256()
    private var trailerSignature: String?
    private var skippedLeadingBlankLine = false

    /// - Parameter declaredTrailers: the `x-amz-trailer` header; when given, every trailer
    ///   must be declared there and every declared one must arrive.
    public init(mode: Mode, decodedContentLength: Int64, declaredTrailers: String? = nil) {
        self.mode = mode
        self.decodedContentLength = decodedContentLength
        self.declaredTrailers = declaredTrailers.map(Self.trailerNames)
        switch mode {
        case .signed(let context), .signedWithTrailer(let context):
            previousSignature = context.seedSignature
        case .unsignedWithTrailer:
            previousSignature = ""
        }
    }

    /// The decoder for a verified request; throws `InvalidRequest` when its
    /// `x-amz-content-sha256` is not one of the three STREAMING modes, or names a signed
    /// one without a SigV4 signing context (SigV2 refuses those before they get here).
    public init(authentication: SigV4Authentication, decodedContentLength: Int64,
                declaredTrailers: String? = nil) throws(S3ProtocolError) {
        let mode: Mode
        switch (authentication.payload, authentication.signing) {
        case (.streamingSigned, .some(let signing)): mode = .signed(signing)
        case (.streamingSignedWithTrailer, .some(let signing)): mode = .signedWithTrailer(signing)
        case (.streamingUnsignedWithTrailer, _): mode = .unsignedWithTrailer
        case (.streamingSigned, nil), (.streamingSignedWithTrailer, nil), (.unsigned, _), (.sha256, _):
            throw S3ProtocolError(.invalidRequest,
                                  "An aws-chunked body needs a STREAMING-* x-amz-content-sha256, not \(authentication.payload).")
        }
        self.init(mode: mode, decodedContentLength: decodedContentLength, declaredTrailers: declaredTrailers)
    }

    /// Parses `x-amz-decoded-content-length`, which every aws-chunked request must carry.
    public static func decodedContentLength(header value: String?) throws(S3ProtocolError) -> Int64 {
        guard let value else {
            throw S3ProtocolError(.missingContentLength,
                                  "An aws-chunked body needs the x-amz-decoded-content-length header.")
        }
        guard !value.isEmpty, value.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let length = Int64(value) else {
            throw S3ProtocolError(.invalidArgument, "x-amz-decoded-content-length '\(value)' is not a length.")
        }
        return length
    }

    /// The value of a trailer (`x-amz-checksum-crc32`, …), nil when it was not sent.
    public func trailer(named name: String) -> String? {
        let wanted = name.lowercased()
        return trailers.first { $0.name == wanted }?.value
    }

    /// Decodes `bytes`, passing payload to `emit` (slices of `bytes` itself, so `emit` must
    /// copy what it keeps). Throws `S3ProtocolError` for the body, or what `emit` throws;
    /// after a throw the decoder is spent and the request must be refused.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer, emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        var offset = 0
        while offset < bytes.count {
            switch state {
            case .chunkHeader, .trailer:
                offset = try consumeLine(bytes, from: offset)
            case .chunkData(let remaining):
                offset = try consumeData(bytes, from: offset, remaining: remaining, emit: emit)
            case .chunkDataEnd(let carriageReturnSeen):
                try consumeDataTerminator(bytes[offset], carriageReturnSeen: carriageReturnSeen)
                offset += 1
            case .done:
                throw Self.invalid("The aws-chunked body continues after its final chunk and trailers.")
            }
        }
    }

    /// Declares the end of the body. Throws `IncompleteBody` unless the final chunk has been
    /// read; returns the trailers. The trailer section may lack its closing empty line (or
    /// the CRLF of its last line): AWS's own published example ends that way, and every
    /// signature and length has been checked by then.
    @discardableResult
    public mutating func finish() throws(S3ProtocolError) -> [Trailer] {
        switch state {
        case .done:
            return trailers
        case .trailer:
            try finishTrailerSection()
            return trailers
        case .chunkHeader where chunkNumber == 0 && line.isEmpty:
            throw Self.incomplete("The aws-chunked body is empty: it needs at least its final chunk.")
        case .chunkData, .chunkDataEnd:
            throw Self.incomplete("The aws-chunked body ended inside chunk \(chunkNumber).")
        case .chunkHeader:
            throw Self.incomplete("The aws-chunked body ended before its final chunk.")
        }
    }
}

// MARK: - Lines

extension AWSChunkedDecoder {
    private var isSigned: Bool {
        if case .unsignedWithTrailer = mode { return false }
        return true
    }

    private var signingContext: SigV4SigningContext? {
        switch mode {
        case .signed(let context), .signedWithTrailer(let context): context
        case .unsignedWithTrailer: nil
        }
    }

    /// Appends bytes up to the next LF to `line`; on a whole line, processes it. Returns the
    /// offset after what was consumed.
    private mutating func consumeLine(_ bytes: UnsafeRawBufferPointer, from offset: Int) throws(S3ProtocolError) -> Int {
        let newline = bytes[offset...].firstIndex(of: UInt8(ascii: "\n"))
        let end = newline ?? bytes.count
        try checkLineLimit(adding: end - offset)
        line.append(contentsOf: bytes[offset..<end])
        guard let newline else { return end }
        guard line.last == UInt8(ascii: "\r") else {
            throw Self.invalid("An aws-chunked line must end with CRLF, not a bare LF.")
        }
        line.removeLast()
        let complete = line
        line.removeAll(keepingCapacity: true)
        if case .chunkHeader = state {
            try processChunkHeader(complete)
        } else {
            try processTrailerLine(complete)
        }
        return newline + 1
    }

    private func checkLineLimit(adding count: Int) throws(S3ProtocolError) {
        if case .chunkHeader = state {
            guard line.count + count <= Self.maxChunkHeaderBytes else {
                throw Self.invalid("An aws-chunked chunk header is longer than \(Self.maxChunkHeaderBytes) bytes.")
            }
        } else {
            guard trailerBytes + line.count + count <= Self.maxTrailerBytes else {
                throw Self.malformedTrailer("The trailing headers are longer than \(Self.maxTrailerBytes) bytes.")
            }
        }
    }

    /// Passes on as much of the current chunk's data as `bytes` holds, hashing it for the
    /// chunk signature. Returns the offset after it.
    private mutating func consumeData(_ bytes: UnsafeRawBufferPointer, from offset: Int, remaining: Int64,
                                      emit: (UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        let count = Int(min(Int64(bytes.count - offset), remaining))
        let data = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)])
        if isSigned { chunkHasher.update(bufferPointer: data) }
        decodedByteCount += Int64(count)
        state = Int64(count) == remaining ? .chunkDataEnd(carriageReturnSeen: false)
                                          : .chunkData(remaining: remaining - Int64(count))
        try emit(data)
        return offset + count
    }

    /// The CRLF that must follow each chunk's data; then the chunk's signature is checked.
    private mutating func consumeDataTerminator(_ byte: UInt8, carriageReturnSeen: Bool) throws(S3ProtocolError) {
        let expected = carriageReturnSeen ? UInt8(ascii: "\n") : UInt8(ascii: "\r")
        guard byte == expected else {
            throw Self.invalid("The data of aws-chunked chunk \(chunkNumber) is not followed by CRLF: its size is wrong.")
        }
        guard carriageReturnSeen else {
            state = .chunkDataEnd(carriageReturnSeen: true)
            return
        }
        try verifyChunkSignature(dataSHA256: SigV4Encoding.lowercaseHex(chunkHasher.finalize()))
        state = .chunkHeader
    }
}

// MARK: - Chunk headers

extension AWSChunkedDecoder {
    /// `<hex size>[;chunk-signature=<sig>]`: sets up the chunk's data, or on size 0 the
    /// trailer section.
    private mutating func processChunkHeader(_ header: [UInt8]) throws(S3ProtocolError) {
        chunkNumber += 1
        let semicolon = header.firstIndex(of: UInt8(ascii: ";")) ?? header.endIndex
        let size = try chunkSize(header[..<semicolon])
        if isSigned {
            let extensions = semicolon < header.endIndex ? header[(semicolon + 1)...] : []
            claimedSignature = try chunkSignature(extensions)
        }
        guard size <= decodedContentLength - announcedBytes else {
            throw Self.incomplete("The aws-chunked chunks carry more than x-amz-decoded-content-length (\(decodedContentLength)) bytes.")
        }
        announcedBytes += size
        chunkHasher = SHA256()
        guard size == 0 else {
            state = .chunkData(remaining: size)
            return
        }
        try verifyChunkSignature(dataSHA256: SigV4SigningContext.emptySHA256)
        guard announcedBytes == decodedContentLength else {
            throw Self.incomplete("The aws-chunked body carries \(announcedBytes) bytes, but x-amz-decoded-content-length is \(decodedContentLength).")
        }
        state = .trailer
    }

    private func chunkSize(_ digits: ArraySlice<UInt8>) throws(S3ProtocolError) -> Int64 {
        guard !digits.isEmpty, digits.count <= Self.maxChunkSizeDigits else {
            throw Self.invalid("Chunk \(chunkNumber) has no valid hexadecimal size.")
        }
        var size: UInt64 = 0
        for digit in digits {
            guard let value = SigV4Encoding.hexDigitValue(digit) else {
                throw Self.invalid("Chunk \(chunkNumber) has no valid hexadecimal size.")
            }
            size = size << 4 | UInt64(value)
        }
        guard size <= UInt64(Int64.max) else {
            throw Self.invalid("The size of chunk \(chunkNumber) is too large.")
        }
        return Int64(size)
    }

    /// The `chunk-signature=<64 hex>` extension a signed chunk must carry.
    private func chunkSignature(_ extensions: ArraySlice<UInt8>) throws(S3ProtocolError) -> String {
        let text = String(decoding: extensions, as: UTF8.self)
        let signature = text.dropFirst(Self.chunkSignaturePrefix.count)
        guard text.hasPrefix(Self.chunkSignaturePrefix),
              SigV4Encoding.isHex(signature, count: Self.signatureHexLength) else {
            throw Self.invalid("Chunk \(chunkNumber) of a signed aws-chunked body has no valid chunk-signature.")
        }
        return signature.lowercased()
    }

    /// Checks the current chunk's claimed signature and moves the chain on.
    private mutating func verifyChunkSignature(dataSHA256: String) throws(S3ProtocolError) {
        guard let context = signingContext else { return }
        let expected = context.chunkSignature(previous: previousSignature, chunkSHA256: dataSHA256)
        guard SigV4Encoding.constantTimeEqual(expected, claimedSignature) else {
            throw S3ProtocolError(.signatureDoesNotMatch,
                                  "The signature of aws-chunked chunk \(chunkNumber) does not match.")
        }
        previousSignature = expected
    }
}

// MARK: - Trailers

extension AWSChunkedDecoder {
    /// One `name:value` trailer line, or the empty line that ends the body.
    private mutating func processTrailerLine(_ text: [UInt8]) throws(S3ProtocolError) {
        trailerBytes += text.count + 2
        if text.isEmpty && skipsLeadingBlankLine {
            skippedLeadingBlankLine = true
            return
        }
        guard !text.isEmpty else {
            try completeTrailers()
            state = .done
            return
        }
        guard trailerSignature == nil else {
            throw Self.malformedTrailer("x-amz-trailer-signature must be the last trailing header.")
        }
        guard let colon = text.firstIndex(of: UInt8(ascii: ":")), colon > 0 else {
            throw Self.malformedTrailer("A trailing header is not of the form name:value.")
        }
        let name = String(decoding: text[..<colon], as: UTF8.self).lowercased()
        let value = SigV4Encoding.trimAll(String(decoding: text[(colon + 1)...], as: UTF8.self))
        if name == Self.trailerSignatureName {
            guard case .signedWithTrailer = mode, SigV4Encoding.isHex(Substring(value), count: Self.signatureHexLength) else {
                throw Self.malformedTrailer("Unexpected or malformed x-amz-trailer-signature.")
            }
            trailerSignature = value.lowercased()
        } else {
            guard !trailers.contains(where: { $0.name == name }) else {
                throw Self.malformedTrailer("The trailing header \(name) is sent twice.")
            }
            trailers.append(Trailer(name: name, value: value))
        }
    }

    /// In the TRAILER modes, one empty line straight after the final chunk header is the
    /// (empty) final chunk's data terminator, as AWS's published example writes it; boto3
    /// and the SDKs put the trailers there directly.
    private var skipsLeadingBlankLine: Bool {
        if case .signed = mode { return false }
        return !skippedLeadingBlankLine && trailers.isEmpty && trailerSignature == nil
    }

    /// Ends a trailer section that the body's end cut short of its empty line.
    private mutating func finishTrailerSection() throws(S3ProtocolError) {
        if !line.isEmpty {
            if line.last == UInt8(ascii: "\r") { line.removeLast() }
            let last = line
            line.removeAll()
            try processTrailerLine(last)
        }
        guard case .trailer = state else { return }
        try completeTrailers()
        state = .done
    }

    private func completeTrailers() throws(S3ProtocolError) {
        switch mode {
        case .signed:
            guard trailers.isEmpty else {
                throw Self.malformedTrailer("Trailing headers need a *-TRAILER x-amz-content-sha256.")
            }
        case .signedWithTrailer(let context):
            try verifyTrailerSignature(context)
        case .unsignedWithTrailer:
            break
        }
        try checkDeclaredTrailers()
    }

    /// The trailer signature covers `name:value\n` of every other trailer, sorted by name,
    /// chained to the final chunk's signature.
    private func verifyTrailerSignature(_ context: SigV4SigningContext) throws(S3ProtocolError) {
        guard let trailerSignature else {
            throw Self.malformedTrailer("A signed trailer section needs x-amz-trailer-signature.")
        }
        let canonical = trailers.sorted { $0.name < $1.name }.map { "\($0.name):\($0.value)\n" }.joined()
        let expected = context.trailerSignature(previous: previousSignature,
                                                trailersSHA256: SigV4SigningContext.sha256Hex(Array(canonical.utf8)))
        guard SigV4Encoding.constantTimeEqual(expected, trailerSignature) else {
            throw S3ProtocolError(.signatureDoesNotMatch, "The signature of the trailing headers does not match.")
        }
    }

    private func checkDeclaredTrailers() throws(S3ProtocolError) {
        guard let declaredTrailers else { return }
        let received = Set(trailers.map(\.name))
        if let undeclared = received.subtracting(declaredTrailers).sorted().first {
            throw Self.malformedTrailer("The trailing header \(undeclared) is not declared in x-amz-trailer.")
        }
        if let missing = declaredTrailers.subtracting(received).sorted().first {
            throw Self.malformedTrailer("The trailing header \(missing) declared in x-amz-trailer was not sent.")
        }
    }

    private static func trailerNames(_ header: String) -> Set<String> {
        Set(header.split(separator: ",").map { SigV4Encoding.trim($0).lowercased() }.filter { !$0.isEmpty })
    }

    private static func invalid(_ message: String) -> S3ProtocolError {
        S3ProtocolError(.invalidRequest, message)
    }

    private static func incomplete(_ message: String) -> S3ProtocolError {
        S3ProtocolError(.incompleteBody, message)
    }

    private static func malformedTrailer(_ message: String) -> S3ProtocolError {
        S3ProtocolError(.malformedTrailer, message)
    }
}
