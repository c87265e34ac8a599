import Foundation
import HTTPTypes
import HummingbirdTesting
import Stowage
import Testing
@testable import StowageS3

/// PutObject bodies: Content-MD5, aws-chunked with trailing checksums as boto3 sends them
/// (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`), and bodies shorter than announced. A body that
/// fails a check leaves nothing behind.
@Suite struct BodyTests {
    struct MD5Case: Sendable, CustomTestStringConvertible {
        let name: String
        let contentMD5: String
        let status: HTTPResponse.Status
        let code: String?
        var testDescription: String { name }
    }

    static let md5Cases: [MD5Case] = [
        MD5Case(name: "matches", contentMD5: "XUFAKrxLKna5cZ2REBfFkg==", status: .ok, code: nil),
        MD5Case(name: "another body's", contentMD5: "5NfxtO0uQtFYmPSyewGdpA==", status: .badRequest, code: "BadDigest"),
        MD5Case(name: "not base64", contentMD5: "not an md5!", status: .badRequest, code: "InvalidDigest"),
        MD5Case(name: "not 16 bytes", contentMD5: "XUFAKrxLKna5cZ2REBfF", status: .badRequest, code: "InvalidDigest"),
    ]

    @Test(arguments: md5Cases)
    func contentMD5(_ test: MD5Case) async throws {
        try await withTestServer { client, store in
            try await store.createBucket("md5")
            let response = try await client.send(.put, "/md5/k", headers: [("Content-MD5", test.contentMD5)],
                                                 body: Array("hello".utf8))
            if let code = test.code {
                expectS3Error(response, test.status, code, resource: "/md5/k")
                #expect(!store.has("md5", "k"))
            } else {
                #expect(response.status == .ok)
                #expect(response.headers[.eTag] == "\"5d41402abc4b2a76b9719d911017c592\"")
                #expect(try await store.text("md5", "k") == "hello")
            }
        }
    }

    static let payload = "Hello, Stowage!\n"
    /// CRC32 of `payload`, base64 (zlib.crc32).
    static let crc32 = "Q/rOTQ=="

    /// `payload` in two chunks, then the final chunk and the trailer, as boto3 frames it.
    static func chunkedBody(trailer: String = "x-amz-checksum-crc32:\(crc32)", chunks: [String] = ["Hello, ", "Stowage!\n"],
                            final: Bool = true) -> [UInt8] {
        var body = ""
        for chunk in chunks { body += String(chunk.utf8.count, radix: 16) + "\r\n" + chunk + "\r\n" }
        if final { body += "0\r\n" + trailer + "\r\n\r\n" }
        return Array(body.utf8)
    }

    static func chunkedPut(_ key: String, body: [UInt8], decodedLength: Int = payload.utf8.count) -> S3TestRequest {
        S3TestRequest(method: .put, path: "/chunked/" + key,
                      headers: [("Content-Encoding", "aws-chunked"), ("Content-Type", "text/plain"),
                                ("x-amz-decoded-content-length", String(decodedLength)),
                                ("x-amz-sdk-checksum-algorithm", "CRC32"), ("x-amz-trailer", "x-amz-checksum-crc32")],
                      body: body, payload: .literal("STREAMING-UNSIGNED-PAYLOAD-TRAILER"))
    }

    @Test func awsChunkedTrailerChecksumIsStoredAndReturned() async throws {
        try await withTestServer { client, store in
            try await store.createBucket("chunked")
            let put = try await client.send(Self.chunkedPut("k", body: Self.chunkedBody()))
            #expect(put.status == .ok, "\(put.text)")
            #expect(put.headers[.eTag] == "\"f2fb5dbc4933e71657fd02bb92ca11a4\"")
            #expect(put.headers["x-amz-checksum-crc32"] == Self.crc32)
            #expect(try await store.text("chunked", "k") == Self.payload)

            let head = try await client.send(.head, "/chunked/k", headers: [("x-amz-checksum-mode", "ENABLED")])
            #expect(head.status == .ok)
            #expect(head.headers["x-amz-checksum-crc32"] == Self.crc32)
            #expect(head.headers["x-amz-checksum-type"] == "FULL_OBJECT")
            #expect(head.headers[.contentLength] == String(Self.payload.utf8.count))
            // aws-chunked framed the request; it is no property of the object.
            #expect(head.headers[.contentEncoding] == nil)
            #expect(head.headers[.contentType] == "text/plain")

            let plainHead = try await client.send(.head, "/chunked/k")
            #expect(plainHead.headers["x-amz-checksum-crc32"] == nil)
            let get = try await client.send(.get, "/chunked/k")
            #expect(get.text == Self.payload)
        }
    }

    @Test func awsChunkedTrailerMismatchStoresNothing() async throws {
        try await withTestServer { client, store in
            try await store.createBucket("chunked")
            let put = try await client.send(Self.chunkedPut("k", body: Self.chunkedBody(trailer: "x-amz-checksum-crc32:AAAAAA==")))
            expectS3Error(put, .badRequest, "BadDigest", resource: "/chunked/k")
            #expect(!store.has("chunked", "k"))
        }
    }

    struct ShortCase: Sendable, CustomTestStringConvertible {
        let name: String
        let request: S3TestRequest
        var testDescription: String { name }
    }

    static let shortBodies: [ShortCase] = [
        ShortCase(name: "aws-chunked carrying less than x-amz-decoded-content-length",
                  request: chunkedPut("k", body: chunkedBody(), decodedLength: 32)),
        ShortCase(name: "aws-chunked ending before its final chunk",
                  request: chunkedPut("k", body: chunkedBody(final: false))),
        ShortCase(name: "aws-chunked ending inside a chunk",
                  request: chunkedPut("k", body: Array(chunkedBody().prefix(12)))),
        ShortCase(name: "Content-Length 10, no body",
                  request: S3TestRequest(method: .put, path: "/chunked/k", headers: [("Content-Length", "10")])),
    ]

    @Test(arguments: shortBodies)
    func bodyShorterThanAnnouncedIsIncomplete(_ test: ShortCase) async throws {
        try await withTestServer { client, store in
            try await store.createBucket("chunked")
            let response = try await client.send(test.request)
            expectS3Error(response, .badRequest, "IncompleteBody", resource: "/chunked/k")
            #expect(!store.has("chunked", "k"))
        }
    }
}
