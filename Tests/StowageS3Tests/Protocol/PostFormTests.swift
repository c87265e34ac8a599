import Foundation
import Hummingbird
import Testing
@testable import StowageS3

/// The POST Object form: `MultipartFormReader` over bodies cut into network chunks at every
/// position, and `PostPolicy`'s conditions as S3 documents them ("Creating a POST policy").
@Suite struct PostFormTests {
    struct Chunks: AsyncIteratorProtocol {
        var pieces: [ByteBuffer]
        mutating func next() async throws -> ByteBuffer? { pieces.isEmpty ? nil : pieces.removeFirst() }
    }

    typealias Reader = MultipartFormReader<Chunks>

    static let boundary = "----WebKitFormBoundary7MA4YWxkTrZu0gW"

    static func body(file: String, filename: String = "a \"b\"; c.txt", preamble: String = "") -> String {
        let b = boundary
        return preamble
            + "--\(b)\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nuploads/${filename}\r\n"
            + "--\(b)\r\ncontent-disposition: form-data; name=\"Content-Type\"\r\n\r\ntext/plain\r\n"
            + "--\(b)\r\nContent-Disposition: form-data; name=\"empty\"\r\n\r\n\r\n"
            + "--\(b)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\(filename.replacingOccurrences(of: "\"", with: "\\\""))\"\r\n"
            + "Content-Type: application/octet-stream\r\n\r\n\(file)\r\n"
            + "--\(b)\r\nContent-Disposition: form-data; name=\"after\"\r\n\r\nignored\r\n--\(b)--\r\n"
    }

    /// Reads the fields and the file from `text` cut at `cuts`.
    static func read(_ text: String, cuts: [Int]) async throws -> (fields: [String: String], part: Reader.Part?, file: String) {
        let bytes = Array(text.utf8)
        var pieces: [ByteBuffer] = []
        var from = 0
        for cut in cuts.map({ min($0, bytes.count) }).sorted() + [bytes.count] where cut >= from {
            pieces.append(ByteBuffer(bytes: bytes[from..<cut]))
            from = cut
        }
        var reader = Reader(boundary: boundary, chunks: Chunks(pieces: pieces))
        var fields: [String: String] = [:]
        while let part = try await reader.nextPart() {
            if part.name == "file" {
                var file: [UInt8] = []
                while let piece = try await reader.nextContent() { file += piece }
                return (fields, part, String(decoding: file, as: UTF8.self))
            }
            fields[part.name] = String(decoding: try await reader.content(limit: 1000, tooLong: Reader.malformed), as: UTF8.self)
        }
        return (fields, nil, "")
    }

    @Test func everySplitPositionReadsTheSameForm() async throws {
        // The file holds near-delimiters: CR, CRLF, CRLF-- and a boundary prefix.
        let file = "line\r\n\r\n--\(Self.boundary.dropLast())x\r\n-\rend"
        let text = Self.body(file: file, preamble: "preamble\r\n")
        for cut in 0...text.utf8.count {
            let read = try await Self.read(text, cuts: [cut, cut + 3])
            #expect(read.fields == ["key": "uploads/${filename}", "Content-Type": "text/plain", "empty": ""], "cut at \(cut)")
            #expect(read.file == file, "cut at \(cut)")
            #expect(read.part?.filename == "a \"b\"; c.txt")
            #expect(read.part?.contentType == "application/octet-stream")
        }
    }

    @Test func oneByteChunks() async throws {
        let text = Self.body(file: "\r\n")
        let read = try await Self.read(text, cuts: Array(0...text.utf8.count))
        #expect(read.file == "\r\n")
    }

    @Test func emptyFile() async throws {
        let read = try await Self.read(Self.body(file: ""), cuts: [])
        #expect(read.file == "")
        #expect(read.part?.name == "file")
    }

    @Test func truncatedBodyIsMalformed() async throws {
        let text = Self.body(file: "data")
        let cut = String(text[..<text.range(of: "data\r\n")!.upperBound])
        await #expect(throws: S3Error.self) { _ = try await Self.read(cut, cuts: [10]) }
    }

    @Test func boundaryFromContentType() {
        #expect(Reader.boundary(contentType: "multipart/form-data; boundary=abc") == "abc")
        #expect(Reader.boundary(contentType: "Multipart/Form-Data;boundary=\"a b\"") == "a b")
        #expect(Reader.boundary(contentType: "application/x-www-form-urlencoded") == nil)
        #expect(Reader.boundary(contentType: "multipart/form-data") == nil)
    }

    @Test func dispositionParameters() {
        let parameters = Reader.parameters("form-data; name=\"file\"; filename=\"x;y.txt\"")
        #expect(parameters.map(\.name) == ["form-data", "name", "filename"])
        #expect(parameters.map(\.value) == [nil, "file", "x;y.txt"])
        #expect(Reader.parameters("form-data; name=plain").last?.value == "plain")
    }

    // MARK: Policy

    static func policy(_ json: String) throws -> PostPolicy {
        try PostPolicy(base64: Data(json.utf8).base64EncodedString())
    }

    static let document = """
        {"expiration": "2030-01-01T00:00:00.000Z", "conditions": [{"bucket": "photos"},
         ["starts-with", "$key", "user/"], ["content-length-range", 1, 1024], {"acl": "private"},
         ["starts-with", "$Content-Type", ""], ["eq", "$x-amz-meta-tag", "a"]]}
        """

    static let fields = ["bucket": "photos", "key": "user/a.jpg", "acl": "private", "content-type": "image/jpeg",
                         "x-amz-meta-tag": "a", "policy": "…", "x-amz-signature": "…", "x-ignore-me": "1"]

    @Test func aFormMeetingEveryConditionPasses() throws {
        let policy = try Self.policy(Self.document)
        try policy.check(Self.fields, now: Date(timeIntervalSince1970: 1_800_000_000))
        #expect(policy.contentLengthRange == 1...1024)
    }

    @Test(arguments: [
        ("key", "other/a.jpg", "Policy Condition failed: [\"starts-with\", \"$key\", \"user/\"]"),
        ("bucket", "videos", "Policy Condition failed: [\"eq\", \"$bucket\", \"photos\"]"),
        ("acl", "public-read", "Policy Condition failed: [\"eq\", \"$acl\", \"private\"]"),
        ("x-amz-meta-tag", "b", "Policy Condition failed: [\"eq\", \"$x-amz-meta-tag\", \"a\"]"),
        ("x-amz-meta-other", "b", "Extra input fields: x-amz-meta-other"),
    ])
    func aFieldFailingItsConditionIsRefused(_ name: String, _ value: String, _ message: String) throws {
        var fields = Self.fields
        fields[name] = value
        let error = #expect(throws: S3Error.self) {
            try Self.policy(Self.document).check(fields, now: Date(timeIntervalSince1970: 1_800_000_000))
        }
        #expect(error?.code == "AccessDenied")
        #expect(error?.message == "Invalid according to Policy: " + message)
    }

    @Test func anExpiredPolicyIsRefused() throws {
        let error = #expect(throws: S3Error.self) {
            try Self.policy(Self.document).check(Self.fields, now: Date(timeIntervalSince1970: 1_900_000_000))
        }
        #expect(error?.message == "Invalid according to Policy: Policy expired.")
    }

    @Test(arguments: ["not json", "{\"conditions\": []}", "{\"expiration\": \"2030-01-01T00:00:00Z\"}",
                      "{\"expiration\": \"2030-01-01T00:00:00Z\", \"conditions\": [[\"lt\", \"$key\", \"a\"]]}",
                      "{\"expiration\": \"2030-01-01T00:00:00Z\", \"conditions\": [[\"content-length-range\", 5, 1]]}"])
    func malformedPoliciesAreInvalidArguments(_ json: String) {
        let error = #expect(throws: S3Error.self) { try Self.policy(json) }
        #expect(error?.code == "InvalidArgument")
    }
}
