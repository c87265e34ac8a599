import Foundation
import Hummingbird

/// A streaming reader of a `multipart/form-data` body (RFC 7578), as browsers send POST
/// Object forms: small fields are collected (bounded), the file part is handed out in
/// pieces as it arrives, so an upload of any size is held in memory one network chunk at a
/// time. The delimiter may be split across chunks anywhere: a piece is handed out only
/// when no delimiter can begin inside it.
struct MultipartFormReader<Chunks: AsyncIteratorProtocol> where Chunks.Element == ByteBuffer {
    struct Part: Equatable {
        var name: String
        /// The `filename` parameter: present on a file part (possibly empty).
        var filename: String?
        var contentType: String?
    }

    static var malformed: S3Error {
        S3Error(.badRequest, "MalformedPOSTRequest", "The body of your POST request is not well-formed multipart/form-data.")
    }

    /// Largest header block of one part.
    static var maxPartHeaderBytes: Int { 8 << 10 }

    private var chunks: Chunks
    /// `CRLF--boundary`: the body's first delimiter has no CRLF before it, so the buffer starts with one.
    private let delimiter: [UInt8]
    private var buffer: [UInt8] = [0x0D, 0x0A]
    private var start = 0
    private var exhausted = false
    /// Inside a part's content (after its headers, before its closing delimiter).
    private var inContent = false
    private var finished = false
    private var sawFirst = false

    init(boundary: String, chunks: Chunks) {
        self.chunks = chunks
        delimiter = Array("\r\n--\(boundary)".utf8)
    }

    /// The boundary of a `multipart/form-data` Content-Type; nil for any other type.
    static func boundary(contentType: String) -> String? {
        let parameters = contentType.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard parameters.first?.lowercased() == "multipart/form-data" else { return nil }
        for parameter in parameters.dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2, pair[0].trimmingCharacters(in: .whitespaces).lowercased() == "boundary" else { continue }
            var value = pair[1].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            return (1...70).contains(value.utf8.count) ? value : nil
        }
        return nil
    }

    /// The next part's headers, skipping whatever is left of the current part; nil after
    /// the closing delimiter.
    mutating func nextPart() async throws -> Part? {
        guard !finished else { return nil }
        // The preamble, before the first delimiter, is skipped like the rest of a part.
        if !sawFirst { (sawFirst, inContent) = (true, true) }
        while inContent, try await nextContent() != nil {}
        // After a delimiter: `--` closes the body; otherwise optional padding, then CRLF.
        while true {
            try await fill(2)
            guard available >= 2 else { throw Self.malformed }
            if buffer[start] == 0x2D && buffer[start + 1] == 0x2D {
                finished = true
                return nil
            }
            if buffer[start] == 0x20 || buffer[start] == 0x09 {
                start += 1
                continue
            }
            guard buffer[start] == 0x0D && buffer[start + 1] == 0x0A else { throw Self.malformed }
            start += 2
            break
        }
        let headers = try await readThrough(Array("\r\n\r\n".utf8), limit: Self.maxPartHeaderBytes)
        inContent = true
        return try Self.part(headers: headers)
    }

    /// The current part's content, whole, at most `limit` bytes (else `tooLong`).
    mutating func content(limit: Int, tooLong: S3Error) async throws -> [UInt8] {
        var out: [UInt8] = []
        while let piece = try await nextContent() {
            out += piece
            if out.count > limit { throw tooLong }
        }
        return out
    }

    /// The next piece of the current part's content; nil at its end.
    mutating func nextContent() async throws -> [UInt8]? {
        guard inContent else { return nil }
        while true {
            if let found = find(delimiter, from: start) {
                let piece = Array(buffer[start..<found])
                start = found + delimiter.count
                inContent = false
                compact()
                return piece.isEmpty ? nil : piece
            }
            // No delimiter begins before `safe`: hand that much out.
            let safe = buffer.count - (delimiter.count - 1)
            if safe > start {
                let piece = Array(buffer[start..<safe])
                start = safe
                compact()
                return piece
            }
            guard try await readMore() else { throw Self.malformed }
        }
    }

    private var available: Int { buffer.count - start }

    private mutating func fill(_ count: Int) async throws {
        while available < count, try await readMore() {}
    }

    private mutating func readMore() async throws -> Bool {
        guard !exhausted, let chunk = try await chunks.next() else {
            exhausted = true
            return false
        }
        chunk.withUnsafeReadableBytes { buffer.append(contentsOf: $0) }
        return true
    }

    /// Drops what was consumed once it is worth the copy.
    private mutating func compact() {
        if start > 64 << 10 || start == buffer.count {
            buffer.removeSubrange(0..<start)
            start = 0
        }
    }

    private mutating func readThrough(_ terminator: [UInt8], limit: Int) async throws -> [UInt8] {
        while true {
            if let found = find(terminator, from: start) {
                let out = Array(buffer[start..<found])
                start = found + terminator.count
                compact()
                return out
            }
            guard available <= limit else { throw Self.malformed }
            guard try await readMore() else { throw Self.malformed }
        }
    }

    private func find(_ needle: [UInt8], from: Int) -> Int? {
        guard buffer.count - from >= needle.count else { return nil }
        return buffer.withUnsafeBufferPointer { haystack -> Int? in
            let base = haystack.baseAddress!
            var position = from
            let last = haystack.count - needle.count
            while position <= last {
                // memchr for the needle's first byte, then compare the rest.
                guard let hit = memchr(base + position, Int32(needle[0]), last - position + 1) else { return nil }
                let index = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                if memcmp(base + index, needle, needle.count) == 0 { return index }
                position = index + 1
            }
            return nil
        }
    }

    /// A part's name, filename and type from its header block.
    static func part(headers: [UInt8]) throws -> Part {
        let text = String(decoding: headers, as: UTF8.self)
        var disposition: String?
        var contentType: String?
        for line in text.components(separatedBy: "\r\n") where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { throw malformed }
            let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if name == "content-disposition" { disposition = value }
            if name == "content-type" { contentType = value }
        }
        guard let disposition else { throw malformed }
        let parameters = Self.parameters(disposition)
        guard parameters.first?.name.lowercased() == "form-data",
              let name = parameters.first(where: { $0.name.lowercased() == "name" })?.value else { throw malformed }
        return Part(name: name, filename: parameters.first(where: { $0.name.lowercased() == "filename" })?.value,
                    contentType: contentType)
    }

    /// `form-data; name="a"; filename="b; c.txt"` → [(form-data, nil), (name, a), (filename, b; c.txt)]:
    /// `;` inside quotes is kept, and `\"` stands for a quote.
    static func parameters(_ value: String) -> [(name: String, value: String?)] {
        var out: [(name: String, value: String?)] = []
        var name = "", current = "", quoted = false, escaped = false, hasValue = false
        func flush() {
            let trimmed = name.trimmingCharacters(in: .whitespaces)
            if !trimmed.isEmpty { out.append((trimmed, hasValue ? current : nil)) }
            (name, current, hasValue) = ("", "", false)
        }
        for character in value {
            if quoted {
                if escaped { current.append(character); escaped = false }
                else if character == "\\" { escaped = true }
                else if character == "\"" { quoted = false }
                else { current.append(character) }
            } else if character == ";" {
                flush()
            } else if character == "=" && !hasValue {
                hasValue = true
            } else if hasValue {
                if character == "\"" { quoted = true } else if character != " " || !current.isEmpty { current.append(character) }
            } else {
                name.append(character)
            }
        }
        flush()
        return out.map { ($0.name, $0.value?.trimmingCharacters(in: .whitespaces)) }
    }
}
