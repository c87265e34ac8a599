import Foundation
import Stowage

/// Fuzz targets (issue 7): each takes arbitrary bytes, must never crash, hang or allocate
/// without bound, and checks the promises its parser makes. `make fuzz` drives them with
/// libFuzzer (`Fuzz/StowageFuzz`); the tests replay the corpus in `Tests/Fuzz/corpus/`.
package enum FuzzTargets {
    package static let names = ["sigv4", "sigv2", "headers", "range", "aws-chunked", "xml-delete", "xml-complete", "records", "policy"]

    package static func run(_ name: String, _ bytes: UnsafeRawBufferPointer) {
        switch name {
        case "sigv4": sigv4(bytes)
        case "sigv2": sigv2(bytes)
        case "headers": headers(bytes)
        case "range": range(bytes)
        case "aws-chunked": awsChunked(bytes)
        case "xml-delete": xmlDelete(bytes)
        case "xml-complete": xmlComplete(bytes)
        case "records": RecordFuzzing.decodeEverything(bytes)
        case "policy": policy(bytes)
        default: preconditionFailure("unknown fuzz target \(name); known: \(names)")
        }
    }

    /// A bucket policy for the bucket `bkt`: parsing never crashes; a policy that parses
    /// decides a few requests (never crashing), decides them the same way twice, and every
    /// Deny it holds for everyone refuses the request it names literally.
    static func policy(_ bytes: UnsafeRawBufferPointer) {
        guard let parsed = try? PolicyParser.parse(Array(bytes), bucket: "bkt") else { return }
        let requests = [BucketPolicy.Principal.anonymous, .user("alice")].flatMap { principal in
            ["s3:GetObject", "s3:PutObject", "s3:ListBucket"].map { action in
                BucketPolicy.Request(principal: principal, action: action, resource: "arn:aws:s3:::bkt/k",
                                     context: ["aws:sourceip": ["127.0.0.1"], "s3:prefix": ["a/"]])
            }
        }
        for request in requests { precondition(parsed.decide(request) == parsed.decide(request)) }
        for statement in parsed.statements where statement.effect == .deny && statement.principals == .everyone
            && !statement.principalNegated && !statement.actionNegated && !statement.resourceNegated && statement.conditions.isEmpty {
            for action in statement.actions where !action.contains("*") && !action.contains("?") {
                for resource in statement.resources where !resource.contains("*") && !resource.contains("?") {
                    let request = BucketPolicy.Request(principal: .anonymous, action: action, resource: resource, context: [:])
                    precondition(parsed.decide(request) == .deny, "a Deny for everyone did not refuse \(action) on \(resource)")
                }
            }
        }
    }

    // AWS's documented example credentials and time, so seeds taken from AWS's signed
    // examples reach the signature comparison and beyond.
    static let exampleAccessKey = "AKIAIOSFODNN7EXAMPLE"
    static let exampleSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    static let exampleNow = Date(timeIntervalSince1970: 1_369_353_600) // 20130524T000000Z

    /// Lines: method, raw path, raw query, then `name: value` headers. The verifier must
    /// answer with a verdict; when it grants, the access key is one it knows.
    static func sigv4(_ bytes: UnsafeRawBufferPointer) {
        guard let granted = try? verifyExample(String(decoding: bytes, as: UTF8.self)) else { return }
        precondition(granted.accessKey == exampleAccessKey)
    }

    /// Verifies a request written as the `sigv4` corpus writes it, with the example
    /// credentials and time; nil when the text has fewer than three lines.
    static func verifyExample(_ text: String) throws(S3ProtocolError) -> SigV4Authentication? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count >= 3 else { return nil }
        let headers = lines.dropFirst(3).compactMap { line -> (name: String, value: String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces))
        }
        let verifier = SigV4Verifier(credentials: S3Credentials([exampleAccessKey: exampleSecret]))
        return try verifier.verify(method: String(lines[0]), rawPath: String(lines[1]), rawQuery: String(lines[2]),
                                   headers: headers, now: exampleNow)
    }

    /// AWS's SigV2 examples are signed at Tue, 27 Mar 2007 19:36:42 GMT; their presigned
    /// URL expires at 1175139620, after it.
    static let exampleSignatureV2Now = Date(timeIntervalSince1970: 1_175_024_202)

    /// Lines: method, raw path, raw query, the bucket the Host names (empty for
    /// path-style), then `name: value` headers. There are one or two canonical resources,
    /// each starting with the host's bucket; the authenticator answers with a verdict, and
    /// a grant is for the key it knows, with no aws-chunked body.
    static func sigv2(_ bytes: UnsafeRawBufferPointer) {
        let text = String(decoding: bytes, as: UTF8.self)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.count >= 4 {
            let hostBucket = lines[3].isEmpty ? nil : String(lines[3])
            let resources = SigV2StringToSign.resources(rawPath: String(lines[1]), hostBucket: hostBucket,
                                                        rawQuery: String(lines[2]))
            precondition((1...2).contains(resources.count), "\(resources)")
            precondition(resources.allSatisfy { $0.hasPrefix(hostBucket.map { "/" + $0 } ?? "") }, "\(resources)")
            let subresources = SigV2StringToSign.subresources(String(lines[2]))
            precondition(subresources.isEmpty || subresources.hasPrefix("?"))
        }
        guard let granted = try? verifySignatureV2Example(text) else { return }
        precondition(granted.accessKey == exampleAccessKey && granted.signing == nil && !granted.payload.isAWSChunked)
    }

    /// Authenticates a request written as the `sigv2` corpus writes it, with the example
    /// credentials at `exampleSignatureV2Now`; nil when the text has fewer than four lines.
    static func verifySignatureV2Example(_ text: String) throws(S3ProtocolError) -> SigV4Authentication? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count >= 4 else { return nil }
        let headers = lines.dropFirst(4).compactMap { line -> (name: String, value: String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces))
        }
        let authenticator = S3Authenticator(credentials: S3Credentials([exampleAccessKey: exampleSecret]))
        return try authenticator.verify(method: String(lines[0]), rawPath: String(lines[1]), rawQuery: String(lines[2]),
                                        headers: headers, hostBucket: lines[3].isEmpty ? nil : String(lines[3]),
                                        now: exampleSignatureV2Now)
    }

    /// The small header parsers: HTTP dates, ETag lists, query strings, the decoded length.
    static func headers(_ bytes: UnsafeRawBufferPointer) {
        let text = String(decoding: bytes, as: UTF8.self)
        if let seconds = HTTPDate.parse(text) {
            // A date that parses formats back to a date that parses to the same instant.
            precondition(HTTPDate.parse(HTTPDate.format(milliseconds: seconds * 1000)) == seconds, "\(text)")
        }
        _ = ETagCondition(header: text)
        for (name, value) in S3Request.parseQuery(text) {
            precondition(!name.isEmpty || !value.isEmpty || text.contains("&") || text.contains("="))
        }
        if let length = try? AWSChunkedDecoder.decodedContentLength(header: text) { precondition(length >= 0) }
    }

    /// Whatever range a header names resolves inside the object, or not at all.
    static func range(_ bytes: UnsafeRawBufferPointer) {
        guard let parsed = Handlers.parseRange(String(decoding: bytes, as: UTF8.self)) else { return }
        for size: UInt64 in [0, 1, 2, 1000, 1 << 40, .max] {
            guard let resolved = parsed.resolve(size: size) else { continue }
            precondition(!resolved.isEmpty && resolved.upperBound <= size, "\(parsed) on \(size) gave \(resolved)")
        }
    }

    /// Byte 0 picks the mode, bytes 1–2 the announced decoded length, byte 3 how the rest is
    /// split into reads. The decoder never emits more than announced, and a body it accepts
    /// has exactly the announced length.
    static func awsChunked(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= 4 else { return }
        let length = Int64(bytes[1]) << 8 | Int64(bytes[2])
        let step = max(1, Int(bytes[3]))
        let mode: AWSChunkedDecoder.Mode
        switch bytes[0] % 3 {
        case 0: mode = .unsignedWithTrailer
        case 1: mode = .signed(exampleContext)
        default: mode = .signedWithTrailer(exampleContext)
        }
        var decoder = AWSChunkedDecoder(mode: mode, decodedContentLength: length,
                                        declaredTrailers: bytes[0] % 2 == 0 ? "x-amz-checksum-crc32c" : nil)
        var emitted: Int64 = 0
        let body = UnsafeRawBufferPointer(rebasing: bytes[4...])
        do {
            var position = 0
            while position < body.count {
                let end = min(body.count, position + step)
                try decoder.feed(UnsafeRawBufferPointer(rebasing: body[position..<end])) { piece in
                    emitted += Int64(piece.count)
                    precondition(emitted <= length, "emitted \(emitted) of \(length)")
                }
                position = end
            }
            _ = try decoder.finish()
            precondition(emitted == length && decoder.decodedByteCount == length)
        } catch {
            return
        }
    }

    static let exampleContext = SigV4SigningContext(
        timestamp: "20130524T000000Z", scope: "20130524/us-east-1/s3/aws4_request",
        seedSignature: "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
        signingKey: SigV4SigningContext.deriveSigningKey(secret: exampleSecret,
                                                         scopeElements: ["20130524", "us-east-1", "s3", "aws4_request"]))

    /// A DeleteObjects body names 1 to 1,000 keys, or is refused as MalformedXML.
    static func xmlDelete(_ bytes: UnsafeRawBufferPointer) {
        do {
            let (_, keys) = try Handlers.deleteRequest(XMLNode.parse(Data(bytes)))
            precondition((1...Limits.maxDeleteKeys).contains(keys.count))
        } catch {
            precondition(error.code == "MalformedXML", "\(error)")
        }
    }

    /// A CompleteMultipartUpload body lists at least one part, or is refused as MalformedXML.
    static func xmlComplete(_ bytes: UnsafeRawBufferPointer) {
        do {
            let parts = try Handlers.completeParts(XMLNode.parse(Data(bytes)))
            precondition(!parts.isEmpty)
        } catch let error as S3Error {
            precondition(error.code == "MalformedXML", "\(error)")
        } catch {
            preconditionFailure("\(error)")
        }
    }
}
