import Glibc
import Stowage
import Testing
@testable import StowageS3

/// The query as the S3 layer reads it, and the access key a request claims before it is
/// verified: both are read on every presigned request, in one pass over the bytes.
@Suite struct QueryParsingTests {
    @Test func pairsInOrderDecodedWithPlusAsSpace() {
        let pairs = S3Request.parseQuery("a=1&b=&c&&d=x%2Fy+z&e=%zz&=v&f=a=b&g%2Bh+i=%C3%A9&j=%FF&k=50%")
        #expect(pairs.map(\.name) == ["a", "b", "c", "d", "e", "", "f", "g+h i", "j", "k"])
        // A part that does not decode (a stray `%`, bytes that are not UTF-8) is kept as sent.
        #expect(pairs.map(\.value) == ["1", "", "", "x/y z", "%zz", "v", "a=b", "é", "%FF", "50%"])
        #expect(S3Request.parseQuery("").isEmpty)
        #expect(S3Request.parseQuery("&&").isEmpty)
        #expect(S3Request.parseQuery("uploads").map(\.name) == ["uploads"])
    }

    @Test func percentDecodingLeavesPlusAloneUnlessAsked() {
        #expect(PercentDecoding.string("a+b%20c") == "a+b c")
        #expect(PercentDecoding.string(Substring("a+b%20c"), plusIsSpace: true) == "a b c")
        #expect(PercentDecoding.string(Substring("plain-text_1.2~"), plusIsSpace: true) == "plain-text_1.2~")
        #expect(PercentDecoding.bytes("%4") == nil)
        #expect(PercentDecoding.bytes("%4g") == nil)
        #expect(PercentDecoding.bytes("%41%62") == [0x41, 0x62])
        #expect(PercentDecoding.string("%FF") == nil)
        // A substring in the middle of a longer string decodes only its own bytes.
        let text = "xx%41+yy"
        let middle = text[text.index(text.startIndex, offsetBy: 2)..<text.index(text.startIndex, offsetBy: 7)]
        #expect(PercentDecoding.string(middle, plusIsSpace: true) == "A y")
    }

    /// `Last-Modified` is written by hand; it must read as `strftime` writes IMF-fixdate.
    @Test func httpDateAsStrftimeWritesIt() {
        func strftimeFormat(_ seconds: Int64) -> String {
            var time = time_t(seconds)
            var parts = tm()
            gmtime_r(&time, &parts)
            var buffer = [CChar](repeating: 0, count: 64)
            let count = strftime(&buffer, buffer.count, "%a, %d %b %Y %H:%M:%S GMT", &parts)
            return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        #expect(HTTPDate.format(milliseconds: 1_445_412_480_999) == "Wed, 21 Oct 2015 07:28:00 GMT")
        #expect(HTTPDate.format(milliseconds: 0) == "Thu, 01 Jan 1970 00:00:00 GMT")
        // Every day of the week and month, single-digit fields, leap days, far years.
        var seconds: Int64 = 0
        while seconds < 8_000_000_000 {
            #expect(HTTPDate.format(milliseconds: seconds * 1000 + 1) == strftimeFormat(seconds))
            seconds += 86_400 * 7 + 3_601 + 61
        }
        #expect(HTTPDate.format(milliseconds: 253_402_300_799_000) == "Fri, 31 Dec 9999 23:59:59 GMT")
    }

    @Test func claimedAccessKeyFromHeaderOrQuery() {
        #expect(AccessKeyCache.claimedAccessKey(
            authorization: "AWS4-HMAC-SHA256 Credential=AKHEADER/20261204/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0",
            query: "X-Amz-Credential=AKQUERY%2Fx") == "AKHEADER")
        #expect(AccessKeyCache.claimedAccessKey(authorization: "AWS AKV2:c2lnbmF0dXJl", query: "") == "AKV2")
        #expect(AccessKeyCache.claimedAccessKey(
            authorization: nil,
            query: "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2B1%2F20261204%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=x")
            == "AK+1")
        #expect(AccessKeyCache.claimedAccessKey(authorization: nil, query: "Expires=1&AWSAccessKeyId=AKV2Q&Signature=x") == "AKV2Q")
        // Only a parameter of that exact name: not a name that ends with it, nor a value.
        #expect(AccessKeyCache.claimedAccessKey(authorization: nil, query: "aX-Amz-Credential=AK1&b=X-Amz-Credential=AK2") == nil)
        #expect(AccessKeyCache.claimedAccessKey(authorization: nil, query: "prefix=a") == nil)
        #expect(AccessKeyCache.claimedAccessKey(authorization: nil, query: "") == nil)
    }
}
