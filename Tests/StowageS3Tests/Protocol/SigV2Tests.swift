import Foundation
import Testing
@testable import StowageS3

/// SigV2 (`SigV2StringToSign`, `SigV2Verifier` through `S3Authenticator`) against vectors
/// an independent signer computed. Unless a row says otherwise, each expected string to
/// sign and signature came from botocore 1.43.11's `HmacV1Auth` / `HmacV1QueryAuth`
/// (`canonical_string`, `add_auth`, with `_get_date` pinned to the row's date) over AWS's
/// example credentials; the first two and the presigned GET are also AWS's own published
/// examples ("Signing and Authenticating REST Requests"), which botocore reproduces.
@Suite struct SigV2Tests {
    static let accessKey = "AKIAIOSFODNN7EXAMPLE"
    static let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    static let authenticator = S3Authenticator(credentials: S3Credentials([accessKey: secret]))
    /// Tue, 27 Mar 2007 19:36:42 GMT, the date of AWS's GET example.
    static let signedAt = Date(timeIntervalSince1970: 1_175_024_202)

    struct Vector: Sendable, CustomTestStringConvertible {
        let testDescription: String
        let method: String
        let rawPath: String
        let rawQuery: String
        let hostBucket: String?
        let headers: [(name: String, value: String)]
        let stringToSign: String
        let signature: String
    }

    static let vectors: [Vector] = [
        Vector(testDescription: "AWS's GET example", method: "GET", rawPath: "/johnsmith/photos/puppy.jpg", rawQuery: "",
               hostBucket: nil, headers: [(name: "Date", value: "Tue, 27 Mar 2007 19:36:42 +0000")],
               stringToSign: "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/johnsmith/photos/puppy.jpg",
               signature: "bWq2s1WEIj+Ydj0vQ697zp+IXMU="),
        Vector(testDescription: "AWS's upload example: x-amz-* lowercased, sorted, trimmed, repeats joined",
               method: "PUT", rawPath: "/static.johnsmith.net/db-backup.dat.gz", rawQuery: "", hostBucket: nil,
               headers: [(name: "Content-Type", value: "application/x-download"),
                         (name: "Content-MD5", value: "4gJE4saaMU4BqNR0kLY+lw=="),
                         (name: "X-Amz-Meta-ReviewedBy", value: "joe@johnsmith.net"),
                         (name: "x-amz-acl", value: "public-read"),
                         (name: "X-Amz-Meta-ReviewedBy", value: " jane@johnsmith.net "),
                         (name: "Date", value: "Tue, 27 Mar 2007 19:36:42 +0000")],
               stringToSign: "PUT\n4gJE4saaMU4BqNR0kLY+lw==\napplication/x-download\nTue, 27 Mar 2007 19:36:42 +0000\n"
                   + "x-amz-acl:public-read\nx-amz-meta-reviewedby:joe@johnsmith.net,jane@johnsmith.net\n"
                   + "/static.johnsmith.net/db-backup.dat.gz",
               signature: "S0YdWqCOP8acjmnH6KZXs+3LOxw="),
        Vector(testDescription: "sub-resources sorted and decoded, other parameters left out, the path as sent",
               method: "GET", rawPath: "/bucket/my%20key/%C3%A9t%C3%A9",
               rawQuery: "x-id=GetObject&versionId=3%2Fv&response-content-disposition=attachment%3B%20filename%3D%22a%20b%22&max-keys=5&acl",
               hostBucket: nil, headers: [(name: "Date", value: "Tue, 27 Mar 2007 19:36:42 +0000")],
               stringToSign: "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n"
                   + "/bucket/my%20key/%C3%A9t%C3%A9?acl&response-content-disposition=attachment; filename=\"a b\"&versionId=3/v",
               signature: "oGVhNLGc6i3SiPD2mdoUxZYEdTI="),
        Vector(testDescription: "UploadPart: partNumber before uploadId", method: "PUT", rawPath: "/bucket/k",
               rawQuery: "uploadId=abc&partNumber=3", hostBucket: nil,
               headers: [(name: "Date", value: "Tue, 27 Mar 2007 19:36:42 +0000")],
               stringToSign: "PUT\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/bucket/k?partNumber=3&uploadId=abc",
               signature: "2dL2SDhhGgoOFC6xyI+odcttBUQ="),
        // HmacV1Auth on the URL alone (no auth_path), which signs the path as sent.
        Vector(testDescription: "DeleteObjects: ?delete and the Content-Type", method: "POST", rawPath: "/bucket",
               rawQuery: "delete", hostBucket: nil,
               headers: [(name: "Content-Type", value: "application/xml"),
                         (name: "Date", value: "Tue, 27 Mar 2007 19:36:42 +0000")],
               stringToSign: "POST\n\napplication/xml\nTue, 27 Mar 2007 19:36:42 +0000\n/bucket?delete",
               signature: "vI7pgt0k/FNFU9ZHAOzBPYqxIo4="),
        Vector(testDescription: "virtual-hosted: the Host's bucket starts the resource", method: "GET", rawPath: "/photos/puppy.jpg",
               rawQuery: "", hostBucket: "johnsmith",
               headers: [(name: "Host", value: "johnsmith.s3.example"), (name: "Date", value: "Tue, 27 Mar 2007 19:36:42 +0000")],
               stringToSign: "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/johnsmith/photos/puppy.jpg",
               signature: "bWq2s1WEIj+Ydj0vQ697zp+IXMU="),
        // HmacV1Auth with auth_path "/bucket/", as botocore's client sets it for a bucket.
        Vector(testDescription: "virtual-hosted bucket root, as AWS documents it (/bucket/)", method: "GET", rawPath: "/",
               rawQuery: "uploads", hostBucket: "bucket",
               headers: [(name: "Date", value: "Tue, 27 Mar 2007 19:36:42 +0000")],
               stringToSign: "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/bucket/?uploads",
               signature: "oxMWL47Mm8ZQCLZZeg9GlVM+bGo="),
        // Not botocore (its HmacV1Auth always signs a Date): AWS's rule that x-amz-date
        // empties the Date line, signed with Python's hmac/hashlib.sha1 over this string.
        Vector(testDescription: "x-amz-date instead of Date", method: "DELETE", rawPath: "/johnsmith/photos/puppy.jpg",
               rawQuery: "", hostBucket: nil,
               headers: [(name: "x-amz-date", value: "Tue, 27 Mar 2007 19:40:26 +0000"),
                         (name: "Date", value: "Tue, 27 Mar 2007 19:40:27 +0000")],
               stringToSign: "DELETE\n\n\n\nx-amz-date:Tue, 27 Mar 2007 19:40:26 +0000\n/johnsmith/photos/puppy.jpg",
               signature: "s7vmtrYUPlvtWc/KH3XXs+aBpkI="),
    ]

    @Test(arguments: vectors)
    func stringToSignAndSignature(vector: Vector) throws {
        let headers = SigV4Headers(vector.headers)
        let date = headers.first("x-amz-date") == nil ? headers.first("date") ?? "" : ""
        let resources = SigV2StringToSign.resources(rawPath: vector.rawPath, hostBucket: vector.hostBucket,
                                                    rawQuery: vector.rawQuery)
        let stringToSign = SigV2StringToSign.build(
            method: vector.method, contentMD5: headers.first("content-md5") ?? "",
            contentType: headers.first("content-type") ?? "", date: date,
            amzHeaders: SigV2StringToSign.amzHeaders(vector.headers), resource: resources[0])
        #expect(stringToSign == vector.stringToSign)
        #expect(SigV2Verifier.signature(secret: Self.secret, of: stringToSign) == vector.signature)

        let granted = try Self.verify(vector, authorization: "AWS \(Self.accessKey):\(vector.signature)")
        #expect(granted.accessKey == Self.accessKey)
        #expect(granted.payload == .unsigned && granted.signing == nil && !granted.isPresigned)
    }

    /// A bucket's own resource has two readings, `/bucket/` and `/bucket`: boto3's client
    /// signs `/bkt/` (its `auth_path`) while it sends the path `/bkt` (botocore 1.43.11's
    /// debug log of a ListObjectsV2: `StringToSign: GET\n\n\n<date>\n/bkt/`, URL
    /// `/bkt?list-type=2…`), and AWS documents `/bucket/` for a virtual-hosted request.
    /// Both are accepted, path-style and virtual-hosted; an object's path has one reading.
    @Test func bucketResourceHasTwoReadings() throws {
        let date = "Tue, 27 Mar 2007 19:36:42 +0000"
        let sent: [(path: String, hostBucket: String?)] = [("/bucket", nil), ("/bucket/", nil), ("/", "bucket")]
        for (path, hostBucket) in sent {
            for signed in ["/bucket/?uploads", "/bucket?uploads"] {
                let signature = SigV2Verifier.signature(secret: Self.secret, of: "GET\n\n\n\(date)\n\(signed)")
                let granted = try Self.authenticator.verify(
                    method: "GET", rawPath: path, rawQuery: "uploads",
                    headers: [Self.date, Self.authorization("AWS \(Self.accessKey):\(signature)")],
                    hostBucket: hostBucket, now: Self.signedAt)
                #expect(granted.accessKey == Self.accessKey, "\(path) signed as \(signed)")
            }
        }
        #expect(SigV2StringToSign.resources(rawPath: "/bucket/key", hostBucket: nil, rawQuery: "") == ["/bucket/key"])
        #expect(SigV2StringToSign.resources(rawPath: "/", hostBucket: nil, rawQuery: "") == ["/"])
        let keySignedWithSlash = SigV2Verifier.signature(secret: Self.secret, of: "GET\n\n\n\(date)\n/bucket/key/")
        #expect(throws: S3ProtocolError.self) {
            try Self.authenticator.verify(method: "GET", rawPath: "/bucket/key", rawQuery: "",
                                          headers: [Self.date, Self.authorization("AWS \(Self.accessKey):\(keySignedWithSlash)")],
                                          hostBucket: nil, now: Self.signedAt)
        }
    }

    /// AWS's presigned GET example (and botocore's `HmacV1QueryAuth` with Expires pinned).
    @Test func presignedGet() throws {
        let query = "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D&Expires=1175139620"
        let granted = try Self.authenticator.verify(method: "GET", rawPath: "/johnsmith/photos/puppy.jpg", rawQuery: query,
                                                    headers: [(name: "Host", value: "s3.example")], hostBucket: nil,
                                                    now: Self.signedAt)
        #expect(granted.accessKey == Self.accessKey && granted.isPresigned && granted.payload == .unsigned)
        let expired = Date(timeIntervalSince1970: 1_175_139_621)
        #expect(throws: S3ProtocolError(.accessDenied, "Request has expired")) {
            try Self.authenticator.verify(method: "GET", rawPath: "/johnsmith/photos/puppy.jpg", rawQuery: query,
                                          headers: [], hostBucket: nil, now: expired)
        }
    }

    /// botocore's `HmacV1QueryAuth` moves the `x-amz-*` headers it signed into the URL;
    /// they are signed from there. (botocore: `…&x-amz-acl=public-read&content-type=text%2Fplain&Expires=1175139620`;
    /// the Content-Type it signed must be sent as the header.)
    @Test func presignedPutWithAmzParameters() throws {
        let query = "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=YozKSR85PkesQPtw6IoWnsl2jcU%3D"
            + "&x-amz-acl=public-read&content-type=text%2Fplain&Expires=1175139620"
        let headers = [(name: "Content-Type", value: "text/plain")]
        let granted = try Self.authenticator.verify(method: "PUT", rawPath: "/bucket/upload%20here.txt", rawQuery: query,
                                                    headers: headers, hostBucket: nil, now: Self.signedAt)
        #expect(granted.isPresigned)
        #expect(throws: S3ProtocolError.self) {
            try Self.authenticator.verify(method: "PUT", rawPath: "/bucket/upload%20here.txt",
                                          rawQuery: query.replacingOccurrences(of: "public-read", with: "public-read-write"),
                                          headers: headers, hostBucket: nil, now: Self.signedAt)
        }
    }

    struct Refusal: Sendable, CustomTestStringConvertible {
        let testDescription: String
        let rawQuery: String
        let headers: [(name: String, value: String)]
        let now: Date
        let code: S3ProtocolError.Code

        init(_ description: String, query: String = "", headers: [(name: String, value: String)],
             now: Date = SigV2Tests.signedAt, _ code: S3ProtocolError.Code) {
            self.testDescription = description
            self.rawQuery = query
            self.headers = headers
            self.now = now
            self.code = code
        }
    }

    static let date = (name: "Date", value: "Tue, 27 Mar 2007 19:36:42 +0000")
    static func authorization(_ value: String) -> (name: String, value: String) { (name: "Authorization", value: value) }
    static let valid = "AWS AKIAIOSFODNN7EXAMPLE:bWq2s1WEIj+Ydj0vQ697zp+IXMU="
    static let presigned = "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D&Expires=1175139620"

    /// Every refusal, with the code S3 answers (and so its status).
    static let refusals: [Refusal] = [
        Refusal("another signature", headers: [date, authorization("AWS AKIAIOSFODNN7EXAMPLE:bWq2s1WEIj+Ydj0vQ697zp+IXMV=")],
                .signatureDoesNotMatch),
        Refusal("a truncated signature", headers: [date, authorization(String(valid.dropLast(4)))], .signatureDoesNotMatch),
        Refusal("the signature of another date", headers: [(name: "Date", value: "Tue, 27 Mar 2007 19:36:43 +0000"),
                                                          authorization(valid)], .signatureDoesNotMatch),
        Refusal("an x-amz-* header added", headers: [date, (name: "x-amz-copy-source", value: "/other/key"), authorization(valid)],
                .signatureDoesNotMatch),
        Refusal("a sub-resource added", query: "acl", headers: [date, authorization(valid)], .signatureDoesNotMatch),
        Refusal("an unknown key", headers: [date, authorization("AWS AKIANOTKNOWN:bWq2s1WEIj+Ydj0vQ697zp+IXMU=")],
                .invalidAccessKeyId),
        Refusal("no colon", headers: [date, authorization("AWS AKIAIOSFODNN7EXAMPLE")], .invalidArgument),
        Refusal("no signature", headers: [date, authorization("AWS AKIAIOSFODNN7EXAMPLE:")], .invalidArgument),
        Refusal("no key", headers: [date, authorization("AWS :bWq2s1WEIj+Ydj0vQ697zp+IXMU=")], .invalidArgument),
        Refusal("no date", headers: [authorization(valid)], .accessDenied),
        Refusal("a date that is no date", headers: [(name: "Date", value: "yesterday"), authorization(valid)], .accessDenied),
        Refusal("15 minutes and a second late", headers: [date, authorization(valid)],
                now: signedAt.addingTimeInterval(15 * 60 + 1), .requestTimeTooSkewed),
        Refusal("15 minutes and a second early", headers: [date, authorization(valid)],
                now: signedAt.addingTimeInterval(-15 * 60 - 1), .requestTimeTooSkewed),
        Refusal("header and query together", query: presigned, headers: [date, authorization(valid)], .invalidArgument),
        Refusal("aws-chunked under SigV2", headers: [date, (name: "Content-Encoding", value: "aws-chunked"), authorization(valid)],
                .invalidRequest),
        Refusal("a STREAMING payload under SigV2",
                headers: [date, (name: "x-amz-content-sha256", value: "STREAMING-UNSIGNED-PAYLOAD-TRAILER"), authorization(valid)],
                .invalidRequest),
        Refusal("query without Expires", query: "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=x", headers: [], .accessDenied),
        Refusal("query without the key", query: "Signature=x&Expires=1175139620", headers: [], .accessDenied),
        Refusal("query with two signatures", query: presigned + "&Signature=x", headers: [], .accessDenied),
        Refusal("Expires not a number", query: "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=x&Expires=soon", headers: [],
                .accessDenied),
        Refusal("query expired", query: presigned, headers: [], now: Date(timeIntervalSince1970: 1_175_139_621), .accessDenied),
        Refusal("query signature altered", query: presigned.replacingOccurrences(of: "Npg", with: "Nph"), headers: [],
                .signatureDoesNotMatch),
        Refusal("query with an unknown key", query: presigned.replacingOccurrences(of: "AKIAIOSFODNN7EXAMPLE", with: "AKIAOTHER"),
                headers: [], .invalidAccessKeyId),
    ]

    @Test(arguments: refusals)
    func refused(refusal: Refusal) {
        do {
            _ = try Self.authenticator.verify(method: "GET", rawPath: "/johnsmith/photos/puppy.jpg", rawQuery: refusal.rawQuery,
                                              headers: refusal.headers, hostBucket: nil, now: refusal.now)
            Issue.record("accepted")
        } catch {
            #expect(error.code == refusal.code, "\(error)")
        }
    }

    /// The edges of the clock: 15 minutes either way is still accepted.
    @Test func skewAtTheLimitIsAccepted() throws {
        for offset in [-15.0 * 60, 15.0 * 60] {
            let granted = try Self.authenticator.verify(
                method: "GET", rawPath: "/johnsmith/photos/puppy.jpg", rawQuery: "",
                headers: [Self.date, Self.authorization(Self.valid)], hostBucket: nil,
                now: Self.signedAt.addingTimeInterval(offset))
            #expect(granted.accessKey == Self.accessKey)
        }
    }

    /// A signed SHA-256 in `x-amz-content-sha256` (an x-amz-* header, so signed) is
    /// kept for the body's check; UNSIGNED-PAYLOAD is unsigned.
    @Test func contentSHA256UnderSigV2() throws {
        for (value, mode) in [("UNSIGNED-PAYLOAD", S3PayloadMode.unsigned),
                              (String(repeating: "ab", count: 32), .sha256(hex: String(repeating: "ab", count: 32)))] {
            let headers = [Self.date, (name: "x-amz-content-sha256", value: value)]
            let stringToSign = "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\nx-amz-content-sha256:\(value)\n/johnsmith/photos/puppy.jpg"
            let signature = SigV2Verifier.signature(secret: Self.secret, of: stringToSign)
            let granted = try Self.authenticator.verify(
                method: "GET", rawPath: "/johnsmith/photos/puppy.jpg", rawQuery: "",
                headers: headers + [Self.authorization("AWS \(Self.accessKey):\(signature)")], hostBucket: nil, now: Self.signedAt)
            #expect(granted.payload == mode)
        }
    }

    /// SigV4 requests still go to SigV4's verifier, unchanged: its own refusal of a SigV2
    /// header sent with X-Amz-Algorithm included.
    @Test func sigV4StaysSigV4() {
        #expect(throws: S3ProtocolError.self) {
            try Self.authenticator.verify(method: "GET", rawPath: "/johnsmith/photos/puppy.jpg",
                                          rawQuery: "X-Amz-Algorithm=AWS4-HMAC-SHA256",
                                          headers: [Self.date, Self.authorization(Self.valid)], hostBucket: nil, now: Self.signedAt)
        }
        do {
            _ = try Self.authenticator.verify(method: "GET", rawPath: "/", rawQuery: "", headers: [Self.date],
                                              hostBucket: nil, now: Self.signedAt)
            Issue.record("an anonymous request was accepted")
        } catch {
            #expect(error.code == .accessDenied)
        }
    }

    static func verify(_ vector: Vector, authorization: String) throws(S3ProtocolError) -> SigV4Authentication {
        try authenticator.verify(method: vector.method, rawPath: vector.rawPath, rawQuery: vector.rawQuery,
                                 headers: vector.headers + [(name: "Authorization", value: authorization)],
                                 hostBucket: vector.hostBucket, now: signedAt)
    }
}
