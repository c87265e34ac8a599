import Foundation
import Testing
@testable import StowageS3

/// The canonical forms of SigV4, rule by rule (AWS "Create a canonical request").
@Suite struct SigV4CanonicalTests {
    @Test(arguments: [
        ("", "/"),
        ("/", "/"),
        ("/bucket/key", "/bucket/key"),
        ("/test%24file.text", "/test%24file.text"),
        ("/test$file.text", "/test%24file.text"),
        ("/a%20b", "/a%20b"),
        ("/a b", "/a%20b"),
        ("/a+b", "/a%2Bb"),
        ("/a%2Bb", "/a%2Bb"),
        ("/a%2bb", "/a%2Bb"),
        ("/%7Etilde", "/~tilde"),
        ("/~tilde", "/~tilde"),
        ("/caf%C3%A9", "/caf%C3%A9"),
        ("/café", "/caf%C3%A9"),
        ("/dir/%2Fslash", "/dir/%2Fslash"),
        ("/dir//double/", "/dir//double/"),
        ("/100%", "/100%25"),
        ("/%zz", "/%25zz"),
        ("/(a)!*'", "/%28a%29%21%2A%27"),
    ])
    func canonicalURI(_ rawPath: String, _ canonical: String) {
        #expect(SigV4CanonicalRequest.uri(rawPath: rawPath) == canonical)
    }

    @Test(arguments: [
        ("", ""),
        ("lifecycle", "lifecycle="),
        ("acl=", "acl="),
        ("prefix=J&max-keys=2", "max-keys=2&prefix=J"),
        ("a=2&a=1&b=0", "a=1&a=2&b=0"),
        ("prefix=a+b", "prefix=a%20b"),
        ("prefix=a%2Bb", "prefix=a%2Bb"),
        ("prefix=a%20b", "prefix=a%20b"),
        ("prefix=%7E~", "prefix=~~"),
        ("prefix=caf%c3%a9", "prefix=caf%C3%A9"),
        ("prefix=dir/", "prefix=dir%2F"),
        ("x=1&&y=2&", "x=1&y=2"),
        ("k=v=w", "k=v%3Dw"),
        ("Z=1&a=1", "Z=1&a=1"),
        // Sorted by the encoded bytes, not the sent ones: `/` (0x2F) comes after `.` (0x2E)
        // as sent but before it encoded (`%2F`, and `%` is 0x25); a name that is a prefix
        // of another sorts first; equal names sort by their encoded values.
        ("a.b=1&a/b=2", "a%2Fb=2&a.b=1"),
        ("ab=1&a=2", "a=2&ab=1"),
        ("k=.&k=/&k=", "k=&k=%2F&k=."),
        ("k=%C3%A9&k=~", "k=%C3%A9&k=~"),
    ])
    func canonicalQuery(_ rawQuery: String, _ canonical: String) {
        #expect(SigV4CanonicalRequest.query(SigV4Query(rawQuery), excludingSignature: false) == canonical)
    }

    @Test func presignedQueryLeavesOutItsSignature() {
        let query = SigV4Query("X-Amz-Signature=abc&b=1&X-Amz-Date=20130524T000000Z")
        #expect(SigV4CanonicalRequest.query(query, excludingSignature: true) == "X-Amz-Date=20130524T000000Z&b=1")
        #expect(SigV4CanonicalRequest.query(query, excludingSignature: false)
            == "X-Amz-Date=20130524T000000Z&X-Amz-Signature=abc&b=1")
    }

    @Test(arguments: [
        ("value", "value"),
        ("  padded  ", "padded"),
        ("a   b    c", "a b c"),
        ("\ttab\t inside ", "tab inside"),
        ("", ""),
        ("   ", ""),
        ("caf\u{e9}  au\tlait ", "caf\u{e9} au lait"),
        ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    ])
    func trimAll(_ value: String, _ trimmed: String) {
        #expect(SigV4Encoding.trimAll(value) == trimmed)
    }

    @Test func repeatedHeadersJoinWithCommas() {
        let headers = SigV4Headers([(name: "X-Amz-Meta-A", value: " one "), (name: "host", value: "h"),
                                    (name: "x-amz-meta-a", value: "two  words")])
        #expect(SigV4CanonicalRequest.headers(headers, signed: ["host", "x-amz-meta-a", "x-amz-missing"])
            == "host:h\nx-amz-meta-a:one,two words\nx-amz-missing:\n")
    }

    @Test func constantTimeEqual() {
        #expect(SigV4Encoding.constantTimeEqual("abc", "abc"))
        #expect(!SigV4Encoding.constantTimeEqual("abc", "abd"))
        #expect(!SigV4Encoding.constantTimeEqual("abc", "abcd"))
    }
}

/// The `Authorization` header's three fields, as clients separate them.
@Suite struct SigV4AuthorizationHeaderTests {
    @Test(arguments: [
        "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc",
        "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;x-amz-date,Signature=abc",
        "AWS4-HMAC-SHA256\tSignature=abc ,, SignedHeaders=host;x-amz-date ,Credential=AK/20130524/us-east-1/s3/aws4_request ,",
    ])
    func fieldsInAnyOrderAndSpacing(_ value: String) throws {
        let header = try SigV4AuthorizationHeader(value)
        #expect(header.credential == "AK/20130524/us-east-1/s3/aws4_request")
        #expect(header.signedHeaders == "host;x-amz-date")
        #expect(header.signature == "abc")
    }

    @Test func nonASCIIValuesKeepTheirBytes() throws {
        let header = try SigV4AuthorizationHeader("AWS4-HMAC-SHA256 Credential=cl\u{e9}/d, SignedHeaders=host, Signature=s, Other=\u{1F600}")
        #expect(header.credential == "cl\u{e9}/d")
    }

    @Test(arguments: [
        ("AWS4-HMAC-SHA256Credential=a, SignedHeaders=host, Signature=s", "must start with AWS4-HMAC-SHA256"),
        ("AWS4-HMAC-SHA256", "must start with AWS4-HMAC-SHA256"),
        ("AWS4-HMAC-SHA256 Credential=a, SignedHeaders=host", "needs Credential, SignedHeaders and Signature"),
        ("AWS4-HMAC-SHA256 Credential=a, Extra stuff , SignedHeaders=host, Signature=s", "field 'Extra stuff' has no '='"),
        ("AWS4-HMAC-SHA256 Credential=a, SignedHeaders=host, Signature=s, Credential=b", "repeats Credential"),
        ("AWS4-HMAC-SHA256 Foo=1, Credential=a, SignedHeaders=host, Signature=s, Foo=2", "repeats Foo"),
    ])
    func malformed(_ value: String, _ message: String) {
        #expect {
            _ = try SigV4AuthorizationHeader(value)
        } throws: { error in
            guard let error = error as? S3ProtocolError else { return false }
            return error.code == .authorizationHeaderMalformed && error.message.contains(message)
        }
    }

    @Test func signatureVersion2IsNotSupported() {
        #expect {
            _ = try SigV4AuthorizationHeader("AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=")
        } throws: { error in
            (error as? S3ProtocolError)?.code == SigV4Verifier.unsupportedMechanism.code
        }
    }
}

/// Timestamps: `X-Amz-Date` and the `Date` header.
@Suite struct SigV4TimestampTests {
    @Test(arguments: [
        ("20130524T000000Z", 1_369_353_600),
        ("19700101T000000Z", 0),
        ("20240229T235959Z", 1_709_251_199),
        ("20991231T120000Z", 4_102_401_600),
        ("09990101T000000Z", -30_641_760_000),
    ] as [(String, Int64)])
    func basicISO8601RoundTrips(_ text: String, _ seconds: Int64) throws {
        let timestamp = try #require(SigV4Timestamp(basicISO8601: text))
        #expect(timestamp.secondsSince1970 == seconds)
        #expect(timestamp.basicISO8601 == text)
        // The parsed text is kept as the formatted form: it must be what formatting writes.
        #expect(SigV4Timestamp(secondsSince1970: seconds).basicISO8601 == text)
        #expect(timestamp.day == String(text.prefix(8)))
    }

    @Test(arguments: ["", "20130524", "20130524T000000", "20130524T000000z", "2013-05-24T00:00:00Z",
                      "20130230T000000Z", "20230229T000000Z", "20131324T000000Z", "20130524T240000Z",
                      "20130524T006000Z", "2013052AT000000Z", "20130524T000000ZZ", "+0130524T000000Z"])
    func invalidBasicISO8601(_ text: String) {
        #expect(SigV4Timestamp(basicISO8601: text) == nil)
    }

    @Test(arguments: ["Fri, 24 May 2013 00:00:00 GMT", "Fri, 24 May 2013 00:00:00 -0000",
                      "Fri, 24 May 2013 00:00:00 UTC", "Fri,  24 May 2013 00:00:00 GMT"])
    func rfc1123(_ text: String) throws {
        #expect(try #require(SigV4Timestamp(rfc1123: text)).basicISO8601 == "20130524T000000Z")
    }

    @Test(arguments: ["", "Fri, 24 May 2013 00:00:00", "Fri, 24 Mai 2013 00:00:00 GMT",
                      "Fri, 24 May 2013 00:00:00 +0200", "Fri 24 May 2013 00:00:00 GMT",
                      "Fri, 32 May 2013 00:00:00 GMT", "Fri, 24 May 2013 0:00:00 GMT", "Friday, 24-May-13 00:00:00 GMT"])
    func invalidRFC1123(_ text: String) {
        #expect(SigV4Timestamp(rfc1123: text) == nil)
    }
}
